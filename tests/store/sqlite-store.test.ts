/**
 * The SQLite adapter: the Store contract (tests/store/contract.ts) on a fresh in-memory
 * database, plus what only SQLite has: two instances
 * in one process, the claim query's index, re-migration, hashed rows on disk. Claims across processes on one file: claim-processes.soak.test.ts.
 */
import { CompiledQuery, sql } from "kysely";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { HOUR, MINUTE, at, cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";
import { describeStoreContract, enrolled } from "./contract.ts";

describeStoreContract("sqlite", async () => {
  const s = new SqliteStore(":memory:");
  await s.migrate();
  return s;
});

const T0 = at("2027-01-04T10:00:00Z");
const LEASE = 5 * MINUTE;
let store: SqliteStore;

beforeEach(async () => {
  store = new SqliteStore(":memory:");
  await store.migrate();
});
afterEach(async () => store.close());
afterAll(() => cleanupTempDirs());

/** The statements `fn` runs on the store, with their parameters (readers only). */
async function statements(fn: () => Promise<unknown>): Promise<{ sql: string; params: unknown[] }[]> {
  // biome-ignore lint/complexity/useLiteralKeys: reaching a private field on purpose (TypeScript allows it only with brackets)
  const raw = store["raw"];
  const prepare = raw.prepare.bind(raw);
  const seen: { sql: string; params: unknown[] }[] = [];
  raw.prepare = ((text: string) => {
    const stmt = prepare(text);
    const all = stmt.all.bind(stmt);
    if (stmt.reader)
      stmt.all = ((...params: unknown[]) => {
        seen.push({ sql: text, params: params.flat() });
        return all(...(params as []));
      }) as typeof stmt.all;
    return stmt;
  }) as typeof raw.prepare;
  try {
    await fn();
  } finally {
    raw.prepare = prepare;
  }
  return seen;
}

describe("subscribers", () => {
  it("suppression stores a hash, never the address", async () => {
    await store.suppress("Ana@X.com", "hard bounce", T0);
    await store.suppress("ana@x.com", "again", T0); // harmless
    for (const e of ["ana@x.com", "ANA@X.COM", "Ana@X.com", " ana@x.com "]) expect(await store.isSuppressed(e), e).toBe(true);
    expect(await store.isSuppressed("bob@x.com")).toBe(false);
    const rows = await store.db.selectFrom("suppressions").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows).toLowerCase()).not.toContain("ana");
  });
});

