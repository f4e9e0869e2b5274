import type { Command } from "commander";
import { ISSUE_REPORT_COLUMNS, issueIdOf } from "../../store/types.ts";
import type { App } from "../../wiring.ts";
import type { StepStats } from "../../store/types.ts";
import { describeTrigger } from "../../automations/compile.ts";
import { type CliIO, UsageError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

const STAT_COLUMNS = ["sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "booked"] as const;

const AUTOMATION_COLUMNS = ["fired", "entered", "joined", "unchanged", "skipped"] as const;

/** Per newsletter issue (scheduled, sent or cancelled; drafts have no results): the same issueReport `drip newsletter status` shows. */
async function newsletterRows(app: App) {
  const rows = [];
  for (const i of await app.newsletters.list()) if (i.report) rows.push({ subject: i.subject, status: i.status, ...i.report });
  return rows;
}

function printNewsletters(io: CliIO, rows: Awaited<ReturnType<typeof newsletterRows>>) {
  const w = Math.max(5, ...rows.map((r) => r.issueId.length));
  const widths = ISSUE_REPORT_COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  io.out(`${"issue".padEnd(w)}${ISSUE_REPORT_COLUMNS.map((c, i) => `  ${c.padStart(widths[i]!)}`).join("")}\n`);
  for (const r of rows) io.out(`${r.issueId.padEnd(w)}${ISSUE_REPORT_COLUMNS.map((c, i) => `  ${String(r[c]).padStart(widths[i]!)}`).join("")}\n`);
  // Why deliveries were skipped, and clicks per link (each reader once per link), below the table.
  for (const r of rows) {
    const why = Object.entries(r.skippedReasons).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (why.length) io.out(`${r.issueId} skipped: ${why.map(([k, n]) => `${k} (${n})`).join(", ")}\n`);
    const links = Object.entries(r.clicksByLink).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    for (const [link, n] of links) io.out(`${r.issueId} clicked: ${link} (${n})\n`);
  }
}

/** The course table: sent, then skipped (with its reasons in --json), then what happened to what was sent. */
const COURSE_COLUMNS = ["sent", "skipped", ...STAT_COLUMNS.slice(1)] as const;

/** Each step's skipped sends and why (steps with skips only get a row too). */
async function withSkipped(app: App, rows: readonly StepStats[], sequenceId?: string) {
  const out = new Map(rows.map((r) => [`${r.sequenceId}\u0000${r.stepId}`, { ...r, skipped: 0, skippedReasons: {} as Record<string, number> }]));
  for (const s of await app.store.skippedByStep(sequenceId)) {
    const key = `${s.sequenceId}\u0000${s.stepId}`;
    const zero = Object.fromEntries(STAT_COLUMNS.map((c) => [c, 0])) as Record<(typeof STAT_COLUMNS)[number], number>;
    const r = out.get(key) ?? { sequenceId: s.sequenceId, stepId: s.stepId, ...zero, skipped: 0, skippedReasons: {} };
    r.skipped += s.count;
    r.skippedReasons[s.reason] = (r.skippedReasons[s.reason] ?? 0) + s.count;
    out.set(key, r);
  }
  return [...out.values()];
}

function printAutomations(io: CliIO, rows: readonly ({ automationId: string; trigger: string } & Record<(typeof AUTOMATION_COLUMNS)[number], number>)[]) {
  const w = Math.max(10, ...rows.map((r) => `${r.automationId} (${r.trigger})`.length));
  io.out(`${"automation".padEnd(w)}  ${AUTOMATION_COLUMNS.map((c) => c.padStart(10)).join("")}\n`);
  for (const r of rows) io.out(`${`${r.automationId} (${r.trigger})`.padEnd(w)}  ${AUTOMATION_COLUMNS.map((c) => String(r[c]).padStart(10)).join("")}\n`);
}

export function reportCommands(program: Command, io: CliIO) {
  program
    .command("stats")
    .description(
      "Per-step results (sent, skipped, delivered, opened, clicked, bounced, complained, unsubscribed, booked), then per newsletter issue (recipients, sent, skipped and why, failed, … clicks per link)",
    )
    .option("--sequence <id>", "only this sequence")
    .option("--by-version", "one row per step and sequence version (a change's before and after); --json adds version and versionNumber")
    .option("--automations", "instead: per automation, how often it fired, how many sequences it started (entries per trigger) and topics it joined")
    .option("--newsletters", "instead: per newsletter issue, the results `drip newsletter status` shows")
    .option(
      "--json",
      "print [{sequenceId, stepId, sent, skipped, skippedReasons: {reason: count}, delivered, …}] in step order (with --automations: [{automationId, trigger, fired, entered, joined, unchanged, skipped}]; with --newsletters: [{issueId, subject, status, recipients, sent, skipped, skippedReasons, …, clicksByLink}])",
    )
    .action(async (opts: { sequence?: string; json?: boolean; byVersion?: boolean; automations?: boolean; newsletters?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          if (opts.byVersion) return statsByVersion(io, app, opts);
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
          if (opts.newsletters) {
            const rows = await newsletterRows(app);
            if (opts.json) return printJson(io, rows);
            if (rows.length === 0) return io.out("no newsletter issue has been scheduled or sent yet\n");
            return printNewsletters(io, rows);
          }
          // Newsletter deliveries are steps of `newsletter:<issue>` sequences: they get their own table below.
          const rows = (await withSkipped(app, await app.store.stepStats(opts.sequence), opts.sequence)).filter((r) => issueIdOf(r.sequenceId) === null);
          // Step order as the sequence defines it; steps no longer defined go last.
          const order = (seq: string, step: string) => app.engine.getSequence(seq)?.steps.findIndex((s) => s.id === step) ?? -1;
          rows.sort((a, b) => a.sequenceId.localeCompare(b.sequenceId) || (order(a.sequenceId, a.stepId) >>> 0) - (order(b.sequenceId, b.stepId) >>> 0));
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) io.out("no sends yet\n");
          else {
            // Counts with their rate (of sent; opened and clicked of delivered; skipped of the step's
            // sends and skips), columns two spaces apart.
            const pct = (n: number, of: number) => (of > 0 ? ` ${Math.round((n / of) * 100)}%` : "");
            const cell = (r: (typeof rows)[number], c: (typeof COURSE_COLUMNS)[number]) =>
              c === "sent"
                ? String(r.sent)
                : c === "skipped"
                  ? `${r.skipped}${pct(r.skipped, r.sent + r.skipped)}`
                  : `${r[c]}${pct(r[c], c === "opened" || c === "clicked" ? r.delivered : r.sent)}`;
            const label = (r: (typeof rows)[number]) => `${r.sequenceId}/${r.stepId}`;
            const w = Math.max(4, ...rows.map((r) => label(r).length));
            const widths = COURSE_COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
            io.out(`${"step".padEnd(w)}${COURSE_COLUMNS.map((c, i) => `  ${c.padStart(widths[i]!)}`).join("")}\n`);
            for (const r of rows) io.out(`${label(r).padEnd(w)}${COURSE_COLUMNS.map((c, i) => `  ${cell(r, c).padStart(widths[i]!)}`).join("")}\n`);
          }
          const issues = opts.sequence ? [] : await newsletterRows(app);
          if (issues.length > 0) {
            io.out("\n");
            printNewsletters(io, issues);
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
    .option("--json", "print [{id, email, sequenceId, stepId, status, attempts, reason, dueAt, retry}] (retry: the command that retries it)")
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
            retry: `drip retry ${s.id}`,
          }));
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) return io.out("no failed or doubtful sends\n");
          for (const r of rows)
            io.out(
              `${r.status.padEnd(9)} ${r.email}  ${r.sequenceId}/${r.stepId}  send ${r.id}  (${r.attempts} attempts)  ${r.reason ?? ""}\n          retry: drip retry ${r.id}\n`,
            );
          io.out("retry them all: drip retry --all-failed (--dry-run first to see what would happen)\n");
        },
        { quiet: true },
      );
    });
}

