import { basename, dirname, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { loadAutomationSet } from "../../automations/load.ts";
import { describeAction, describeTrigger } from "../../automations/compile.ts";
import { checkSequence, scheduleWarnings } from "../../sequences/check.ts";
import { formatIssue, type SequenceIssue } from "../../sequences/errors.ts";
import { NOT_SEQUENCES, listSequenceFiles, loadSequenceFiles } from "../../sequences/load.ts";
import { loadIssueFiles } from "../../newsletters/issue-file.ts";
import { describeCadence } from "../../newsletters/feeds.ts";
import { loadFeeds, loadTopics } from "../../newsletters/load.ts";
import { contentDirs } from "./app-context.ts";
import { typecheckFiles } from "../../sequences/typecheck.ts";
import { type CliIO, WorkError, printJson } from "../io.ts";

export function validateCommand(program: Command, io: CliIO) {
  program
    .command("validate")
    .description(
      "Type-check every sequence and template, load them, render each step for a sample subscriber (and one with no name), and check compliance; automations, forms, newsletter issues, topics and feeds too",
    )
    .argument("[files...]", "sequence files to check (default: every file in sequences/); an automations.ts or forms.ts among them is checked against them")
    .option("--no-typecheck", "skip the TypeScript type check (faster; syntax and field errors then show only when a file loads)")
    .option("--json", "print {ok, sequences, automations, forms, newsletters, feeds, issues: [{file, path, message}], warnings: [{file, path, message}]}")
    .action(async (files: string[], opts: { json?: boolean; typecheck: boolean }) => {
      const dirs = contentDirs(io);
      const beside = files.filter((f) => NOT_SEQUENCES.has(basename(f)));
      const sequenceFiles = files.filter((f) => !NOT_SEQUENCES.has(basename(f)));
      const list = files.length ? sequenceFiles : listSequenceFiles(dirs.sequencesDir);
      // The compiler first: it names file, line and column for syntax errors and missing fields.
      const typeIssues = opts.typecheck
        ? await typecheckFiles(list, {
            cwd: io.cwd,
            dirs: [dirs.sequencesDir, dirs.emailsDir],
            // A type-check cache that cannot be used costs time only: said under DEBUG=drip.
            debug: (line) => {
              if ((io.env.DEBUG ?? "").includes("drip")) io.err(`${line}\n`);
            },
          })
        : [];
      const loaded = await loadSequenceFiles(list, io.cwd);
      const issues: SequenceIssue[] = [...typeIssues, ...loaded.issues];
      const warnings: SequenceIssue[] = [];
      for (const { file, sequence } of loaded.sequences) {
        issues.push(...(await checkSequence(sequence, dirs.emailsDir)).map((i) => ({ ...i, file })));
        warnings.push(...scheduleWarnings(sequence).map((i) => ({ ...i, file })));
      }
      // Automations and forms beside the sequences: the folder's own, or the automations.ts / forms.ts named.
      const dir = files.length ? (beside[0] ? dirname(resolve(io.cwd, beside[0])) : null) : dirs.sequencesDir;
      // Topics first (newsletters/topics.ts): automations and forms may name only declared ones.
      const declared = await loadTopics(dirs.newslettersDir);
      const topicsFile = join(dirs.newslettersDir, "topics.ts");
      const set = dir ? await loadAutomationSet(dir, loaded.sequences, { cwd: io.cwd, topics: new Set(declared.topics.map((t) => t.id)), topicsFile }) : null;
      if (set) issues.push(...set.issues);
      const summary = loaded.sequences.map(({ file, sequence }) => ({ file, id: sequence.id, steps: sequence.steps.length }));
      const automations = (set?.automations ?? []).map((a) => ({ id: a.id, source: a.source, on: describeTrigger(a.on), do: a.do.map(describeAction) }));
      const forms = (set?.forms.forms ?? []).map((f) => ({ id: f.id, sequence: f.sequence ?? null, default: f.id === set?.forms.default }));
      // Newsletter issues (newsletters/*.md) and topics, unless files were named.
      const topics = files.length ? { topics: [], problem: null } : declared;
      if (topics.problem) issues.push({ path: "", message: topics.problem });
      const newsletters = files.length ? { issues: [], problems: [] } : loadIssueFiles(dirs.newslettersDir, topics.topics);
      issues.push(...newsletters.problems);
      // The blog feeds (newsletters/feeds.ts): their shape, and a topic that exists.
      const feeds = files.length ? { feeds: [], problem: null } : await loadFeeds(dirs.newslettersDir, undefined);
      if (feeds.problem) issues.push({ path: "", message: feeds.problem });
      feeds.feeds.forEach((f, i) => {
        if (!topics.topics.some((t) => t.id === f.topic))
          issues.push({
            file: relative(io.cwd, join(dirs.newslettersDir, "feeds.ts")),
            path: `feeds[${i}].topic`,
            message: `no topic "${f.topic}" in newsletters/topics.ts: use one of ${topics.topics.map((t) => t.id).join(", ") || "(none declared)"}`,
          });
      });
      if (opts.json) {
        printJson(io, {
          ok: issues.length === 0,
          sequences: summary,
          automations,
          forms,
          newsletters: newsletters.issues.map((n) => ({ file: relative(io.cwd, n.file), id: n.id, topic: n.topicId })),
          feeds: feeds.feeds.map((f) => ({ id: f.id, topic: f.topic, cadence: describeCadence(f.cadence), mode: f.mode.kind })),
          issues,
          warnings,
        });
        if (issues.length) throw new WorkError("", { cause: "json" });
        return;
      }
      for (const w of warnings) io.err(`warning:${formatIssue(w).slice(1)}\n`);
      if (issues.length) throw new WorkError(`${issues.length} problem${issues.length === 1 ? "" : "s"} found:\n${issues.map(formatIssue).join("\n")}`);
      for (const s of summary) io.out(`ok  ${s.file}  ${s.id} (${s.steps} steps)\n`);
      for (const a of automations) io.out(`ok  automation ${a.id}: on ${a.on}, ${a.do.join(", ")}\n`);
      for (const f of forms) io.out(`ok  form ${f.id}${f.default ? " (default)" : ""}\n`);
      for (const n of newsletters.issues) io.out(`ok  ${relative(io.cwd, n.file)}  newsletter ${n.id} (topic ${n.topicId})\n`);
      for (const f of feeds.feeds)
        io.out(`ok  feed ${f.id}: topic ${f.topic}, ${describeCadence(f.cadence)}, ${f.mode.kind === "send" ? `sent at ${f.mode.local} local` : "drafts"}\n`);
    });
}
