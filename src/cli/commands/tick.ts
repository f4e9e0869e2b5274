import type { Command } from "commander";
import { type CliIO, printJson } from "../io.ts";
import { instant, withApp } from "./app-context.ts";

export function tickCommand(program: Command, io: CliIO) {
  program
    .command("tick")
    .description("Process everything due as of --now in one run and print {sent, skipped, failed, deferred} as JSON")
    .option("--now <instant>", "the instant to tick at (ISO 8601, default: now); staff and tests move through a course this way")
    .action(async (opts: { now?: string }) => {
      const now = instant(opts.now, io, "--now");
      const summary = await withApp(io, (app) => app.engine.tick(now), { quiet: true });
      printJson(io, summary);
    });
}
