import type { Command } from "commander";
import { checkSequence } from "../../sequences/check.ts";
import { formatIssue, type SequenceIssue } from "../../sequences/errors.ts";
import { listSequenceFiles, loadSequenceFiles } from "../../sequences/load.ts";
import { EMAILS_DIR, SEQUENCES_DIR } from "../../paths.ts";
import { type CliIO, WorkError, printJson } from "../io.ts";

export function validateCommand(program: Command, io: CliIO) {
  program
    .command("validate")
    .description("Load every sequence and template, render each step for a sample subscriber, and check compliance")
    .argument("[files...]", "sequence files to check (default: every file in sequences/)")
    .option("--json", "print {ok, sequences, issues: [{file, path, message}]}")
    .action(async (files: string[], opts: { json?: boolean }) => {
      const loaded = await loadSequenceFiles(files.length ? files : listSequenceFiles(SEQUENCES_DIR), io.cwd);
      const issues: SequenceIssue[] = [...loaded.issues];
      for (const { file, sequence } of loaded.sequences) {
        issues.push(...(await checkSequence(sequence, EMAILS_DIR)).map((i) => ({ ...i, file })));
      }
      const summary = loaded.sequences.map(({ file, sequence }) => ({ file, id: sequence.id, steps: sequence.steps.length }));
      if (opts.json) {
        printJson(io, { ok: issues.length === 0, sequences: summary, issues });
        if (issues.length) throw new WorkError("", { cause: "json" });
        return;
      }
      if (issues.length) throw new WorkError(`${issues.length} problem${issues.length === 1 ? "" : "s"} found:\n${issues.map(formatIssue).join("\n")}`);
      for (const s of summary) io.out(`ok  ${s.file}  ${s.id} (${s.steps} steps)\n`);
    });
}
