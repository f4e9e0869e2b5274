/**
 * An import whose rows carry a tag that triggers an automation (`booked` starts the
 * post-booking sequence): 10,000 rows in one pass, every automation fired exactly once, in
 * one transaction per import page (20 pages of 500), never one per person. A second run of
 * the same file fires nothing. The time it takes is printed (and measured in `npm run bench`).
 */
import { createReadStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { importCsv, readCsv } from "../../src/lifecycle/import.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/types.ts";
import { createApp } from "../../src/wiring.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

const ROWS = 10_000;
const NOW = new Date("2026-10-28T12:00:00Z");
afterAll(() => cleanupTempDirs());

function csvFile(dir: string): string {
  const lines = ["email,name,timezone,tags"];
  for (let i = 0; i < ROWS; i++) lines.push(`reader${i}@example.com,Reader ${i},Europe/London,booked;blog`);
  const file = join(dir, "booked.csv");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

describe("an import that fires an automation for every row", () => {
  it("10,000 rows tagged booked: one pass, every automation once, one transaction per page", async () => {
    const dir = tempDir("drip-import-automations-");
    const env = { DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_SECRET: "x".repeat(40) };
    const file = csvFile(dir);
    const app = await createApp(loadConfig(env));
    try {
      // The app's own door, over a store that counts the transactions it is asked for.
      let transactions = 0;
      const counting = new Proxy(app.store, {
        get(target, prop, receiver) {
          if (prop === "transaction")
            return <T>(fn: (tx: Store) => Promise<T>) => {
              transactions++;
              return target.transaction(fn);
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      const door = new Lifecycle({
        store: counting,
        sequences: app.engine,
        automations: () => app.automations.automations,
        forms: () => app.automations.forms,
      });
      const t0 = performance.now();
      const result = await importCsv(door, readCsv(createReadStream(file), { file }), { confirmed: true, now: NOW });
      const seconds = (performance.now() - t0) / 1000;
      console.log(`import of ${ROWS.toLocaleString("en-US")} rows firing the post-booking automation: ${seconds.toFixed(2)} s, ${transactions} transactions`);
      expect(result).toMatchObject({ imported: ROWS, enrolled: ROWS, badRows: 0, automations: { fired: ROWS, entered: ROWS } });
      expect(transactions).toBe(ROWS / 500);

      const db = (app.store as SqliteStore).db;
      const perSubscriber = await db
        .selectFrom("automation_runs")
        .select(["subscriber_id", db.fn.countAll<number>().as("n")])
        .where("automation_id", "=", "booked-starts-post-booking")
        .groupBy("subscriber_id")
        .execute();
      expect(perSubscriber).toHaveLength(ROWS);
      expect(perSubscriber.every((r) => Number(r.n) === 1)).toBe(true);
      const enrollments = await db
        .selectFrom("enrollments")
        .select(["sequence_id", db.fn.countAll<number>().as("n")])
        .groupBy("sequence_id")
        .orderBy("sequence_id")
        .execute();
      expect(enrollments.map((e) => [e.sequence_id, Number(e.n)])).toEqual([
        ["hip-pain-course", ROWS],
        ["post-booking", ROWS],
      ]);
    } finally {
      await app.close();
    }
    // Through the CLI, again: every row is there already, nothing fires twice.
    const again = await runDrip(["import", file, "--confirmed", "--json"], { env, cwd: dir, now: new Date(NOW.getTime() + 60_000) });
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ imported: 0, existing: ROWS, automations: { fired: 0, entered: 0 } });
  }, 600_000);
});
