/**
 * Live edits from the command line: `drip plan` shows what the definitions on disk would do
 * to everyone already enrolled, `drip apply` makes them live, `drip history` lists versions.
 */
import type { Command } from "commander";
import { affectsEnrolled, isCurrent, planFor } from "../../versions/apply.ts";
import { historyLines, planJson, planLines } from "../../versions/format.ts";
import { type CliIO, UsageError, printJson } from "../io.ts";
import { instant, withApp } from "./app-context.ts";

export function versionCommands(program: Command, io: CliIO) {
  program
    .command("plan")
    .description("Compare the sequences on disk with the versions live in the database: every change, whom it affects and how (reads only)")
    .option("--json", "print {sequences: [{id, from, to, changes: [{kind, step, affected, effect, …}]}]}")
    .option("--now <instant>", "plan as of this ISO 8601 instant (default: now)")
    .action(async (opts: { json?: boolean; now?: string }) => {
      const now = instant(opts.now, io, "--now");
      await withApp(
        io,
        async (app) => {
          const plans = [];
          for (const id of app.engine.sequenceIds().sort()) plans.push(await planFor(app.store, app.engine.getSequence(id)!, app.config.emailsDir, now));
          if (opts.json) return printJson(io, { sequences: plans.map(planJson) });
          if (plans.length === 0) return io.out("no sequences loaded\n");
          for (const p of plans) io.out(`${planLines(p).join("\n")}\n`);
        },
        { quiet: true },
      );
    });

  program
    .command("apply")
    .description("Make the sequences on disk live: record their versions and re-plan the enrolled subscribers they affect, one transaction per sequence")
    .option("--yes", "apply changes that affect enrolled subscribers (without it, such a plan is printed and nothing is applied)")
    .option("--json", "print {sequences: [{id, from, to, version, changes, planned, deferred}]}")
    .action(async (opts: { yes?: boolean; json?: boolean }) => {
      const now = io.now();
      await withApp(
        io,
        async (app) => {
          const sequences = app.engine
            .sequenceIds()
            .sort()
            .map((id) => app.engine.getSequence(id)!);
          if (!opts.yes) {
            const risky = [];
            for (const s of sequences) {
              const p = await planFor(app.store, s, app.config.emailsDir, now);
              if (!isCurrent(p) && affectsEnrolled(p)) risky.push(p);
            }
            if (risky.length > 0) {
              for (const p of risky) io.err(`${planLines(p).join("\n")}\n`);
              throw new UsageError(`${risky.map((p) => p.sequenceId).join(", ")} would move enrolled subscribers (above): run drip apply --yes to apply it`);
            }
          }
          const results = [];
          for (const s of sequences) results.push(await app.lifecycle.applyVersion(s, app.config.emailsDir, now));
          if (opts.json)
            return printJson(io, {
              sequences: results.map((r) => ({ ...planJson(r), version: r.version?.number ?? null, planned: r.planned, deferred: r.deferred })),
            });
          for (const r of results) {
            io.out(`${planLines(r).join("\n")}\n`);
            if (r.version)
              io.out(
                `  applied: version ${r.version.number}; ${r.planned} enrollment${r.planned === 1 ? "" : "s"} re-planned${r.deferred ? `, ${r.deferred} once their send in progress is recorded` : ""}\n`,
              );
          }
        },
        { quiet: true },
      );
    });

  program
    .command("history")
    .description("The versions of a sequence, newest first: number, time, hash and a one-line summary of each change")
    .argument("<sequence>", "sequence id (see drip list)")
    .option("--json", "print [{number, hash, createdAt, changes}] oldest first")
    .action(async (sequenceId: string, opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const versions = await app.store.listVersions(sequenceId);
          if (opts.json)
            return printJson(
              io,
              versions.map((v) => ({
                number: v.number,
                hash: v.hash,
                createdAt: v.createdAt.toISOString(),
                changes: (v.changes as { changes?: unknown })?.changes ?? [],
              })),
            );
          if (versions.length === 0) {
            if (!app.engine.getSequence(sequenceId)) throw new UsageError(`no sequence "${sequenceId}": drip list shows the loaded ones`);
            return io.out(`${sequenceId}: no versions recorded yet (drip apply or drip start records the first)\n`);
          }
          io.out(`${historyLines(versions).join("\n")}\n`);
        },
        { quiet: true },
      );
    });
}
