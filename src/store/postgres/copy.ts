/**
 * `drip db copy`: a SQLite store into an empty PostgreSQL database, table by table in
 * foreign-key order, in pages, ids kept (identity sequences moved past them), then the
 * counts verified. Refuses a target that holds any row, and a source with a table or a
 * migration this build cannot copy (a table added to SQLite needs its line here and its
 * Postgres migration).
 */
import { type Kysely, sql } from "kysely";
import { DripError } from "../../errors.ts";
import type { DB } from "../schema.ts";
import type { SqliteStore } from "../sqlite/sqlite-store.ts";
import { PG_MIGRATIONS } from "./migrations.ts";
import type { PostgresStore } from "./postgres-store.ts";

/** Every table a store holds, parents before children; `identity`: its generated id column. */
export const COPY_TABLES: { name: string; identity?: string }[] = [
  { name: "meta" },
  { name: "subscribers" },
  { name: "tags" },
  { name: "suppressions" },
  { name: "enrollments", identity: "id" },
  { name: "batches" },
  { name: "sends" },
  { name: "events", identity: "id" },
  { name: "confirmations", identity: "id" },
  { name: "subscriber_topics" },
  { name: "newsletter_issues" },
  { name: "feed_state" },
  { name: "feed_items" },
  { name: "sequence_versions", identity: "id" },
  { name: "automation_runs", identity: "id" },
  { name: "staff" },
  { name: "staff_links" },
  { name: "staff_sessions" },
  { name: "audit_log", identity: "id" },
];

const PAGE = 1000;
type AnyDb = Kysely<Record<string, Record<string, unknown>>>;

export interface CopyProgress {
  table: string;
  done: number;
  total: number;
}

export async function copySqliteToPostgres(
  source: SqliteStore,
  target: PostgresStore,
  onProgress: (p: CopyProgress) => void = () => {},
): Promise<{ table: string; rows: number }[]> {
  const src = source.db as unknown as AnyDb;
  const dst = target.db as unknown as AnyDb;
  const tables = (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`.execute(source.db)).rows.map(
    (r) => r.name,
  );
  const unknown = tables.filter((t) => t !== "drip_migrations" && !COPY_TABLES.some((c) => c.name === t));
  if (unknown.length) throw new DripError("failed", `the SQLite store has table(s) this build cannot copy yet: ${unknown.join(", ")}; nothing was copied`);
  const applied = (await sql<{ id: number }>`SELECT id FROM drip_migrations`.execute(source.db)).rows.map((r) => r.id);
  const missing = applied.filter((id) => !PG_MIGRATIONS.some((m) => m.id === id));
  if (missing.length)
    throw new DripError(
      "failed",
      `the SQLite store is at migration ${Math.max(...applied)}, which has no PostgreSQL version in this build; nothing was copied`,
    );

  await target.migrate();
  for (const t of COPY_TABLES) {
    const row = await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(t.name)}`.execute(target.db);
    if (Number(row.rows[0]?.n ?? 0) > 0)
      throw new DripError("conflict", `the target database is not empty (table ${t.name} has rows): copy only into a new, empty database; nothing was copied`);
  }

  const counts: { table: string; rows: number }[] = [];
  await dst.transaction().execute(async (tx) => {
    for (const t of COPY_TABLES) {
      if (!tables.includes(t.name)) continue;
      const total = Number((await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(t.name)}`.execute(source.db)).rows[0]?.n ?? 0);
      onProgress({ table: t.name, done: 0, total });
      let done = 0;
      // Paged by rowid (every drip table in SQLite has one but tags, paged by its key).
      for (let offset = 0; offset < total; offset += PAGE) {
        const rows = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(t.name)} ORDER BY rowid LIMIT ${PAGE} OFFSET ${offset}`
          .execute(source.db)
          .catch(() => sql<Record<string, unknown>>`SELECT * FROM ${sql.table(t.name)} ORDER BY 1, 2 LIMIT ${PAGE} OFFSET ${offset}`.execute(source.db));
        if (rows.rows.length === 0) break;
        await tx
          .insertInto(t.name)
          .values(rows.rows as Record<string, unknown>[])
          .execute();
        done += rows.rows.length;
        onProgress({ table: t.name, done, total });
      }
      if (t.identity)
        await sql`SELECT setval(pg_get_serial_sequence(${t.name}, ${t.identity}), GREATEST((SELECT max(${sql.ref(t.identity)}) FROM ${sql.table(t.name)}), 1))`.execute(
          tx,
        );
      counts.push({ table: t.name, rows: done });
    }
    // Verify inside the transaction: a count that differs rolls the whole copy back.
    for (const c of counts) {
      const got = Number((await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(c.table)}`.execute(tx)).rows[0]?.n ?? 0);
      const want = Number((await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(c.table)}`.execute(source.db)).rows[0]?.n ?? 0);
      if (got !== want)
        throw new DripError("failed", `verification failed: ${c.table} has ${got} rows in PostgreSQL but ${want} in SQLite; nothing was copied`);
    }
  });
  void src;
  return counts;
}

/** Applied migrations of either store (for `drip db migrate`). */
export async function appliedMigrations(db: Kysely<DB>): Promise<number[]> {
  return (await sql<{ id: number }>`SELECT id FROM drip_migrations ORDER BY id`.execute(db)).rows.map((r) => Number(r.id));
}
