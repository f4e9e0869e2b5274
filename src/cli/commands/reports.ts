import type { Command } from "commander";
import { type CliIO, UsageError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

const STAT_COLUMNS = ["sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "booked"] as const;

export function reportCommands(program: Command, io: CliIO) {
  program
    .command("stats")
    .description("Per-step results: sent, delivered, opened, clicked, bounced, complained, unsubscribed, booked")
    .option("--sequence <id>", "only this sequence")
    .option("--json", "print [{sequenceId, stepId, sent, delivered, …}] in step order")
    .action(async (opts: { sequence?: string; json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const rows = await app.store.stepStats(opts.sequence);
          // Step order as the sequence defines it; steps no longer defined go last.
          const order = (seq: string, step: string) => app.engine.getSequence(seq)?.steps.findIndex((s) => s.id === step) ?? -1;
          rows.sort((a, b) => a.sequenceId.localeCompare(b.sequenceId) || (order(a.sequenceId, a.stepId) >>> 0) - (order(b.sequenceId, b.stepId) >>> 0));
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) return io.out("no sends yet\n");
          // Counts with their rate (of sent; opened and clicked of delivered), columns two spaces apart.
          const pct = (n: number, of: number) => (of > 0 ? ` ${Math.round((n / of) * 100)}%` : "");
          const cell = (r: (typeof rows)[number], c: (typeof STAT_COLUMNS)[number]) =>
            c === "sent" ? String(r.sent) : `${r[c]}${pct(r[c], c === "opened" || c === "clicked" ? r.delivered : r.sent)}`;
          const label = (r: (typeof rows)[number]) => `${r.sequenceId}/${r.stepId}`;
          const w = Math.max(4, ...rows.map((r) => label(r).length));
          const widths = STAT_COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
          io.out(`${"step".padEnd(w)}${STAT_COLUMNS.map((c, i) => `  ${c.padStart(widths[i]!)}`).join("")}\n`);
          for (const r of rows) io.out(`${label(r).padEnd(w)}${STAT_COLUMNS.map((c, i) => `  ${cell(r, c).padStart(widths[i]!)}`).join("")}\n`);
        },
        { quiet: true },
      );
    });

  program
    .command("failures")
    .description("Sends that failed or are in doubt, with the reason, for staff to act on")
    .option("--limit <n>", "show at most this many", "100")
    .option("--json", "print [{id, email, sequenceId, stepId, status, attempts, reason, dueAt}]")
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number, not "${opts.limit}"`);
      await withApp(
        io,
        async (app) => {
          const sends = await app.store.listSends({ statuses: ["failed", "in_doubt"], limit });
          const emails = new Map<string, string>();
          for (const s of sends)
            if (!emails.has(s.subscriberId)) emails.set(s.subscriberId, (await app.store.getSubscriber(s.subscriberId))?.email ?? "(erased)");
          const rows = sends.map((s) => ({
            id: s.id,
            email: emails.get(s.subscriberId)!,
            sequenceId: s.sequenceId,
            stepId: s.stepId,
            status: s.status,
            attempts: s.attempts,
            reason: s.reason,
            dueAt: s.dueAt.toISOString(),
          }));
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) return io.out("no failed or doubtful sends\n");
          for (const r of rows)
            io.out(`${r.status.padEnd(9)} ${r.email}  ${r.sequenceId}/${r.stepId}  send ${r.id}  (${r.attempts} attempts)  ${r.reason ?? ""}\n`);
        },
        { quiet: true },
      );
    });
}
