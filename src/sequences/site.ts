/**
 * `sequences/index.ts`: which sequence is the default (the public signup page, and commands
 * run without --sequence) and the clinic details the pages need even when that sequence
 * cannot load. The default is named, never guessed from file names: adding a file never
 * changes it. DRIP_DEFAULT_SEQUENCE overrides the file.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { formatPath } from "./errors.ts";
import { type Importer, loadErrorDetail, nativeImport } from "./load.ts";

export interface SequencesIndex {
  /** The id of the default sequence. */
  defaultSequence: string;
  /** The clinic's name, shown on the pages when the default sequence cannot load. */
  organization?: string;
  /** The zone the signup form offers first when the default sequence cannot load. */
  defaultTimezone?: string;
}

const indexSchema = z.object({
  defaultSequence: z.string().trim().min(1, { error: "defaultSequence must name a sequence id" }),
  organization: z.string().trim().min(1).optional(),
  defaultTimezone: z.string().trim().min(1).optional(),
});

export const INDEX_FILE = "index.ts";

/** What sequences/index.ts says, or why it cannot be read; null when there is none. */
export async function loadSequencesIndex(dir: string, importer: Importer = nativeImport): Promise<{ index: SequencesIndex | null; problem: string | null }> {
  const file = join(dir, INDEX_FILE);
  if (!existsSync(file)) return { index: null, problem: null };
  let mod: Record<string, unknown>;
  try {
    mod = await importer(file);
  } catch (err) {
    return { index: null, problem: `sequences/${INDEX_FILE} could not be loaded: ${loadErrorDetail(err, process.cwd())}` };
  }
  const parsed = indexSchema.safeParse(mod.default);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { index: null, problem: `sequences/${INDEX_FILE}: ${formatPath(issue.path) || "export default"}: ${issue.message}` };
  }
  return { index: parsed.data, problem: null };
}
