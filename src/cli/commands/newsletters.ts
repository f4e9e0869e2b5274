/**
 * `drip newsletter list|preview|test|audience|schedule|send|cancel|status` and `drip topics`:
 * thin wrappers over src/newsletters/service.ts (the dashboard calls the same functions).
 */
import type { Command } from "commander";
import { ISSUE_REPORT_COLUMNS, type IssueReport } from "../../store/types.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { guardTimeTravel, instant, withApp } from "./app-context.ts";

function printReport(io: CliIO, r: IssueReport) {
  const w = Math.max(...ISSUE_REPORT_COLUMNS.map((c) => String(r[c]).length));
  for (const c of ISSUE_REPORT_COLUMNS) io.out(`  ${c.padEnd(13)} ${String(r[c]).padStart(w)}\n`);
  for (const [why, n] of Object.entries(r.skippedReasons)) io.out(`  skipped: ${why} (${n})\n`);
  // Clicks per link (each reader's click on a link counted once), most clicked first.
  const links = Object.entries(r.clicksByLink).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (links.length > 0) {
    io.out("  clicks per link:\n");
    const lw = Math.max(...links.map(([, n]) => String(n).length));
    for (const [link, n] of links) io.out(`    ${String(n).padStart(lw)}  ${link}\n`);
  }
}

