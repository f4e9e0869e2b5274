/**
 * Open the configured store, and nothing else: commands that only read the database
 * (`drip status`) start without the engine, the renderers or the sequences.
 */
import { type Config, POSTGRES_UNSUPPORTED, isPostgresUrl } from "../config.ts";
import { DripError } from "../errors.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./types.ts";

export function openStore(config: Config): Store {
  // loadConfig refuses it already; a Config built by hand gets the same sentence.
  if (isPostgresUrl(config.databaseUrl)) throw new DripError("config", POSTGRES_UNSUPPORTED);
  return new SqliteStore(config.databaseUrl);
}

/** The transport makeTransport (src/wiring.ts) would pick, by name. */
export function transportName(config: Config): "resend" | "outbox" {
  return config.transport === "resend" && config.resendApiKey ? "resend" : "outbox";
}
