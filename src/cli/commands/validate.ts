import { relative } from "node:path";
import type { Command } from "commander";
import { checkSequence } from "../../sequences/check.ts";
import { formatIssue, type SequenceIssue } from "../../sequences/errors.ts";
import { listSequenceFiles, loadSequenceFiles } from "../../sequences/load.ts";
import { loadIssueFiles } from "../../newsletters/issue-file.ts";
import { loadTopics } from "../../newsletters/load.ts";
import { contentDirs } from "./app-context.ts";
import { type CliIO, WorkError, printJson } from "../io.ts";

export function validateCommand(program: Command, io: CliIO) {
  program
    .command("validate")
    .description("Load every sequence and template, render each step for a sample subscriber, and check compliance; newsletter issues too")
    .argument("[files...]", "sequence files to check (default: every file in sequences/)")
    .option("--json", "print {ok, sequences, issues: [{file, path, message}]}")
    .action(async (files: string[], opts: { json?: boolean }) => {
      const dirs = contentDirs(io);
      const loaded = await loadSequenceFiles(files.length ? files : listSequenceFiles(dirs.sequencesDir), io.cwd);
      const issues: SequenceIssue[] = [...loaded.issues];
      for (const { file, sequence } of loaded.sequences) {
        issues.push(...(await checkSequence(sequence, dirs.emailsDir)).map((i) => ({ ...i, file })));
      }
      const summary = loaded.sequences.map(({ file, sequence }) => ({ file, id: sequence.id, steps: sequence.steps.length }));
      // Newsletter issues (newsletters/*.md) and topics, unless files were named.
      const topics = files.length ? { topics: [], problem: null } : await loadTopics(dirs.newslettersDir);
      if (topics.problem) issues.push({ path: "", message: topics.problem });
      const newsletters = files.length ? { issues: [], problems: [] } : loadIssueFiles(dirs.newslettersDir, topics.topics);
      issues.push(...newsletters.problems);
      if (opts.json) {
        printJson(io, {
          ok: issues.length === 0,
          sequences: summary,
          newsletters: newsletters.issues.map((n) => ({ file: relative(io.cwd, n.file), id: n.id, topic: n.topicId })),
          issues,
        });
        if (issues.length) throw new WorkError("", { cause: "json" });
        return;
      }
      if (issues.length) throw new WorkError(`${issues.length} problem${issues.length === 1 ? "" : "s"} found:\n${issues.map(formatIssue).join("\n")}`);
      for (const s of summary) io.out(`ok  ${s.file}  ${s.id} (${s.steps} steps)\n`);
      for (const n of newsletters.issues) io.out(`ok  ${relative(io.cwd, n.file)}  newsletter ${n.id} (topic ${n.topicId})\n`);
    });
}
