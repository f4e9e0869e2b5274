/**
 * SQLite's group commit (SqliteStore.transaction): transactions asked for in the same turn run
 * one after another in one BEGIN IMMEDIATE … COMMIT, each in its own savepoint. Watched from a
 * second connection on the same file, which sees only what was committed.
 */
import Database from "better-sqlite3";
import { sql } from "kysely";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { GROUP_LIMIT, SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { at, cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";
import { enrolled } from "./contract.ts";

const T0 = at("2027-01-04T10:00:00Z");
let store: SqliteStore;
let path: string;
/** What another process would see: committed rows only. */
let observer: Database.Database;

beforeEach(async () => {
  path = `${tempDir("drip-group-")}/drip.db`;
  store = new SqliteStore(`file:${path}`);
  await store.migrate();
  observer = new Database(path, { readonly: true });
});
afterEach(async () => {
  observer.close();
  await store.close();
});
afterAll(() => cleanupTempDirs());

const committed = (key: string) => observer.prepare("SELECT value FROM meta WHERE key = ?").pluck().get(key) ?? null;

describe("group commit", () => {
  it("commits the transactions asked for in one turn together: each answered only after the commit that holds it", async () => {
    const seenWhenFirstAnswered: (unknown | null)[] = [];
    const first = store
      .transaction(async (tx) => tx.setMeta("k1", "one"))
      .then(() => {
        // Answered after its commit, and that commit holds the others too.
        seenWhenFirstAnswered.push(committed("k1"), committed("k2"), committed("k3"));
      });
    const second = store.transaction(async (tx) => {
      // Serial inside the group: the member before is visible to this one.
      expect(await tx.getMeta("k1")).toBe("one");
      await tx.setMeta("k2", "two");
    });
    const third = store.transaction(async (tx) => {
      await tx.setMeta("k3", "three");
      return "result of the third";
    });
    expect(committed("k1")).toBeNull(); // nothing has run yet: the group starts after this turn
    await Promise.all([first, second]);
    expect(await third).toBe("result of the third");
    expect(seenWhenFirstAnswered).toEqual(["one", "two", "three"]);
  });

  it("rolls back a member that throws to its own savepoint: its caller gets the error, the others commit", async () => {
    const results = await Promise.allSettled([
      store.transaction(async (tx) => tx.setMeta("a", "kept")),
      store.transaction(async (tx) => {
        await tx.setMeta("b", "rolled back");
        await enrolled(tx, "bea@example.com", T0);
        throw new Error("the second member fails after writing");
      }),
      store.transaction(async (tx) => tx.setMeta("c", "kept too")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/the second member fails/);
    expect([committed("a"), committed("b"), committed("c")]).toEqual(["kept", null, "kept too"]);
    expect(await store.findSubscriberByEmail("bea@example.com")).toBeNull();
    expect(observer.prepare("SELECT count(*) FROM enrollments").pluck().get()).toBe(0);
  });

  it("when SQLite ends the whole transaction (database full), every member gets the error and nothing of theirs is stored", async () => {
    const pages = Number((await sql<{ page_count: number }>`PRAGMA page_count`.execute(store.db)).rows[0]!.page_count);
    await sql.raw(`PRAGMA max_page_count = ${pages + 1}`).execute(store.db);
    try {
      const results = await Promise.allSettled([
        store.transaction(async (tx) => tx.setMeta("before", "written, then lost with the group")),
        store.transaction(async (tx) => tx.setMeta("big", "x".repeat(200_000))), // more pages than the file may grow by: SQLITE_FULL
        store.transaction(async (tx) => tx.setMeta("after", "never ran")),
      ]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
      for (const r of results) expect(String((r as PromiseRejectedResult).reason)).toMatch(/full/i);
      expect([committed("before"), committed("big"), committed("after")]).toEqual([null, null, null]);
    } finally {
      await sql.raw("PRAGMA max_page_count = 4294967294").execute(store.db);
    }
    // The store goes on: the next transaction commits.
    await store.transaction(async (tx) => tx.setMeta("later", "fine"));
    expect(committed("later")).toBe("fine");
  });

  it(`takes at most ${GROUP_LIMIT} transactions a group; the rest follow in the next group, all committed`, async () => {
    const n = GROUP_LIMIT * 2 + 3;
    const answered: number[] = [];
    let committedWhenFirstAnswered = -1;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        store
          .transaction(async (tx) => tx.setMeta(`m${i}`, String(i)))
          .then(() => {
            // Each one answered only once its own row is committed.
            expect(committed(`m${i}`)).toBe(String(i));
            if (answered.length === 0) committedWhenFirstAnswered = observer.prepare("SELECT count(*) FROM meta WHERE key LIKE 'm%'").pluck().get() as number;
            answered.push(i);
          }),
      ),
    );
    expect(answered.sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    // The first group held GROUP_LIMIT: when its first member was answered, the next group had not committed.
    expect(committedWhenFirstAnswered).toBe(GROUP_LIMIT);
    expect(observer.prepare("SELECT count(*) FROM meta WHERE key LIKE 'm%'").pluck().get()).toBe(n);
  });

  it("keeps a nested transaction inside its caller's (no group of its own)", async () => {
    await store.transaction(async (tx) => {
      await tx.setMeta("outer", "1");
      await tx.transaction(async (inner) => inner.setMeta("inner", "2"));
      expect(committed("inner")).toBeNull(); // not committed before the outer transaction is
    });
    expect([committed("outer"), committed("inner")]).toEqual(["1", "2"]);
  });
});
