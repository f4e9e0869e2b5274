/**
 * `--now`/`--at` that move scheduling are guarded: `tick --now` more than 24 h from the wall
 * clock (io.now) and `subscribe --at` more than 24 h in the future are usage errors naming
 * --allow-time-travel, and nothing is sent, scheduled or stored. Back-dating a subscribe is fine.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string>;
const NOW = new Date("2026-10-28T12:00:00Z");
const drip = (argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
const emls = () => (existsSync(join(dir, "outbox")) ? readdirSync(join(dir, "outbox")).filter((f) => f.endsWith(".eml")) : []);

beforeEach(() => {
  dir = tempDir("drip-time-");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

describe("tick --now", () => {
  it("ten years ahead is refused (exit 2) naming --allow-time-travel; nothing is sent or rescheduled", async () => {
    expect((await drip(["subscribe", "ana@example.com", "--confirmed", "--tz", "Europe/London"])).code).toBe(0);
    const before = json((await drip(["status", "--json"])).out);
    const r = await drip(["tick", "--now", "2036-01-01T10:00:00Z"]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/^drip: --now 2036-01-01T10:00:00\.000Z is [\d,]+ days ahead of the clock .*--allow-time-travel/);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(emls()).toEqual([]);
    expect(json((await drip(["status", "--json"])).out)).toEqual(before);
  });

  it("more than a day behind is refused too; within a day either way is fine", async () => {
    expect((await drip(["tick", "--now", "2026-10-27T11:00:00Z"])).code).toBe(2);
    expect((await drip(["tick", "--now", "2026-10-29T12:00:01Z"])).code).toBe(2);
    expect((await drip(["tick", "--now", "2026-10-27T13:00:00Z"])).code).toBe(0);
    expect((await drip(["tick", "--now", "2026-10-29T11:00:00Z"])).code).toBe(0);
  });

  it("--allow-time-travel lets staff walk a course in virtual time", async () => {
    expect((await drip(["subscribe", "ana@example.com", "--confirmed", "--tz", "Europe/London"])).code).toBe(0);
    const r = await drip(["tick", "--now", "2026-11-05T10:00:00Z", "--allow-time-travel"]);
    expect(r.code).toBe(0);
    expect(json(r.out)).toMatchObject({ sent: 1 });
  });
});

describe("subscribe --at", () => {
  it("more than a day in the future is refused and stores no one", async () => {
    const r = await drip(["subscribe", "ana@example.com", "--confirmed", "--at", "2026-11-28T12:00:00Z"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--allow-time-travel");
    expect((await drip(["export"])).out).not.toContain("ana@example.com");
    expect((await drip(["subscribe", "ana@example.com", "--confirmed", "--at", "2026-11-28T12:00:00Z", "--allow-time-travel"])).code).toBe(0);
  });

  it("back-dating by weeks is a legitimate import and is accepted", async () => {
    const r = await drip(["subscribe", "old@example.com", "--confirmed", "--at", "2026-09-01T08:00:00Z", "--json"]);
    expect(r.code).toBe(0);
    expect(json(r.out)).toMatchObject({ status: "active", created: true });
  });
});
