/**
 * Open the configured store, and nothing else: commands that only read the database
 * (`drip status`) start without the engine, the renderers or the sequences, and on SQLite
 * without the PostgreSQL driver (imported only for a postgres:// URL).
 */
import { type Config, isPostgresUrl } from "../config.ts";
import { DripError } from "../errors.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./types.ts";

async function open(config: Config): Promise<Store> {
  if (!isPostgresUrl(config.databaseUrl)) return new SqliteStore(config.databaseUrl);
  const { PostgresStore } = await import("./postgres/postgres-store.ts");
  return new PostgresStore(config.databaseUrl, { pool: config.dbPool });
}

/** Open and migrate the configured store; a database that cannot be reached is one sentence, not a stack. */
export async function openMigratedStore(config: Config): Promise<Store> {
  const store = await open(config);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    if (isPostgresUrl(config.databaseUrl)) {
      const { postgresProblem } = await import("./postgres/postgres-store.ts");
      throw new DripError("failed", postgresProblem(config.databaseUrl, err));
    }
    throw err;
  }
  return store;
}

/** The transport makeTransport (src/wiring.ts) would pick, by name. */
export function transportName(config: Config): "resend" | "outbox" {
  return config.transport === "resend" && config.resendApiKey ? "resend" : "outbox";
}