export function newsletterCommands(program: Command, io: CliIO) {
  program
    .command("topics")
    .description("The topics subscribers can opt into (newsletters/topics.ts)")
    .option("--json", "print [{id, name, description, askAtSignup, subscribers}] (subscribers: active ones joined now)")
    .action(async (opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          // The same counts as the dashboard's overview (store.topicCounts).
          const counts = new Map((await app.store.topicCounts()).map((c) => [c.topicId, c.subscribers]));
          const topics = app.topics.topics().map((t) => ({ ...t, subscribers: counts.get(t.id) ?? 0 }));
          if (opts.json) return printJson(io, topics);
          if (topics.length === 0) return io.out("no topics: declare them in newsletters/topics.ts\n");
          for (const t of topics)
            io.out(
              `${t.id}  ${t.name}: ${t.description}${t.askAtSignup ? " (offered at signup)" : ""}; ${t.subscribers} subscriber${t.subscribers === 1 ? "" : "s"}\n`,
            );
        },
        { quiet: true },
      );
    });

  const nl = program.command("newsletter").description("Newsletter issues (newsletters/*.md): list, preview, test, audience, schedule, send, cancel, status");

  nl.command("list")
    .description("Every issue: file or stored snapshot, status, and results so far")
    .option("--json", "print [{id, subject, topicId, status, source, file, editedSinceScheduled, publishedAt, report}]")
    .action(async (opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const { problems } = app.newsletters.files();
          for (const p of problems) io.err(`warning: ${p.file}: ${p.path ? `${p.path}: ` : ""}${p.message}\n`);
          const rows = await app.newsletters.list();
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) return io.out("no newsletter issues: add one as newsletters/<id>.md\n");
          for (const r of rows) {
            const results = r.report ? `  sent ${r.report.sent}/${r.report.recipients}` : "";
            io.out(
              `${r.status.padEnd(9)} ${r.id}  [${r.topicId}] ${r.subject}${results}${r.editedSinceScheduled ? "  (file edited since scheduled: schedule again to send the new version)" : ""}\n`,
            );
          }
        },
        { quiet: true },
      );
    });

  nl.command("preview")
    .description("One issue as a sample reader would get it")
    .argument("<id>", "the issue id (its file name without .md)")
    .option("--format <format>", "html or text", "html")
    .action(async (id: string, opts: { format: string }) => {
      if (opts.format !== "html" && opts.format !== "text") throw new UsageError(`--format must be html or text, not "${opts.format}"`);
      await withApp(
        io,
        async (app) => {
          const email = await app.newsletters.render(id);
          if (opts.format === "html") io.out(email.html.endsWith("\n") ? email.html : `${email.html}\n`);
          else io.out(`Subject: ${email.subject}\nPreview: ${email.preview}\n\n${email.text}`);
        },
        { quiet: true },
      );
    });

  nl.command("test")
    .description("Send one copy through the real transport, subject prefixed [Test]; not counted anywhere")
    .argument("<id>", "the issue id")
    .requiredOption("--to <email>", "where to send the test")
    .action(async (id: string, opts: { to: string }) => {
      await withApp(io, async (app) => {
        const r = await app.newsletters.test(id, opts.to, io.now());
        if (!r.ok) throw new WorkError(`the test email was not sent: ${r.detail}`);
        io.out(`test of "${id}" sent to ${opts.to} (${app.transport.name}: ${r.detail})\n`);
      });
    });

  nl.command("audience")
    .description("Who an issue would go to now: the count and a sample, before anything is sent")
    .argument("<id>", "the issue id")
    .option("--sample <n>", "how many to show", "10")
    .option("--json", "print {issueId, filter, count, sample: [{email, name, timezone}]}")
    .action(async (id: string, opts: { sample: string; json?: boolean }) => {
      const n = Number(opts.sample);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--sample must be a whole number, not "${opts.sample}"`);
      await withApp(
        io,
        async (app) => {
          const r = await app.newsletters.audience(id, n);
          const sample = r.sample.map((s) => ({ email: s.email, name: s.name, timezone: s.timezone }));
          if (opts.json) return printJson(io, { ...r, sample });
          io.out(`${r.count} recipient${r.count === 1 ? "" : "s"} for "${id}" (topic ${r.filter.topicId})\n`);
          for (const s of sample) io.out(`  ${s.email}  ${s.name}  ${s.timezone}\n`);
        },
        { quiet: true },
      );
    });

  const scheduled = (r: Awaited<ReturnType<import("../../newsletters/service.ts").Newsletters["schedule"]>>, what: string) => {
    io.out(`${r.rescheduled ? "re-scheduled" : "scheduled"} "${r.issueId}" for ${r.planned} recipient${r.planned === 1 ? "" : "s"}, ${what}\n`);
    io.out(`  first ${r.first.toISOString()}, last ${r.last.toISOString()} (UTC)\n`);
    if (r.passed.length) io.out(`  already past in ${r.passed.join(", ")}: handled as --if-passed said\n`);
    io.out("  the content is a snapshot: editing the file now changes nothing unless you schedule again\n");
  };

  nl.command("schedule")
    .description("Plan an issue: at one instant (--at) or at a local time in each reader's own zone (--local --date)")
    .argument("<id>", "the issue id")
    .option("--at <ISO>", "one instant for everyone, e.g. 2026-03-06T09:00:00Z")
    .option("--local <HH:MM>", "each reader's local time")
    .option("--date <YYYY-MM-DD>", "with --local: the calendar day")
    .option("--if-passed <choice>", "with --local, where that moment has already passed: next-day or now")
    .option("--now <ISO>", "as of this instant (tests, demos)")
    .option("--allow-time-travel", "accept a --now or --at far from the clock")
    .action(async (id: string, opts: { at?: string; local?: string; date?: string; ifPassed?: string; now?: string; allowTimeTravel?: boolean }) => {
      const now = guardTimeTravel(instant(opts.now, io, "--now"), io, "--now", { allowed: opts.allowTimeTravel, direction: "both" });
      if (Boolean(opts.at) === Boolean(opts.local)) throw new UsageError("give either --at <ISO> or --local <HH:MM> --date <YYYY-MM-DD>");
      if (opts.ifPassed !== undefined && opts.ifPassed !== "next-day" && opts.ifPassed !== "now")
        throw new UsageError(`--if-passed must be next-day or now, not "${opts.ifPassed}"`);
      await withApp(io, async (app) => {
        if (opts.at) {
          const at = instant(opts.at, io, "--at");
          const r = await app.newsletters.schedule(id, { kind: "at", at }, now);
          return scheduled(r, `at ${at.toISOString()}`);
        }
        if (!opts.date) throw new UsageError("--local needs --date <YYYY-MM-DD>");
        const r = await app.newsletters.schedule(
          id,
          { kind: "local", time: opts.local!, date: opts.date, ...(opts.ifPassed ? { ifPassed: opts.ifPassed as "next-day" | "now" } : {}) },
          now,
        );
        scheduled(r, `at ${opts.local} on ${opts.date} in each reader's own zone`);
      });
    });

  nl.command("send")
    .description("Send an issue now (planned at once; the scheduler sends it on its next tick)")
    .argument("<id>", "the issue id")
    .option("--now <ISO>", "as of this instant (tests, demos)")
    .option("--allow-time-travel", "accept a --now far from the clock")
    .action(async (id: string, opts: { now?: string; allowTimeTravel?: boolean }) => {
      const now = guardTimeTravel(instant(opts.now, io, "--now"), io, "--now", { allowed: opts.allowTimeTravel, direction: "both" });
      await withApp(io, async (app) => scheduled(await app.newsletters.schedule(id, { kind: "now" }, now), "now"));
    });

  nl.command("cancel")
    .description("Cancel an issue: what has not gone out stays unsent")
    .argument("<id>", "the issue id")
    .action(async (id: string) => {
      await withApp(io, async (app) => {
        const n = await app.newsletters.cancel(id, io.now());
        io.out(
          `cancelled "${id}": ${n} deliver${n === 1 ? "y" : "ies"} not yet sent will not go out (a batch already handed to the provider cannot be called back)\n`,
        );
      });
    });

  nl.command("status")
    .description("Results of an issue: recipients, sent, skipped (why), failed, delivered, opened, clicked, bounced, complained, unsubscribed")
    .argument("<id>", "the issue id")
    .option("--missing", "list everyone who has not received it, and why")
    .option("--json", "print {issue, report} (with --missing: [{email, state, reason, dueAt}])")
    .action(async (id: string, opts: { missing?: boolean; json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          if (opts.missing) {
            const rows = await app.newsletters.missing(id);
            if (opts.json) return printJson(io, rows);
            if (rows.length === 0) return io.out(`everyone planned has received "${id}"\n`);
            for (const r of rows) io.out(`${r.state.padEnd(9)} ${r.email}  ${r.reason ?? (r.dueAt ? `due ${r.dueAt.toISOString()}` : "")}\n`);
            return;
          }
          const { issue, report } = await app.newsletters.status(id);
          if (opts.json)
            return printJson(io, {
              issue: { id: issue.id, status: issue.status, subject: issue.subject, topicId: issue.topicId, schedule: issue.schedule },
              report,
            });
          io.out(`${issue.id}  ${issue.status}  "${issue.subject}"\n`);
          printReport(io, report);
        },
        { quiet: true },
      );
    });
}

