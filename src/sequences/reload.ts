/**
 * Live edits while `drip start` runs: when a file under sequences/ or emails/ changes, every
 * sequence is loaded afresh and validated exactly as `drip validate` does (rendered for a
 * sample subscriber). Only a fully valid set replaces the running one; otherwise each problem
 * is logged with its file and path, and the scheduler keeps the last good definitions.
 */
import { type FSWatcher, watch } from "node:fs";
import { type AutomationSet, loadAutomationSet } from "../automations/load.ts";
import type { Engine } from "../engine/engine.ts";
import { checkSequence } from "./check.ts";
import { formatIssue, type SequenceIssue } from "./errors.ts";
import { type Importer, freshImport, listSequenceFiles, loadSequenceFiles } from "./load.ts";
import type { Sequence } from "./types.ts";

export interface ReloadOptions {
  engine: Engine;
  sequencesDir: string;
  emailsDir: string;
  log: (line: string) => void;
  importer?: Importer;
  /** Which of the valid definitions run (drip start applies or holds live edits here); all of them when absent. */
  select?: (sequences: Sequence[]) => Promise<Sequence[]>;
  /** Where the automations and forms beside the sequences go once the whole set is valid. */
  automations?: { set(set: Pick<AutomationSet, "automations" | "forms">): void };
  /** The declared topic ids (newsletters/topics.ts) that automations and forms may name. */
  topics?: ReadonlySet<string>;
}

/** Load, validate and (only if all is well) swap in the sequences. Returns the problems found. */
export async function reloadSequences(o: ReloadOptions): Promise<SequenceIssue[]> {
  const loaded = await loadSequenceFiles(listSequenceFiles(o.sequencesDir), process.cwd(), o.importer ?? freshImport);
  const issues = [...loaded.issues];
  for (const { file, sequence } of loaded.sequences) issues.push(...(await checkSequence(sequence, o.emailsDir)).map((i) => ({ ...i, file })));
  const automations = await loadAutomationSet(o.sequencesDir, loaded.sequences, {
    importer: o.importer ?? freshImport,
    ...(o.topics ? { topics: o.topics } : {}),
  });
  issues.push(...automations.issues);
  if (issues.length > 0) {
    o.log(
      `sequences not reloaded (${issues.length} problem${issues.length === 1 ? "" : "s"}); the last good definitions keep running:\n${issues.map(formatIssue).join("\n")}`,
    );
    return issues;
  }
  const valid = loaded.sequences.map((s) => s.sequence);
  o.engine.setSequences(o.select ? await o.select(valid) : valid);
  o.automations?.set(automations);
  o.log(`sequences reloaded: ${loaded.sequences.map((s) => s.sequence.id).join(", ")}`);
  return [];
}

/** Watch both folders; a burst of saves triggers one reload. Returns a function that stops watching. */
export function watchSequences(o: ReloadOptions, debounceMs = 300): () => void {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> = Promise.resolve();
  const trigger = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(() => reloadSequences(o)).catch((err) => o.log(`sequence reload failed: ${(err as Error).message}`));
    }, debounceMs);
  };
  const watchers: FSWatcher[] = [watch(o.sequencesDir, trigger), watch(o.emailsDir, { recursive: true }, trigger)];
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
