/**
 * Loading what sits beside the sequences: `sequences/automations.ts` (defineAutomations) and
 * `sequences/forms.ts` (defineForms), both optional, then checking the whole set against the
 * loaded sequences: references, ids, and cycles. `drip validate`, `drip start` and the live
 * reload use this one function, so they agree on what is valid.
 */
import { existsSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { type FormsFile, builtInForms, formTopics } from "../forms/define.ts";
import { SequenceError, type SequenceIssue } from "../sequences/errors.ts";
import { type Importer, nativeImport } from "../sequences/load.ts";
import type { Sequence } from "../sequences/types.ts";
import { checkAutomations, compileAutomations } from "./compile.ts";
import type { AutomationFile } from "./define.ts";
import type { Automation } from "./types.ts";

export interface AutomationSet {
  automations: Automation[];
  forms: FormsFile;
  issues: SequenceIssue[];
}

const isSequenceError = (e: unknown): e is SequenceError =>
  e instanceof SequenceError || (e instanceof Error && e.name === "SequenceError" && Array.isArray((e as { issues?: unknown }).issues));

async function loadOptional<T>(
  file: string,
  cwd: string,
  importer: Importer,
  is: (v: unknown) => v is T,
  expected: string,
  issues: SequenceIssue[],
): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  const shown = relative(cwd, resolve(file)) || basename(file);
  try {
    const mod = await importer(file);
    if (is(mod.default)) return mod.default;
    issues.push({ file: shown, path: "", message: `the file must \`export default ${expected}\`` });
  } catch (err) {
    if (isSequenceError(err)) issues.push(...err.issues.map((i) => ({ ...i, file: shown })));
    else issues.push({ file: shown, path: "", message: `the file could not be loaded (${(err as Error).message?.split("\n")[0]}): fix the error it names` });
  }
  return undefined;
}

const isAutomationFile = (v: unknown): v is AutomationFile => typeof v === "object" && v !== null && (v as { __automations?: unknown }).__automations === true;
const isFormsFile = (v: unknown): v is FormsFile => typeof v === "object" && v !== null && (v as { __forms?: unknown }).__forms === true;

/**
 * The automations and forms for these sequences (`defaultSequence`: the one the signup page
 * offers). `topics`: the ids declared in `topicsFile` (newsletters/topics.ts, named in
 * messages); every topic a form or an automation names must be one of them.
 */
export async function loadAutomationSet(
  dir: string,
  sequences: readonly { file?: string; sequence: Sequence }[],
  opts: { cwd?: string; importer?: Importer; defaultSequence?: Sequence; topics?: ReadonlySet<string>; topicsFile?: string } = {},
): Promise<AutomationSet> {
  const cwd = opts.cwd ?? process.cwd();
  const importer = opts.importer ?? nativeImport;
  const issues: SequenceIssue[] = [];
  const automationsPath = join(dir, "automations.ts");
  const formsPath = join(dir, "forms.ts");
  const file = await loadOptional(automationsPath, cwd, importer, isAutomationFile, "defineAutomations([...])", issues);
  const loadedForms = await loadOptional(formsPath, cwd, importer, isFormsFile, "defineForms({...})", issues);
  const forms = loadedForms ?? builtInForms(opts.defaultSequence ?? sequences[0]?.sequence);
  const shownForms = relative(cwd, resolve(formsPath)) || "forms.ts";
  const known = new Set(sequences.map((s) => s.sequence.id));
  const topicsFile = opts.topicsFile ? relative(cwd, resolve(opts.topicsFile)) || opts.topicsFile : "newsletters/topics.ts";
  const automations = compileAutomations(
    sequences,
    file ? { file: relative(cwd, resolve(automationsPath)) || "automations.ts", automations: file.automations } : undefined,
  );
  // Who hands a form's "when the course ends" consent over: an automation that joins the topic.
  const joinedByAutomation = new Set(automations.flatMap((a) => a.do.flatMap((x) => ("joinTopic" in x ? [x.joinTopic] : []))));
  forms.forms.forEach((f, i) => {
    if (f.sequence && !known.has(f.sequence))
      issues.push({ file: shownForms, path: `forms[${i}].sequence`, message: `no sequence "${f.sequence}": known sequences are ${[...known].join(", ")}` });
    for (const t of formTopics(f)) {
      if (!opts.topics?.has(t.id))
        issues.push({
          file: shownForms,
          path: `forms[${i}].topics`,
          message: `no topic "${t.id}" is declared in ${topicsFile}: known topics are ${[...(opts.topics ?? [])].join(", ") || "none"}`,
        });
      else if (t.later && !joinedByAutomation.has(t.id))
        issues.push({
          file: shownForms,
          path: `forms[${i}].topics`,
          message: `"${t.id}" is offered for when the course ends, but no automation joins it: add one such as { on: "completed", sequence: "<course>", do: [{ joinTopic: "${t.id}" }] } to automations.ts, or offer the topic at once`,
        });
    }
  });
  issues.push(
    ...checkAutomations(automations, { sequences: known, forms: new Set(forms.forms.map((f) => f.id)), topics: opts.topics ?? new Set(), topicsFile }),
  );
  return { automations, forms, issues };
}