export function feedCommands(program: Command, io: CliIO) {
  const feed = program.command("feed").description("The blog feeds that turn new posts into newsletter issues (newsletters/feeds.ts)");
  feed
    .command("list")
    .description("Feed definitions and their last check")
    .option("--json", "print [{id, url, topic, cadence, mode, firstPolledAt, lastPolledAt, lastError, lastDigestOn}]")
    .action(async (opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const { describeCadence } = await import("../../newsletters/feeds.ts");
          const rows = [];
          for (const f of app.feeds) {
            const s = await app.store.getFeedState(f.id);
            rows.push({
              id: f.id,
              url: f.url ?? null,
              topic: f.topic,
              cadence: f.cadence,
              mode: f.mode,
              firstPolledAt: s?.firstPolledAt ?? null,
              lastPolledAt: s?.lastPolledAt ?? null,
              lastError: s?.lastError ?? null,
              lastDigestOn: s?.lastDigestOn ?? null,
            });
          }
          if (opts.json) return printJson(io, rows);
          if (rows.length === 0) return io.out("no feeds: define them in newsletters/feeds.ts\n");
          for (const r of rows)
            io.out(
              `${r.id}  ${r.url ?? "(off: set DRIP_FEED_URL)"}  → topic ${r.topic}, ${describeCadence(r.cadence)}, ${r.mode.kind === "send" ? `send at ${r.mode.local} local` : "drafts"}; last checked ${r.lastPolledAt?.toISOString() ?? "never"}${r.lastDigestOn ? `; last digest week ${r.lastDigestOn}` : ""}${r.lastError ? `; last error: ${r.lastError}` : ""}\n`,
            );
        },
        { quiet: true },
      );
    });
  feed
    .command("check")
    .description("Check every feed now (a conditional request); new posts become issues, the back catalogue never")
    .option("--now <ISO>", "as of this instant (tests, demos)")
    .option("--allow-time-travel", "accept a --now far from the clock")
    .option("--json", "print [{feedId, status, skipped, created, digest?: {week, outcome, next}, message}]")
    .action(async (opts: { now?: string; allowTimeTravel?: boolean; json?: boolean }) => {
      const now = guardTimeTravel(instant(opts.now, io, "--now"), io, "--now", { allowed: opts.allowTimeTravel, direction: "both" });
      await withApp(io, async (app) => {
        const { checkFeed } = await import("../../newsletters/feeds.ts");
        const results = [];
        for (const f of app.feeds) results.push(await checkFeed(f, { store: app.store, newsletters: app.newsletters, log: (l) => io.err(`${l}\n`) }, now));
        if (opts.json) return printJson(io, results);
        if (results.length === 0) return io.out("no feeds: define them in newsletters/feeds.ts\n");
        for (const r of results) io.out(`${r.feedId}: ${r.status}: ${r.message}${r.created.length ? ` (${r.created.join(", ")})` : ""}\n`);
      });
    });
}
