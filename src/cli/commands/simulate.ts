import type { Command } from "commander";
import { isValidTimeZone } from "../../schedule/index.ts";
import { simulate } from "../../sequences/simulate.ts";
import { type CliIO, UsageError, parseInstant, printJson } from "../io.ts";
import { findSequence } from "./sequences.ts";

const collect = (v: string, prev: string[]) => [...prev, v];

export function simulateCommand(program: Command, io: CliIO) {
  program
    .command("simulate")
    .description("Show the whole timeline of one hypothetical subscriber: when each step goes out, or why it is skipped")
    .argument("<sequence>", "sequence id (see drip list)")
    .requiredOption("--start <instant>", "when the subscriber starts (confirms), an ISO 8601 instant such as 2026-03-06T15:00:00Z")
    .requiredOption("--tz <zone>", "the subscriber's IANA time zone, e.g. America/New_York")
    .option("--tag <tag>", "a tag the subscriber carries (repeatable), e.g. --tag booked", collect, [] as string[])
    .option("--name <name>", "the subscriber's first name", "Sam")
    .option("--json", "print [{step, at, local, subject, skipped}] in step order")
    .action(async (sequenceId: string, opts: { start: string; tz: string; tag: string[]; name: string; json?: boolean }) => {
      // An instant must say its offset: a bare local time would silently mean the machine's zone.
      // Temporal parses strictly (Date.parse would roll 2026-02-30 over to 2 March).
      const start = parseInstant(opts.start);
      if (!start) throw new UsageError(`--start "${opts.start}" is not an ISO 8601 instant: write it with Z or an offset, e.g. 2026-03-06T15:00:00Z`);
      const sequence = await findSequence(io, sequenceId);
      const timeline = simulate(sequence, { email: "simulated@example.com", name: opts.name, timezone: opts.tz, tags: opts.tag }, start);
      for (const w of timeline.warnings) io.err(`warning: ${w}\n`);
      if (opts.json) return printJson(io, timeline.entries);
      if (!isValidTimeZone(opts.tz)) io.err(`(times below are in ${timeline.zone})\n`);
      const w = Math.max(...timeline.entries.map((e) => e.step.length));
      for (const e of timeline.entries) {
        io.out(`${e.step.padEnd(w)}  ${e.local}  ${e.at}  ${e.skipped ? `skipped: ${e.skipped}` : e.subject}\n`);
      }
    });
}
