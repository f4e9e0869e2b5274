/**
 * Open the configured store, and nothing else: commands that only read the database
 * (`drip status`) start without the engine, the renderers or the sequences, and on SQLite
 * without the PostgreSQL driver (imported only for a postgres:// URL).
 */
import { accessSync, constants, existsSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { type Config, isPostgresUrl } from "../config.ts";
import { DripError } from "../errors.ts";
import { SqliteStore, sqlitePath } from "./sqlite/sqlite-store.ts";
import type { Store } from "./types.ts";

async function open(config: Config): Promise<Store> {
  if (!isPostgresUrl(config.databaseUrl)) {
    checkDatabasePath(config.databaseUrl);
    return new SqliteStore(config.databaseUrl);
  }
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

/**
 * A DATABASE_URL whose folder does not exist is a typo far more often than a wish for an
 * empty database (which would look like data loss): refused, except the default layout
 * (data/drip.db) of a fresh install. A folder or file this user cannot write is one sentence.
 */
export function checkDatabasePath(url: string): void {
  const path = sqlitePath(url);
  if (path === ":memory:") return;
  const file = resolve(path);
  const dir = dirname(file);
  if (!existsSync(dir)) {
    const freshDefault = basename(dir) === "data" && basename(file) === "drip.db" && existsSync(dirname(dir));
    if (freshDefault) return;
    throw new DripError(
      "config",
      `DATABASE_URL ${url}: the folder ${dir} does not exist, so this would start an empty database: check the path for a typo, or create the folder for a new install`,
    );
  }
  const target = existsSync(file) ? file : dir;
  try {
    accessSync(target, constants.W_OK);
  } catch {
    throw new DripError(
      "config",
      `DATABASE_URL ${url}: ${target === file ? "the database file" : "the folder"} ${target} is not writable by this user: fix its owner or permissions`,
    );
  }
}

/** The transport makeTransport (src/wiring.ts) would pick, by name. */
export function transportName(config: Config): "resend" | "outbox" {
  return config.transport === "resend" && config.resendApiKey ? "resend" : "outbox";
}
