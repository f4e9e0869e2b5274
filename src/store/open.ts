/**
 * Open the configured store, and nothing else: commands that only read the database
 * (`drip status`) start without the engine, the renderers or the sequences.
 */
import { type Config, isPostgresUrl } from "../config.ts";
import { DripError } from "../errors.ts";
import { PostgresStore, postgresProblem } from "./postgres/postgres-store.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./types.ts";

export function openStore(config: Config): Store {
  if (isPostgresUrl(config.databaseUrl)) return new PostgresStore(config.databaseUrl, { pool: config.dbPool });
  return new SqliteStore(config.databaseUrl);
}

/** Open and migrate the configured store; a database that cannot be reached is one sentence, not a stack. */
export async function openMigratedStore(config: Config): Promise<Store> {
  const store = openStore(config);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    if (isPostgresUrl(config.databaseUrl)) throw new DripError("failed", postgresProblem(config.databaseUrl, err));
    throw err;
  }
  return store;
}

/** The transport makeTransport (src/wiring.ts) would pick, by name. */
export function transportName(config: Config): "resend" | "outbox" {
  return config.transport === "resend" && config.resendApiKey ? "resend" : "outbox";
}
