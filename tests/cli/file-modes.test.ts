/**
 * Secrets at rest: the database holds the generated DRIP_SECRET, so a new database is 0600
 * (with its -wal/-shm) in a 0700 directory, whatever the umask; an existing one that others
 * can read is reported once, with the chmod that fixes it.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
const NOW = new Date("2026-10-28T12:00:00Z");
const mode = (p: string) => statSync(p).mode & 0o777;
const envFor = (db: string) => ({ DATABASE_URL: `file:${db}`, OUTBOX_DIR: join(dir, "outbox") });

beforeEach(() => {
  dir = tempDir("drip-modes-");
});
afterEach(() => cleanupTempDirs());

describe("a new database", () => {
  it("is created 0600 (and its -wal/-shm) in a 0700 data directory, and the secret it holds stays there", async () => {
    // The default layout of a fresh install (data/drip.db): the only missing folder drip creates
    // (any other missing folder is refused as a likely typo, tests/config-launch.test.ts).
    const db = join(dir, "data", "drip.db");
    const r = await runDrip(["subscribe", "ana@example.com"], { env: envFor(db), cwd: dir, now: NOW });
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(mode(join(dir, "data"))).toBe(0o700);
    expect(mode(db)).toBe(0o600);
    // The WAL files exist while a connection is open: look at them with one.
    const raw = new Database(db);
    raw.prepare("SELECT count(*) FROM subscribers").get();
    try {
      for (const side of ["-wal", "-shm"]) if (existsSync(db + side)) expect([side, mode(db + side)]).toEqual([side, 0o600]);
      expect(existsSync(`${db}-wal`)).toBe(true);
      expect(raw.prepare("SELECT value FROM meta WHERE key = 'secret'").pluck().get()).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      raw.close();
    }
  });

  it("does not change the mode of a directory it did not create", async () => {
    const existing = join(dir, "shared");
    mkdirSync(existing);
    chmodSync(existing, 0o755);
    const r = await runDrip(["status"], { env: envFor(join(existing, "drip.db")), cwd: dir, now: NOW });
    expect(r.code).toBe(0);
    expect(mode(existing)).toBe(0o755);
    expect(mode(join(existing, "drip.db"))).toBe(0o600);
  });
});

describe("an existing database others can read", () => {
  it("is reported with the chmod command that fixes it, once per process", async () => {
    const data = join(dir, "data");
    const db = join(data, "drip.db");
    expect((await runDrip(["status"], { env: envFor(db), cwd: dir, now: NOW })).code).toBe(0);
    chmodSync(data, 0o755);
    chmodSync(db, 0o644);
    const r = await runDrip(["status"], { env: envFor(db), cwd: dir, now: NOW });
    expect(r.code).toBe(0);
    const warnings = r.err.split("\n").filter((l) => l.includes("other local users can read"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`chmod 700 ${data} && chmod 600 ${db}`);

    const lines: string[] = [];
    for (let i = 0; i < 2; i++) await (await createApp(loadConfig(envFor(db)), (l) => lines.push(l))).close();
    expect(lines.filter((l) => l.includes("other local users can read"))).toHaveLength(0); // said once already in this process
  });

  it("a private database says nothing", async () => {
    const db = join(dir, "data", "drip.db");
    const lines: string[] = [];
    await (await createApp(loadConfig(envFor(db)), (l) => lines.push(l))).close();
    await (await createApp(loadConfig(envFor(db)), (l) => lines.push(l))).close();
    expect(lines.filter((l) => l.includes("other local users"))).toEqual([]);
  });
});
