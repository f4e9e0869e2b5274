/** Shared by the staff commands: load every sequence (or the named files), or fail clearly. */
import { formatIssue } from "../../sequences/errors.ts";
import { type Importer, listSequenceFiles, loadSequenceFiles, type LoadResult } from "../../sequences/load.ts";
import type { Sequence } from "../../sequences/types.ts";
import { contentDirs } from "./content-dirs.ts";
import { type CliIO, UsageError, WorkError } from "../io.ts";

export async function loadOrFail(io: CliIO, files?: readonly string[], importer?: Importer): Promise<LoadResult> {
  const result = await loadSequenceFiles(files?.length ? files : listSequenceFiles(contentDirs(io).sequencesDir), io.cwd, importer);
  if (result.issues.length > 0) {
    throw new WorkError(`Some sequences are invalid:\n${result.issues.map(formatIssue).join("\n")}\nRun \`drip validate\` for the full report.`);
  }
  return result;
}

export async function findSequence(io: CliIO, id: string): Promise<Sequence> {
  const { sequences } = await loadOrFail(io);
  const found = sequences.find((s) => s.sequence.id === id);
  if (!found) throw new UsageError(`no sequence "${id}": known sequences are ${sequences.map((s) => s.sequence.id).join(", ")} (see \`drip list\`)`);
  return found.sequence;
}

export function describeSchedule(s: Sequence["steps"][number]["schedule"]): string {
  return s.kind === "immediately" ? "immediately" : `day ${s.day} at ${s.at}`;
}
