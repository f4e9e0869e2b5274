/**
 * Errors reach users converted in one place (runCli): a DripError becomes `drip: <sentence>`
 * and its exit code; anything else is "unexpected error" in one line, with the stack only
 * when DEBUG contains "drip".
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string | undefined>;
const NOW = new Date("2026-10-28T12:00:00Z");
const drip = (argv: string[], e: Record<string, string | undefined> = env) => runDrip(argv, { env: e, cwd: dir, now: NOW });

beforeEach(() => {
  dir = tempDir("drip-errors-");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

describe("errors at the CLI edge", () => {
  it("an unexpected error is one line without a stack", async () => {
    writeFileSync(join(dir, "drip.db"), "this is not a database, it is a text file that happens to be long enough ".repeat(20));
    const r = await drip(["status"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^drip: unexpected error: .+\n$/);
    expect(r.err.split("\n")).toHaveLength(2);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it("DEBUG=drip adds the stack to the unexpected error", async () => {
    writeFileSync(join(dir, "drip.db"), "not a database ".repeat(100));
    const r = await drip(["status"], { ...env, DEBUG: "express,drip" });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^drip: unexpected error: /);
    expect(r.err).toMatch(/\n\s+at /);
  });

  it("a database locked by another process is `busy`: one sentence, exit 1, nothing written", async () => {
    expect((await drip(["subscribe", "first@example.com"])).code).toBe(0);
    const other = new Database(join(dir, "drip.db"));
    other.exec("BEGIN IMMEDIATE");
    try {
      const r = await drip(["subscribe", "second@example.com"]);
      expect(r.code).toBe(1);
      expect(r.err).toBe("drip: the database is busy (another drip process holds the write lock): try again in a moment\n");
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    const out = (await drip(["export"])).out;
    expect(out).toContain("first@example.com");
    expect(out).not.toContain("second@example.com");
  }, 20_000);
});

describe("DATABASE_URL on PostgreSQL", () => {
  it.each(["postgres://drip:pw@db.internal/drip", "postgresql://drip@localhost/drip"])("%s is accepted by the configuration", (url) => {
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it("a server that cannot be reached stops the CLI with exit 1 and one sentence naming where, not a stack or the password", async () => {
    const r = await drip(["status"], { ...env, DATABASE_URL: "postgres://drip:secret-pw@127.0.0.1:9/drip" });
    expect(r.code).toBe(1);
    expect(r.err).toContain("Cannot use the PostgreSQL database at 127.0.0.1:9/drip (DATABASE_URL): nothing is listening there.");
    expect(r.err).not.toContain("secret-pw");
    expect(r.err).not.toContain("unexpected");
  });
});