/** `drip stats --by-version`: each step's results per sequence version (v1, v2, … as drip history numbers them). */
async function statsByVersion(io: CliIO, app: App, opts: { sequence?: string; json?: boolean }) {
  const rows = await app.store.stepStatsByVersion(opts.sequence);
  const numbers = new Map<string, number>();
  for (const seq of new Set(rows.map((r) => r.sequenceId))) for (const v of await app.store.listVersions(seq)) numbers.set(`${seq} ${v.hash}`, v.number);
  const out = rows.map((r) => ({ ...r, versionNumber: r.version ? (numbers.get(`${r.sequenceId} ${r.version}`) ?? null) : null }));
  const order = (seq: string, step: string) => app.engine.getSequence(seq)?.steps.findIndex((s) => s.id === step) ?? -1;
  out.sort(
    (a, b) =>
      a.sequenceId.localeCompare(b.sequenceId) ||
      (order(a.sequenceId, a.stepId) >>> 0) - (order(b.sequenceId, b.stepId) >>> 0) ||
      a.stepId.localeCompare(b.stepId) ||
      (a.versionNumber ?? 0) - (b.versionNumber ?? 0),
  );
  if (opts.json) return printJson(io, out);
  if (out.length === 0) return io.out("no sends yet\n");
  const label = (r: (typeof out)[number]) => `${r.sequenceId}/${r.stepId} ${r.versionNumber ? `v${r.versionNumber}` : r.version ? r.version : "(no version)"}`;
  const w = Math.max(4, ...out.map((r) => label(r).length));
  io.out(`${"step version".padEnd(w)}  ${STAT_COLUMNS.map((c) => c.padStart(12)).join("")}\n`);
  for (const r of out) io.out(`${label(r).padEnd(w)}  ${STAT_COLUMNS.map((c) => String(r[c]).padStart(12)).join("")}\n`);
}