describe("claims", () => {
  it("two SqliteStore instances on one file in the same process can claim in parallel without 'database is locked'", async () => {
    const dir = tempDir("drip-claims-");
    const one = new SqliteStore(`file:${dir}/drip.db`);
    await one.migrate();
    const two = new SqliteStore(`file:${dir}/drip.db`);
    try {
      for (let i = 0; i < 40; i++) await enrolled(one, `q${i}@example.com`, T0);
      const [a, b] = await Promise.all([one.claimDue(T0, 25, LEASE), two.claimDue(T0, 25, LEASE)]);
      const ids = [...a, ...b].map((c) => c.enrollmentId);
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    } finally {
      await one.close();
      await two.close();
    }
  }, 20_000);

  it("the claim query uses the enrollments_due index (EXPLAIN QUERY PLAN of the exact statement claimDue runs)", async () => {
    for (let i = 0; i < 50; i++) await enrolled(store, `e${i}@example.com`, new Date(T0.getTime() + i * HOUR));
    // The statements claimDue runs, with their parameters.
    const seen = await statements(() => store.claimDue(T0, 100, LEASE));
    const claim = seen.find((s) => /from\s+"?enrollments"?/i.test(s.sql) && /next_due_at/.test(s.sql));
    expect(claim, "claimDue reads due enrollments").toBeDefined();
    const plan = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${claim!.sql}`, claim!.params));
    const details = plan.rows.map((r) => r.detail).join(" | ");
    expect(details).toMatch(/USING (COVERING )?INDEX enrollments_due/);
    expect(details).not.toMatch(/SCAN enrollments(?! USING)/);
    expect(details).not.toMatch(/TEMP B-TREE/); // ordered by the index, no sort of every active row
  });
});

describe("migrations and status", () => {
  it("migrate() twice is harmless: no error, data kept, each migration recorded once", async () => {
    await store.upsertSubscriber({ email: "keep@example.com", status: "active" }, T0);
    await store.migrate();
    await store.migrate();
    expect(await store.findSubscriberByEmail("keep@example.com")).not.toBeNull();
    const rows = await sql<{ id: number }>`SELECT id FROM drip_migrations ORDER BY id`.execute(store.db);
    expect(rows.rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
  });
});

describe("migration 14: indexes another index already serves are gone", () => {
  const plan = async (text: string, params: unknown[]) =>
    (await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${text}`, params))).rows.map((r) => r.detail).join(" | ");

  it("enrollments by sequence and status read enrollments_queue, events by send read events_send_type", async () => {
    const names = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'index'`.execute(store.db);
    expect(names.rows.map((r) => r.name)).not.toContain("enrollments_sequence");
    expect(names.rows.map((r) => r.name)).not.toContain("events_send");
    // The shapes of the queries the dropped indexes served (course and newsletter counts, step results).
    expect(await plan(`select count(*) as "n" from "enrollments" where "sequence_id" = ? and "status" = ?`, ["seq", "active"])).toMatch(
      /SEARCH enrollments USING COVERING INDEX enrollments_queue \(sequence_id=\? AND status=\?\)/,
    );
    expect(await plan(`select "id", "subscriber_id" from "enrollments" where "sequence_id" = ?`, ["seq"])).toMatch(
      /USING INDEX enrollments_queue \(sequence_id=\?\)/,
    );
    expect(await plan(`select "type" from "events" where "send_id" = ?`, ["s1"])).toMatch(/USING COVERING INDEX events_send_type \(send_id=\?\)/);
    expect(
      await plan(
        `select "v"."type", count(distinct v.send_id) as "n" from "events" as "v" inner join "sends" as "d" on "d"."id" = "v"."send_id" where "d"."sequence_id" = ? group by "v"."type"`,
        ["seq"],
      ),
    ).toMatch(/SEARCH v USING (COVERING )?INDEX events_send_type \(send_id=\?\)/);
  });
});

describe("migration 16: no index repeats the front of another", () => {
  it("no plain index's columns are the leading columns of another plain index on the same table (each is one more write per row)", async () => {
    const indexes = await sql<{ tbl: string; name: string; sql: string | null }>`
      SELECT tbl_name AS tbl, name, sql FROM sqlite_master WHERE type = 'index'`.execute(store.db);
    // Plain: not UNIQUE (a constraint, not just a lookup), not partial (a different row set).
    const plain = indexes.rows.filter((i) => i.sql !== null && !/^CREATE UNIQUE/i.test(i.sql) && !/\bWHERE\b/i.test(i.sql));
    const columns = new Map<string, string[]>();
    for (const i of plain) {
      const cols = await sql<{ name: string | null; key: number }>`SELECT name, key FROM pragma_index_xinfo(${i.name})`.execute(store.db);
      columns.set(
        i.name,
        cols.rows.filter((c) => c.key === 1).map((c) => c.name ?? "<expr>"),
      );
    }
    const repeats: string[] = [];
    for (const a of plain)
      for (const b of plain) {
        if (a.name === b.name || a.tbl !== b.tbl) continue;
        const ca = columns.get(a.name)!;
        const cb = columns.get(b.name)!;
        if (ca.includes("<expr>") || ca.length > cb.length) continue;
        if (ca.every((c, k) => cb[k] === c) && (ca.length < cb.length || a.name < b.name)) repeats.push(`${a.name} (${ca}) ⊆ ${b.name} (${cb})`);
      }
    expect(repeats).toEqual([]);
    expect(plain.map((i) => i.name)).toContain("sends_step_version");
    expect(plain.map((i) => i.name)).not.toContain("sends_sequence_step");
  });
});

describe("migration 15: sends by enrollment", () => {
  it("the reports that join enrollments to their sends look each one's sends up by sends_enrollment (EXPLAIN QUERY PLAN of the exact statements)", async () => {
    for (let i = 0; i < 20; i++) await enrolled(store, `r${i}@example.com`, new Date(T0.getTime() + i * HOUR));
    const seen = [
      ...(await statements(() => store.issueReport("weekly-1"))),
      ...(await statements(() => store.missingRecipients("weekly-1", 50))),
      ...(await statements(() => store.enrollmentPositions("seq"))),
    ].filter((s) => /"?\w+"?\."?enrollment_id"?/.test(s.sql));
    // The issue report's counts, its missing recipients, and the positions a live edit moves.
    expect(seen).toHaveLength(3);
    for (const s of seen) {
      const plan = (await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${s.sql}`, s.params))).rows
        .map((r) => r.detail)
        .join(" | ");
      expect(plan, s.sql).toMatch(/USING (COVERING )?INDEX sends_enrollment \(enrollment_id=\?\)/);
      expect(plan, s.sql).not.toMatch(/SCAN (d|sends)\b/);
    }
  });
});
