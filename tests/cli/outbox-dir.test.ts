/**
 * An outbox folder drip cannot create fails only the sends, with the reason; every command
 * that sends nothing (unsubscribe, status, subscribe, import) works as usual.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string>;
const NOW = new Date("2026-10-28T12:00:00Z");
const drip = (argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

beforeEach(() => {
  dir = tempDir("drip-outbox-dir-");
  // A file where the outbox's parent folder should be: mkdir fails with ENOTDIR, even as root.
  writeFileSync(join(dir, "not-a-folder"), "x");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: join(dir, "not-a-folder", "outbox"), DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

describe("an outbox folder that cannot be created", () => {
  it("does not stop subscribe, status, unsubscribe or import", async () => {
    expect(await drip(["subscribe", "ana@example.com", "--confirmed", "--tz", "Europe/London"])).toMatchObject({ code: 0, err: "" });
    expect((await drip(["status", "--json"])).code).toBe(0);
    expect(await drip(["unsubscribe", "ana@example.com"])).toMatchObject({ code: 0, out: "unsubscribed: ana@example.com\n" });
    writeFileSync(join(dir, "list.csv"), "email\nbo@example.com\n");
    expect((await drip(["import", join(dir, "list.csv")])).code).toBe(0);
  });

  it("fails the send with the reason, and the tick itself completes", async () => {
    expect((await drip(["subscribe", "ana@example.com", "--confirmed", "--tz", "Europe/London"])).code).toBe(0);
    const tick = await drip(["tick"]);
    expect(tick.code).toBe(0);
    expect(tick.err).not.toContain("unexpected");
    expect(json(tick.out)).toMatchObject({ sent: 0 });
    expect(existsSync(env.OUTBOX_DIR!)).toBe(false);
    // The send keeps the reason and comes due again (the folder may be fixed by then).
    const raw = new Database(join(dir, "drip.db"), { readonly: true });
    try {
      const sends = raw.prepare("SELECT status, reason FROM sends").all() as { status: string; reason: string }[];
      expect(sends).toHaveLength(1);
      expect(sends[0]!.status).not.toBe("sent");
      expect(sends[0]!.reason).toMatch(/^OUTBOX_DIR \S+not-a-folder\/outbox cannot be created: ENOTDIR/);
    } finally {
      raw.close();
    }
  });
});
