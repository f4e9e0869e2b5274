import { loadConfig, readEnv } from "../../config.ts";
import { type App, createApp } from "../../wiring.ts";
import type { Transport } from "../../delivery/transport.ts";
import { parseInstant } from "../instant.ts";
import { type CliIO, UsageError } from "../io.ts";

export { contentDirs } from "./content-dirs.ts";

/** Open the app for one command and always close it (the SQLite file stays consistent). */
export async function withApp<T>(io: CliIO, fn: (app: App) => Promise<T>, opts: { transport?: Transport; quiet?: boolean } = {}): Promise<T> {
  const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
  const app = await createApp(config, (line) => io.err(`${line}\n`), opts);
  if (!opts.quiet) for (const w of config.warnings) if (io.isTTY) io.err(`note: ${w}\n`);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

const DAY = 24 * 3_600_000;

/**
 * An instant that moves scheduling (a tick's "now", a subscription's start) more than a day
 * from the wall clock is almost always a typo or a test command run against real data:
 * `tick --now 2036-…` would send every due step and plan the rest as of 2036. Refuse it unless
 * the operator says --allow-time-travel. `direction: "future"` lets back-dating through (an
 * import of people who subscribed last month is legitimate; a start in the future is not).
 */
export function guardTimeTravel(at: Date, io: CliIO, flag: string, opts: { allowed: boolean | undefined; direction: "both" | "future" }): Date {
  if (opts.allowed) return at;
  const clock = io.now();
  const ahead = at.getTime() - clock.getTime();
  if (ahead > DAY || (opts.direction === "both" && ahead < -DAY)) {
    const days = Math.abs(ahead) / DAY;
    const span = days >= 2 ? `${Math.round(days).toLocaleString("en-US")} days` : `${Math.round(Math.abs(ahead) / 3_600_000)} hours`;
    throw new UsageError(
      `${flag} ${at.toISOString()} is ${span} ${ahead > 0 ? "ahead of" : "behind"} the clock (${clock.toISOString()}), which would send and schedule real subscribers' emails as of that time: pass --allow-time-travel if you really mean it`,
    );
  }
  return at;
}

/** Parse an --at/--now ISO instant, or fall back to the CLI's clock. */
export function instant(value: string | undefined, io: CliIO, flag: string): Date {
  if (value === undefined) return io.now();
  const at = parseInstant(value);
  if (!at) throw new UsageError(`${flag} "${value}" is not an ISO 8601 instant: write it with Z or an offset, e.g. 2026-03-06T15:00:00Z`);
  return at;
}
