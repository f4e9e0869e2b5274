/**
 * Moving an install to PostgreSQL and running many workers, through the CLI: `drip db copy`
 * (empty target only, counts verified, ids kept), `drip db migrate`, `drip status` listing
 * workers, `--workers` refused on SQLite.
 */
import { PG_MIGRATIONS } from "../../src/store/postgres/migrations.ts";
import { afterAll, describe, expect, it } from "vitest";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { PgWorker } from "../../src/store/postgres/worker.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { drip } from "../helpers/cli.ts";
import { MINUTE, at, cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { enrolled } from "./contract.ts";

const db = pgDatabase();
const T0 = at("2027-01-04T10:00:00Z");
afterAll(() => cleanupTempDirs());

describe("drip db copy", () => {
  it("copies every table into an empty database with ids and counts intact, then refuses to copy into it again", async () => {
    await db.reset();
    const dir = tempDir("drip-copy-");
    const sqliteUrl = `file:${dir}/drip.db`;
    const src = new SqliteStore(sqliteUrl);
    await src.migrate();
    for (let i = 0; i < 30; i++) await enrolled(src, `c${i}@example.com`, T0);
    const { subscriber } = await src.upsertSubscriber({ email: "tagged@example.com", status: "active", tags: ["vip", "alpha"] }, T0);
    await src.suppress("gone@example.com", "bounce", T0);
    const [claim] = await src.claimDue(T0, 1, 5 * MINUTE);
    await src.recordOutcome(claim!, { status: "sent", at: T0, providerMessageId: "m-1" }, { kind: "completed" });
    await src.recordEvent({ subscriberId: claim!.subscriber.id, sendId: claim!.sendId, type: "opened", at: T0, svixId: "svix-1" });
    await src.initMeta("secret", "s3cret-kept");
    await src.recordVersion({ sequenceId: "seq", hash: "abc123abc123", snapshot: { steps: [] }, changes: { changes: [] }, at: T0 });
    await src.close();

    const env = { DATABASE_URL: sqliteUrl };
    const r = await drip(["db", "copy", "--to", db.url, "--json"], env);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const tables = Object.fromEntries((JSON.parse(r.out) as { tables: { table: string; rows: number }[] }).tables.map((t) => [t.table, t.rows]));
    expect(tables).toMatchObject({ subscribers: 31, tags: 2, suppressions: 1, enrollments: 30, sends: 1, events: 1, meta: 1, sequence_versions: 1 });

    const pg = new PostgresStore(db.url);
    try {
      expect(await pg.getMeta("secret")).toBe("s3cret-kept");
      expect(await pg.liveVersion("seq")).toMatchObject({ number: 1, hash: "abc123abc123" });
      expect((await pg.getSubscriber(subscriber.id))?.tags).toEqual(["alpha", "vip"]);
      expect(await pg.isSuppressed("GONE@example.com")).toBe(true);
      expect(await pg.getSend(claim!.sendId)).toMatchObject({ status: "sent", providerMessageId: "m-1" });
      expect(await pg.recordEvent({ subscriberId: null, sendId: null, type: "opened", at: T0, svixId: "svix-1" })).toBe(false);
      // Ids kept, and new rows get ids after them (the identity sequence moved past the copy).
      const copied = (await pg.getEnrollment(claim!.subscriber.id, "seq"))!;
      expect(copied.id).toBe(claim!.enrollmentId);
      const fresh = await enrolled(pg, "new@example.com", T0);
      expect((await pg.getEnrollment(fresh.id, "seq"))!.id).toBeGreaterThan(30);
      // The copy claims where SQLite left off: the 29 due steps not sent.
      expect(await pg.claimDue(T0, 100, MINUTE)).toHaveLength(30);
    } finally {
      await pg.close();
    }

    const again = await drip(["db", "copy", "--to", db.url], env);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/the target database is not empty \(table \w+ has rows\): copy only into a new, empty database; nothing was copied/);
  });

  it("refuses a target that is not a postgres URL, in one sentence", async () => {
    const r = await drip(["db", "copy", "--to", "mysql://x/y"], { DATABASE_URL: `file:${tempDir("drip-copy-")}/drip.db` });
    expect(r.code).toBe(2);
    expect(r.err).toContain('--to "mysql://x/y" must be a postgres:// or postgresql:// URL');
  });
});

describe("drip db migrate and status", () => {
  it("applies the migrations without starting, then status lists the live workers, what each holds and who runs the duties", async () => {
    await db.reset();
    const env = { DATABASE_URL: db.url };
    const m = await drip(["db", "migrate", "--json"], env);
    expect(m.code).toBe(0);
    expect(JSON.parse(m.out).migrations).toEqual(PG_MIGRATIONS.map((x) => x.id)); // every one, in order

    const store = new PostgresStore(db.url);
    const one = new PgWorker(store, db.url, MINUTE);
    const two = new PgWorker(store, db.url, MINUTE);
    try {
      for (let i = 0; i < 3; i++) await enrolled(store, `s${i}@example.com`, T0);
      await one.start();
      await two.start();
      await store.claimDue(T0, 2, MINUTE, one.owner);
      const r = await drip(["status", "--json"], env);
      expect(r.code).toBe(0);
      const workers = (JSON.parse(r.out) as { workers: { id: string; alive: boolean; claims: number; duties: string }[] }).workers;
      expect(workers.map((w) => [w.id, w.claims, w.duties])).toEqual([
        [one.id, 2, "leader"],
        [two.id, 0, ""],
      ]);
      // The leader stops: its session ends, and the other worker's next heartbeat takes the duties.
      await one.stop();
      await two.heartbeat();
      expect(two.leads).toBe(true);
      const text = await drip(["status"], env);
      expect(text.out).toContain("workers      1 live");
      expect(text.out).toContain(`${two.id}  alive`);
    } finally {
      await one.stop();
      await two.stop();
      await store.close();
    }
  });

  it("--workers 2 on SQLite is refused with what to do", async () => {
    const r = await drip(["start", "--workers", "2"], { DATABASE_URL: `file:${tempDir("drip-w-")}/drip.db` });
    expect(r.code).toBe(2);
    expect(r.err).toContain("--workers 2 needs PostgreSQL (DATABASE_URL=postgres://…)");
  });
});
