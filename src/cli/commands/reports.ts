import type { Command } from "commander";
import { describeTrigger } from "../../automations/compile.ts";
import { type CliIO, UsageError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

const STAT_COLUMNS = ["sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "booked"] as const;

const AUTOMATION_COLUMNS = ["fired", "entered", "unchanged", "skipped"] as const;

function printAutomations(io: CliIO, rows: readonly ({ automationId: string; trigger: string } & Record<(typeof AUTOMATION_COLUMNS)[number], number>)[]) {
  const w = Math.max(10, ...rows.map((r) => `${r.automationId} (${r.trigger})`.length));
  io.out(`${"automation".padEnd(w)}  ${AUTOMATION_COLUMNS.map((c) => c.padStart(10)).join("")}\n`);
  for (const r of rows) io.out(`${`${r.automationId} (${r.trigger})`.padEnd(w)}  ${AUTOMATION_COLUMNS.map((c) => String(r[c]).padStart(10)).join("")}\n`);
}

export function reportCommands(program: Command, io: CliIO) {
  program
    .command("stats")
    .description("Per-step results: sent, delivered, opened, clicked, bounced, complained, unsubscribed, booked")
    .option("--sequence <id>", "only this sequence")
    .option("--automations", "instead: per automation, how often it fired and how many sequences it started (entries per trigger)")
    .option(
      "--json",
      "print [{sequenceId, stepId, sent, delivered, …}] in step order (with --automations: [{automationId, trigger, fired, entered, unchanged, skipped}])",
    )
    .action(async (opts: { sequence?: string; json?: boolean; automations?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const automations = async () => {
            const triggers = new Map(app.automations.automations.map((a) => [a.id, describeTrigger(a.on)]));
            return (await app.store.automationStats()).map(({ automationId, ...r }) => ({
              automationId,
              trigger: triggers.get(automationId) ?? "(no longer defined)",
              ...r,
            }));
          };
          if (opts.automations) {
            const rows = await automations();
            if (opts.json) return printJson(io, rows);
            if (rows.length === 0) return io.out("no automation has fired yet\n");
            return printAutomations(io, rows);
          }
          const rows = await app.store.stepStats(opts.sequence);
          // Step order as the sequence defines it; steps no longer defined go last.
          const order = (seq: string, step: string) => app.engine.getSequence(seq)?.steps.findIndex((s) => s.id === step) ?? -1;
          rows.sort((a, b) => a.sequenceId.localeCompare(b.sequenceId) || (order(a.sequenceId, a.stepId) >>> 0) - (order(b.sequenceId, b.stepId) >>> 0));
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) io.out("no sends yet\n");
          else {
            const w = Math.max(4, ...rows.map((r) => `${r.sequenceId}/${r.stepId}`.length));
            io.out(`${"step".padEnd(w)}  ${STAT_COLUMNS.map((c) => c.padStart(12)).join("")}\n`);
            for (const r of rows) io.out(`${`${r.sequenceId}/${r.stepId}`.padEnd(w)}  ${STAT_COLUMNS.map((c) => String(r[c]).padStart(12)).join("")}\n`);
          }
          const fired = opts.sequence ? [] : await automations();
          if (fired.length > 0) {
            io.out("\n");
            printAutomations(io, fired);
          }
        },
        { quiet: true },
      );
    });

  program
    .command("failures")
    .description("Sends that failed or are in doubt, with the reason, for staff to act on")
    .option("--limit <n>", "show at most this many", "100")
    .option("--json", "print [{id, sequenceId, stepId, status, attempts, reason, dueAt}]")
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number, not "${opts.limit}"`);
      await withApp(
        io,
        async (app) => {
          const rows = (await app.store.listSends({ statuses: ["failed", "in_doubt"], limit })).map((s) => ({
            id: s.id,
            sequenceId: s.sequenceId,
            stepId: s.stepId,
            status: s.status,
            attempts: s.attempts,
            reason: s.reason,
            dueAt: s.dueAt.toISOString(),
          }));
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) return io.out("no failed or doubtful sends\n");
          for (const r of rows) io.out(`${r.status.padEnd(9)} ${r.sequenceId}/${r.stepId}  send ${r.id}  (${r.attempts} attempts)  ${r.reason ?? ""}\n`);
        },
        { quiet: true },
      );
    });
}
