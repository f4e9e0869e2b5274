/**
 * One PostgreSQL database per test file on the run's shared server (pg-global-setup.ts):
 * `const db = pgDatabase()` at the top of a file creates it before the file's tests and drops
 * it after; `db.url` connects to it, `db.reset()` empties every table (between tests).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";

export function databaseUrl(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createDatabase(adminUrl: string, prefix = "drip_test"): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    url: databaseUrl(adminUrl, name),
    drop: () => admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** The statement that empties every drip table (the schema and the migrations record stay): one round trip. */
const RESET = `DO $$
DECLARE t text;
BEGIN
  SET CONSTRAINTS ALL DEFERRED;
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'drip_migrations' LOOP
    -- DELETE, not TRUNCATE: on a handful of rows it is many times faster (TRUNCATE rewrites every table's files).
    EXECUTE format('DELETE FROM %I', t);
  END LOOP;
END $$`;

/** Empty every drip table (the schema and the migrations record stay). */
export async function resetDatabase(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(RESET);
  } finally {
    await c.end();
  }
}

export function pgDatabase(prefix?: string): { readonly url: string; reset: () => Promise<void> } {
  let db: { url: string; drop: () => Promise<void> } | null = null;
  // One connection for the file's resets (a new one costs more than the reset itself); made again if it broke.
  let resetter: Promise<pg.Client> | null = null;
  const connect = async () => {
    const c = new pg.Client({ connectionString: db!.url });
    c.on("error", () => {
      resetter = null;
    });
    await c.connect();
    return c;
  };
  beforeAll(async () => {
    db = await createDatabase(inject("pgAdminUrl"), prefix);
  });
  afterAll(async () => {
    const c = resetter;
    resetter = null;
    await (await c?.catch(() => null))?.end();
    await db?.drop();
  });
  return {
    get url() {
      if (!db) throw new Error("pgDatabase(): the database is made in beforeAll; read .url inside a test or hook");
      return db.url;
    },
    reset: async () => {
      resetter ??= connect();
      try {
        await (await resetter).query(RESET);
      } catch (err) {
        resetter = null;
        throw err;
      }
    },
  };
}

/**
 * Every query the `pg` clients of this process send while `fn` runs, BEGIN and COMMIT included
 * (one per round trip): patches pg.Client#query for the call.
 */
export async function pgQueries(fn: () => Promise<unknown>): Promise<string[]> {
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  const seen: string[] = [];
  proto.query = function (this: unknown, ...args: unknown[]) {
    const cfg = args[0] as string | { text?: string };
    seen.push(typeof cfg === "string" ? cfg : (cfg?.text ?? ""));
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    proto.query = original;
  }
  return seen;
}

/** The statements `fn` runs on PostgreSQL, BEGIN/COMMIT/ROLLBACK left out. */
export async function pgStatements(fn: () => Promise<unknown>): Promise<string[]> {
  return (await pgQueries(fn)).filter((s) => !/^\s*(BEGIN|COMMIT|ROLLBACK)/i.test(s));
}

/** A migrated store on `db`, emptied; its close is added to `cleanups` (run by the file's afterEach). */
export async function freshPgStore(db: { url: string; reset: () => Promise<void> }, cleanups: (() => Promise<void> | void)[]): Promise<PostgresStore> {
  const s = new PostgresStore(db.url);
  await s.migrate();
  await db.reset();
  cleanups.push(() => s.close());
  return s;
}
