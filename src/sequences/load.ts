/**
 * Loading sequence files. Each file in sequences/ is imported on its own, so one broken
 * file is reported with its name and does not hide (or take down) the others: the
 * scheduler keeps running every sequence that still validates.
 */
import { readdirSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SequenceError, type SequenceIssue } from "./errors.ts";
import type { Sequence } from "./types.ts";

export interface LoadResult {
  sequences: { file: string; sequence: Sequence }[];
  issues: SequenceIssue[];
}

/** The sequence files under a folder: *.ts, not starting with "_" (shared helpers), not tests. */
export function listSequenceFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.tsx?$/.test(f) && !f.startsWith("_") && !/\.(test|d)\.tsx?$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

const isSequence = (v: unknown): v is Sequence => typeof v === "object" && v !== null && (v as { __validated?: unknown }).__validated === true;

export async function loadSequenceFiles(files: readonly string[], cwd = process.cwd()): Promise<LoadResult> {
  const result: LoadResult = { sequences: [], issues: [] };
  const ids = new Map<string, string>();
  for (const file of files) {
    const shown = relative(cwd, resolve(file)) || basename(file);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof SequenceError) {
        result.issues.push(...err.issues.map((i) => ({ ...i, file: shown })));
      } else {
        const msg = (err as Error).message?.split("\n")[0] ?? String(err);
        result.issues.push({ file: shown, path: "", message: `the file could not be loaded (${msg}): fix the import or syntax error it names` });
      }
      continue;
    }
    const seq = mod.default;
    if (!isSequence(seq)) {
      result.issues.push({ file: shown, path: "", message: "the file must `export default defineSequence({...})`" });
      continue;
    }
    const other = ids.get(seq.id);
    if (other) {
      result.issues.push({ file: shown, path: "id", message: `sequence id "${seq.id}" is already used by ${other}: sequence ids must be unique` });
      continue;
    }
    ids.set(seq.id, shown);
    result.sequences.push({ file: shown, sequence: seq });
  }
  return result;
}
