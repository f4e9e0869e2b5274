import { loadConfig, readEnv } from "../../config.ts";
import { type App, createApp } from "../../app.ts";
import type { Transport } from "../../delivery/transport.ts";
import { type CliIO, UsageError, parseInstant } from "../io.ts";

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

/** Parse an --at/--now ISO instant, or fall back to the CLI's clock. */
export function instant(value: string | undefined, io: CliIO, flag: string): Date {
  if (value === undefined) return io.now();
  const at = parseInstant(value);
  if (!at) throw new UsageError(`${flag} "${value}" is not an ISO 8601 instant: write it with Z or an offset, e.g. 2026-03-06T15:00:00Z`);
  return at;
}
