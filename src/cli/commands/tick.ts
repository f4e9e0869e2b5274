import type { Command } from "commander";
import { type CliIO, printJson } from "../io.ts";
import { guardTimeTravel, instant, withApp } from "./app-context.ts";

export function tickCommand(program: Command, io: CliIO) {
  program
    .command("tick")
    .description("Process everything due as of --now in one run and print {sent, skipped, failed, deferred} as JSON")
    .option("--now <instant>", "the instant to tick at (ISO 8601, default: now); staff and tests move through a course this way")
    .option("--allow-time-travel", "accept a --now more than 24 hours from the clock (it sends and schedules as of that time)")
    .action(async (opts: { now?: string; allowTimeTravel?: boolean }) => {
      const now = guardTimeTravel(instant(opts.now, io, "--now"), io, "--now", { allowed: opts.allowTimeTravel, direction: "both" });
      const summary = await withApp(io, (app) => app.engine.tick(now), { quiet: true });
      printJson(io, summary);
    });
}
