/**
 * A full disk (simulated with PRAGMA max_page_count on the one connection this process uses
 * for the file) is said as "the disk is full", not masked by a failed ROLLBACK ("cannot
 * rollback - no transaction is active"), and nothing stored is damaged.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { coerceError, DripError } from "../../src/errors.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string>;
const NOW = new Date("2026-10-28T12:00:00Z");
const drip = (argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });

beforeEach(() => {
  dir = tempDir("drip-full-");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

/** Hold the process's connection to the file open and cap it at its current size. */
function fillUp(spare = 0): { store: SqliteStore; raw: Database.Database } {
  const store = new SqliteStore(env.DATABASE_URL!);
  const raw = (store as unknown as { raw: Database.Database }).raw;
  raw.pragma(`max_page_count = ${(raw.pragma("page_count", { simple: true }) as number) + spare}`);
  return { store, raw };
}

const rows = (n: number) => ["email,name", ...Array.from({ length: n }, (_, i) => `reader${i}@example.com,${"N".repeat(90)}`)].join("\n");

describe("a full database", () => {
  it("a write in a transaction fails with SQLITE_FULL, which the edges say as 'the disk is full'; the connection stays usable", async () => {
    expect((await drip(["subscribe", "first@example.com"])).code).toBe(0);
    const { store, raw } = fillUp();
    try {
      const input = Array.from({ length: 500 }, (_, i) => ({ email: `r${i}@example.com`, name: "N".repeat(90), status: "pending" as const }));
      const err = await store.importSubscribers(input, NOW).then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code).toBe("SQLITE_FULL");
      expect(String((err as Error).message)).not.toContain("cannot rollback");
      const coerced = coerceError(err);
      expect(coerced).toBeInstanceOf(DripError);
      expect((coerced as DripError).message).toMatch(/^the disk is full/);
      expect(raw.inTransaction).toBe(false);
      raw.pragma("max_page_count = 1073741823");
      await store.importSubscribers([{ email: "after@example.com", name: "A", status: "pending" }], NOW);
      expect((await store.status()).subscribers.pending).toBe(2);
    } finally {
      await store.close();
    }
  });

  it("drip import says the disk is full in one sentence (exit 1) and the subscribers already stored are intact", async () => {
    expect((await drip(["subscribe", "first@example.com", "--name", "First"])).code).toBe(0);
    writeFileSync(join(dir, "big.csv"), rows(600));
    const { store } = fillUp();
    try {
      const r = await drip(["import", join(dir, "big.csv")]);
      expect(r.code).toBe(1);
      expect(r.err).toBe("drip: the disk is full: free some space; nothing was changed\n");
    } finally {
      await store.close();
    }
    const out = (await drip(["export"])).out.trim().split("\n");
    expect(out).toHaveLength(2);
    expect(out[1]).toMatch(/^first@example.com,First,/);
  });

  it("an import that fills the disk part-way says where it stopped and that running it again brings in the rest", async () => {
    expect((await drip(["subscribe", "first@example.com"])).code).toBe(0);
    writeFileSync(join(dir, "big.csv"), rows(3000));
    const { store } = fillUp(60); // room for a page or two of 500 rows, not six (with the dashboard's search indexes, migration 7)
    let stored: number;
    try {
      const r = await drip(["import", join(dir, "big.csv")]);
      expect(r.code).toBe(1);
      const m =
        /^drip: the disk is full: free some space: the import stopped at line (\d+); the ([\d,]+) rows before it are in, so run the same import again to bring in the rest \(rows already there are skipped\)\n$/.exec(
          r.err,
        );
      expect(m, r.err).not.toBeNull();
      stored = Number(m![2]!.replace(/,/g, ""));
      expect(stored).toBeGreaterThanOrEqual(500);
      expect(stored).toBeLessThan(3000);
      expect(Number(m![1])).toBe(stored + 2); // header on line 1, pages are whole
    } finally {
      await store.close();
    }
    expect((await drip(["export"])).out.trim().split("\n")).toHaveLength(1 + 1 + stored);
    const again = await drip(["import", join(dir, "big.csv"), "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ imported: 3000 - stored, existing: stored });
  });
});
