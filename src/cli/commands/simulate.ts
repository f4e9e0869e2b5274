import type { Command } from "commander";
import { isValidTimeZone } from "../../schedule/index.ts";
import { loadAutomationSet } from "../../automations/load.ts";
import { loadTopics } from "../../newsletters/load.ts";
import { type SimEvent, simulateFollowing } from "../../automations/simulate.ts";
import { simulate } from "../../sequences/simulate.ts";
import { inFlightTimeline } from "../../versions/in-flight.ts";
import { type SequenceSnapshot, snapshotSequence } from "../../versions/snapshot.ts";
import { parseInstant } from "../instant.ts";
import { type CliIO, UsageError, printJson } from "../io.ts";
import { contentDirs, instant, withApp } from "./app-context.ts";
import { findSequence, loadOrFail } from "./sequences.ts";

/** `booked@6` (6 days after --start) or `booked@2026-03-12T10:00:00Z`. */
function parseEvent(v: string, start: Date): SimEvent {
  const m = /^([\w:.-]{1,64})@(.+)$/.exec(v);
  const days = m && /^\d{1,4}$/.test(m[2]!) ? Number(m[2]) : null;
  const at = m ? (days !== null ? new Date(start.getTime() + days * 86_400_000) : parseInstant(m[2]!)) : null;
  if (!m || !at) throw new UsageError(`--event "${v}" must be NAME@DAYS (days after --start) or NAME@ISO-INSTANT, e.g. booked@6`);
  return { name: m[1]!, at };
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function simulateCommand(program: Command, io: CliIO) {
  program
    .command("simulate")
    .description("Show the whole timeline of one hypothetical subscriber: when each step goes out, or why it is skipped")
    .argument("<sequence>", "sequence id (see drip list)")
    .option("--start <instant>", "when the subscriber starts (confirms), an ISO 8601 instant such as 2026-03-06T15:00:00Z")
    .option(
      "--enrolled-at <instant>",
      "someone already in flight who started then: what they received under the live version, and their remaining timeline under the definition on disk",
    )
    .option("--now <instant>", "with --enrolled-at: as of this instant (default: now)")
    .requiredOption("--tz <zone>", "the subscriber's IANA time zone, e.g. America/New_York")
    .option("--tag <tag>", "a tag the subscriber carries (repeatable), e.g. --tag booked", collect, [] as string[])
    .option("--name <name>", "the subscriber's first name", "Sam")
    .option(
      "--event <name@day>",
      "an event on a day after --start (repeatable), e.g. --event booked@6: the automations it fires are followed",
      collect,
      [] as string[],
    )
    .option(
      "--consent <topic>",
      'the subscriber consented to this topic for later, e.g. the form\'s "when the course ends" box (repeatable): automations that join it do',
      collect,
      [] as string[],
    )
    .option("--topic <topic>", "a topic the subscriber is already a member of (repeatable)", collect, [] as string[])
    .option("--json", "print [{step, at, local, subject, skipped}] in step order")
    .action(
      async (
        sequenceId: string,
        opts: {
          start?: string;
          enrolledAt?: string;
          now?: string;
          tz: string;
          tag: string[];
          name: string;
          event: string[];
          consent: string[];
          topic: string[];
          json?: boolean;
        },
      ) => {
        if (opts.enrolledAt !== undefined) return simulateInFlight(io, sequenceId, { ...opts, enrolledAt: opts.enrolledAt });
        if (opts.start === undefined)
          throw new UsageError("drip simulate needs --start <instant> (a new subscriber) or --enrolled-at <instant> (one already in flight)");
        // An instant must say its offset: a bare local time would silently mean the machine's zone.
        // Temporal parses strictly (Date.parse would roll 2026-02-30 over to 2 March).
        const start = parseInstant(opts.start);
        if (!start) throw new UsageError(`--start "${opts.start}" is not an ISO 8601 instant: write it with Z or an offset, e.g. 2026-03-06T15:00:00Z`);
        const events = opts.event.map((e) => parseEvent(e, start));
        const sequence = await findSequence(io, sequenceId);
        const subscriber = { email: "simulated@example.com", name: opts.name, timezone: opts.tz, tags: opts.tag };
        // Follow the automations (events, completions); when none fires, the timeline is the sequence's own.
        const { sequences } = await loadOrFail(io);
        const dirs = contentDirs(io);
        const declared = await loadTopics(dirs.newslettersDir);
        const topicIds = new Set(declared.topics.map((t) => t.id));
        for (const t of [...opts.consent, ...opts.topic])
          if (!topicIds.has(t))
            throw new UsageError(`no topic "${t}" is declared in newsletters/topics.ts: known topics are ${[...topicIds].join(", ") || "none"}`);
        const set = await loadAutomationSet(dirs.sequencesDir, sequences, { cwd: io.cwd, topics: topicIds });
        const byId = new Map(sequences.map((s) => [s.sequence.id, s.sequence]));
        const followed = simulateFollowing(
          sequence,
          { getSequence: (id) => byId.get(id), automations: set.issues.length ? [] : set.automations, consented: opts.consent, joined: opts.topic },
          subscriber,
          start,
          events,
        );
        // Followed when an automation does something (or the caller asked about events or topics); else the sequence's own timeline.
        if (followed.acted > 0 || opts.event.length > 0 || opts.consent.length > 0 || opts.topic.length > 0) {
          for (const w of followed.warnings) io.err(`warning: ${w}\n`);
          if (opts.json) return printJson(io, followed.entries);
          const label = (e: (typeof followed.entries)[number]) => (e.automation ? `→ ${e.automation}` : `${e.sequence}/${e.step}`);
          const w = Math.max(...followed.entries.map((e) => label(e).length));
          for (const e of followed.entries) {
            const what = e.automation ? e.note : e.skipped ? `skipped: ${e.skipped}` : e.subject;
            io.out(`${label(e).padEnd(w)}  ${e.local}  ${e.at}  ${what}\n`);
          }
          return;
        }
        const timeline = simulate(sequence, subscriber, start);
        for (const w of timeline.warnings) io.err(`warning: ${w}\n`);
        if (opts.json) return printJson(io, timeline.entries);
        if (!isValidTimeZone(opts.tz)) io.err(`(times below are in ${timeline.zone})\n`);
        const w = Math.max(...timeline.entries.map((e) => e.step.length));
        for (const e of timeline.entries) {
          io.out(`${e.step.padEnd(w)}  ${e.local}  ${e.at}  ${e.skipped ? `skipped: ${e.skipped}` : e.subject}\n`);
        }
      },
    );
}

/** --enrolled-at: the remaining timeline of someone in flight, under the definition on disk (the plan's rules). */
async function simulateInFlight(
  io: CliIO,
  sequenceId: string,
  opts: { enrolledAt: string; now?: string; tz: string; tag: string[]; name: string; json?: boolean },
) {
  const start = parseInstant(opts.enrolledAt);
  if (!start) throw new UsageError(`--enrolled-at "${opts.enrolledAt}" is not an ISO 8601 instant: write it with Z or an offset, e.g. 2026-03-06T15:00:00Z`);
  const now = instant(opts.now, io, "--now");
  if (start.getTime() > now.getTime())
    throw new UsageError(`--enrolled-at ${start.toISOString()} is after --now ${now.toISOString()}: use --start for someone who has not started`);
  const sequence = await findSequence(io, sequenceId);
  const subscriber = { email: "simulated@example.com", name: opts.name, timezone: opts.tz, tags: opts.tag };
  const timeline = await withApp(
    io,
    async (app) => {
      const live = await app.store.liveVersion(sequence.id);
      const next = await snapshotSequence(sequence, app.config.emailsDir);
      return {
        version: live?.number ?? null,
        changed: live !== null && live.hash !== next.hash,
        ...inFlightTimeline((live?.snapshot ?? null) as SequenceSnapshot | null, sequence, next, subscriber, start, now),
      };
    },
    { quiet: true },
  );
  if (opts.json) return printJson(io, timeline);
  io.out(`received by ${now.toISOString()}${timeline.version ? ` (version ${timeline.version})` : ""}: ${timeline.received.join(", ") || "nothing yet"}\n`);
  io.out(`remaining${timeline.changed ? " under the definition on disk (drip plan shows the change)" : ""}:\n`);
  if (timeline.entries.length === 0) io.out("  nothing: the course is finished for them\n");
  const w = Math.max(0, ...timeline.entries.map((e) => e.step.length));
  for (const e of timeline.entries) io.out(`  ${e.step.padEnd(w)}  ${e.local}  ${e.at}  ${e.subject}\n`);
}
