import type { Command } from "commander";
import { checkSequence, scheduleWarnings } from "../../sequences/check.ts";
import { formatIssue, type SequenceIssue } from "../../sequences/errors.ts";
import { listSequenceFiles, loadSequenceFiles } from "../../sequences/load.ts";
import { typecheckFiles } from "../../sequences/typecheck.ts";
import { EMAILS_DIR, SEQUENCES_DIR } from "../../paths.ts";
import { type CliIO, WorkError, printJson } from "../io.ts";

export function validateCommand(program: Command, io: CliIO) {
  program
    .command("validate")
    .description("Type-check every sequence and template, load them, render each step for a sample subscriber (and one with no name), and check compliance")
    .argument("[files...]", "sequence files to check (default: every file in sequences/)")
    .option("--no-typecheck", "skip the TypeScript type check (faster; syntax and field errors then show only when a file loads)")
    .option("--json", "print {ok, sequences, issues: [{file, path, message}], warnings: [{file, path, message}]}")
    .action(async (files: string[], opts: { json?: boolean; typecheck: boolean }) => {
      const list = files.length ? files : listSequenceFiles(SEQUENCES_DIR);
      // The compiler first: it names file, line and column for syntax errors and missing fields.
      const typeIssues = opts.typecheck ? await typecheckFiles(list, { cwd: io.cwd, dirs: [SEQUENCES_DIR, EMAILS_DIR] }) : [];
      const loaded = await loadSequenceFiles(list, io.cwd);
      const issues: SequenceIssue[] = [...typeIssues, ...loaded.issues];
      const warnings: SequenceIssue[] = [];
      for (const { file, sequence } of loaded.sequences) {
        issues.push(...(await checkSequence(sequence, EMAILS_DIR)).map((i) => ({ ...i, file })));
        warnings.push(...scheduleWarnings(sequence).map((i) => ({ ...i, file })));
      }
      const summary = loaded.sequences.map(({ file, sequence }) => ({ file, id: sequence.id, steps: sequence.steps.length }));
      if (opts.json) {
        printJson(io, { ok: issues.length === 0, sequences: summary, issues, warnings });
        if (issues.length) throw new WorkError("", { cause: "json" });
        return;
      }
      for (const w of warnings) io.err(`warning:${formatIssue(w).slice(1)}\n`);
      if (issues.length) throw new WorkError(`${issues.length} problem${issues.length === 1 ? "" : "s"} found:\n${issues.map(formatIssue).join("\n")}`);
      for (const s of summary) io.out(`ok  ${s.file}  ${s.id} (${s.steps} steps)\n`);
    });
}
