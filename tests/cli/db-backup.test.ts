/**
 * `drip db backup <file>` while another process keeps writing (as `drip start` does): the copy
 * finishes (bounded: the writer stops by itself, the backup is raced against a deadline), opens,
 * passes PRAGMA integrity_check, and holds a consistent snapshot (every row's pair is whole).
 * On PostgreSQL it says backups are pg_dump's job.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

const NOW = new Date("2026-10-28T12:00:00Z");
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  cleanupTempDirs();
});

/**
 * A writer in its own process: two rows per transaction (a key and its twin), as fast as it
 * can, for at most `seconds`; prints "ready" after its first commit.
 */
function startWriter(dbFile: string, seconds: number): ChildProcess {
  const betterSqlite = createRequire(import.meta.url).resolve("better-sqlite3");
  const script = `
    const Database = require(${JSON.stringify(betterSqlite)});
    const db = new Database(${JSON.stringify(dbFile)});
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    const put = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    const pair = db.transaction((i) => { put.run("w" + i + "a", "x".repeat(200)); put.run("w" + i + "b", "x".repeat(200)); });
    const end = Date.now() + ${seconds * 1000};
    let i = 0;
    pair(i++);
    process.stdout.write("ready\\n");
    while (Date.now() < end) pair(i++);
    db.close();
  `;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return child;
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms))]);

describe("drip db backup", () => {
  it("copies a database another process is writing to: it finishes, opens, passes integrity_check, and is one consistent snapshot", {
    timeout: 90_000,
  }, async () => {
    const dir = tempDir("drip-backup-");
    const env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
    const drip = (argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });
    expect((await drip(["db", "migrate"])).code).toBe(0);
    // Some bulk, so the copy takes more than an instant.
    const seed = new Database(join(dir, "drip.db"));
    seed.pragma("journal_mode = WAL");
    const put = seed.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    seed.transaction(() => {
      for (let i = 0; i < 5000; i++) put.run(`seed-${i}`, "y".repeat(500));
    })();
    seed.close();

    const writer = startWriter(join(dir, "drip.db"), 45);
    await within(
      new Promise<void>((resolve, reject) => {
        writer.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve());
        writer.once("exit", (code) => reject(new Error(`the writer exited (${code}) before it wrote`)));
      }),
      10_000,
      "the writer's first commit",
    );
    const backups: string[] = [];
    for (let k = 0; k < 3; k++) {
      const file = join(dir, `backup-${k}.db`);
      const r = await within(drip(["db", "backup", file, "--json"]), 15_000, "drip db backup");
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ file, pages: expect.any(Number) });
      backups.push(file);
    }
    expect(writer.exitCode).toBeNull(); // it was still writing through every copy

    for (const file of backups) {
      const copy = new Database(file, { readonly: true, fileMustExist: true });
      try {
        expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
        expect(copy.prepare("SELECT count(*) FROM meta WHERE key LIKE 'seed-%'").pluck().get()).toBe(5000);
        // A snapshot never holds half a transaction: each "a" has its "b".
        const a = copy.prepare("SELECT count(*) FROM meta WHERE key LIKE 'w%a'").pluck().get() as number;
        const b = copy.prepare("SELECT count(*) FROM meta WHERE key LIKE 'w%b'").pluck().get() as number;
        expect(a).toBeGreaterThan(0);
        expect(b).toBe(a);
        expect(copy.prepare("SELECT max(id) FROM drip_migrations").pluck().get()).toBeGreaterThanOrEqual(11);
      } finally {
        copy.close();
      }
    }
    writer.kill("SIGKILL");

    expect((await drip(["db", "backup", backups[0]!])).code).toBe(2); // never overwrites
    const pg = await runDrip(["db", "backup", join(dir, "pg.db")], { env: { ...env, DATABASE_URL: "postgres://u:p@127.0.0.1:1/drip" }, cwd: dir, now: NOW });
    expect(pg.code).toBe(2);
    expect(pg.err).toContain("on PostgreSQL, back up with pg_dump");
    expect(existsSync(join(dir, "pg.db"))).toBe(false);
  });
});
