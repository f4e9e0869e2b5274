/**
 * The PostgreSQL adapter: the Store contract (tests/store/contract.ts) on a real server (the
 * run's embedded one, or DRIP_TEST_DATABASE_URL), one database for this file, emptied between
 * tests; plus what only Postgres has: two pools claiming at once, the advisory-locked migrations.
 */
import { describe, expect, it } from "vitest";
import { PG_MIGRATIONS } from "../../src/store/postgres/migrations.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.ts";
import { at, MINUTE } from "../support/engine-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { describeStoreContract, enrolled } from "./contract.ts";

const db = pgDatabase();

describeStoreContract("postgres", async () => {
  const s = new PostgresStore(db.url);
  await s.migrate();
  await db.reset();
  return s;
});

const T0 = at("2027-01-04T10:00:00Z");

describe("postgres only", () => {
  it("has the same migration ids and names as SQLite", () => {
    expect(PG_MIGRATIONS.map((m) => [m.id, m.name])).toEqual(MIGRATIONS.map((m) => [m.id, m.name]));
  });

  it("two stores (two pools, as two workers) started at once migrate once, then claim 200 due steps without sharing one", async () => {
    await db.reset();
    const one = new PostgresStore(db.url);
    const two = new PostgresStore(db.url);
    try {
      await Promise.all([one.migrate(), two.migrate(), one.migrate()]);
      for (let i = 0; i < 200; i++) await enrolled(one, `w${i}@example.com`, T0);
      const got: number[][] = [[], []];
      for (let round = 0; round < 50; round++) {
        const [a, b] = await Promise.all([one.claimDue(T0, 7, 5 * MINUTE, "a"), two.claimDue(T0, 7, 5 * MINUTE, "b")]);
        got[0]!.push(...a.map((c) => c.enrollmentId));
        got[1]!.push(...b.map((c) => c.enrollmentId));
        if (a.length + b.length === 0) break;
      }
      expect(got[0]!.length + got[1]!.length).toBe(200);
      expect(new Set([...got[0]!, ...got[1]!]).size).toBe(200);
      expect(got[0]!.length).toBeGreaterThan(0);
      expect(got[1]!.length).toBeGreaterThan(0);
      const state = await one.migrationState();
      expect(state).toEqual({ applied: PG_MIGRATIONS.map((m) => m.id), pending: [] });
    } finally {
      await one.close();
      await two.close();
    }
  });
});
