/**
 * `drip db backup <file>`: SQLite's online backup, consistent while another connection keeps
 * writing (as drip start does); the copy opens and holds every subscriber written before it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/wiring.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

afterEach(() => cleanupTempDirs());

describe("drip db backup", () => {
  it("copies the database while it is being written; refuses to overwrite", async () => {
    const dir = tempDir("drip-backup-");
    const env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
    const app = await createApp(loadConfig(env));
    try {
      const now = new Date("2026-10-28T12:00:00Z");
      for (let i = 0; i < 300; i++)
        await app.lifecycle.subscribe({ email: `b${i}@example.com`, name: "", timezone: "", tags: [] }, { confirmed: false, source: "test" }, now);
      // Writes go on while the backup runs.
      let writing = true;
      const writer = (async () => {
        for (let i = 300; writing; i++)
          await app.lifecycle.subscribe({ email: `b${i}@example.com`, name: "", timezone: "", tags: [] }, { confirmed: false, source: "test" }, now);
      })();
      const r = await runDrip(["db", "backup", "backup.db", "--json"], { env, cwd: dir });
      writing = false;
      await writer;
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ file: join(dir, "backup.db") });
      const copy = new Database(join(dir, "backup.db"), { readonly: true });
      expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
      expect((copy.prepare("SELECT count(*) AS n FROM subscribers").get() as { n: number }).n).toBeGreaterThanOrEqual(300);
      copy.close();
      const again = await runDrip(["db", "backup", "backup.db"], { env, cwd: dir });
      expect(again.code).toBe(2);
      expect(again.err).toBe("drip: backup.db already exists: give a new file name (a backup never overwrites)\n");
      expect(existsSync(join(dir, "backup.db"))).toBe(true);
    } finally {
      await app.close();
    }
  });
});
