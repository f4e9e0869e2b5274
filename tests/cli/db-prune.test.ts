/**
 * `drip db prune --events-older-than <days>d` on a SQLite file: only provider events older than
 * the cutoff go (in batches, progress on stderr); --dry-run counts and deletes nothing; sends,
 * subscribers, unsubscribes, bookings and the audit log stay; a missing or non-positive age is
 * refused with one sentence.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

const NOW = new Date("2026-10-28T12:00:00Z");
const DAY = 24 * 3_600_000;
const ago = (days: number, extraMs = 0) => new Date(NOW.getTime() - days * DAY + extraMs);
let dir: string;
const env = () => ({ DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) });
const drip = (argv: string[]) => runDrip(argv, { env: env(), cwd: dir, now: NOW });

/** Every table's row count, and the events as [type, days old] sorted. */
function snapshot() {
  const db = new Database(join(dir, "drip.db"), { readonly: true });
  try {
    const count = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    const events = (db.prepare("SELECT type, at FROM events ORDER BY id").all() as { type: string; at: number }[]).map((e) => [
      e.type,
      Math.round((NOW.getTime() - e.at) / DAY),
    ]);
    return { subscribers: count("subscribers"), sends: count("sends"), enrollments: count("enrollments"), audit: count("audit_log"), events };
  } finally {
    db.close();
  }
}

beforeEach(async () => {
  dir = tempDir("drip-prune-");
  expect((await drip(["db", "migrate"])).code).toBe(0);
  const store = new SqliteStore(join(dir, "drip.db"));
  try {
    const T = ago(400);
    const { subscriber } = await store.upsertSubscriber({ email: "ana@example.com", status: "active" }, T);
    await store.enroll({ subscriberId: subscriber.id, sequenceId: "seq", startedAt: T, firstStepId: "one", firstDueAt: T, allowReentry: false });
    const [claim] = await store.claimDue(T, 10, 60_000);
    await store.recordOutcome(claim!, { status: "sent", at: T, providerMessageId: "pm-1" }, { kind: "completed" });
    const ev = (type: string, at: Date) => store.recordEvent({ subscriberId: subscriber.id, sendId: claim!.sendId, type, at });
    // Older than 90 days: five provider events (pruned) and a booking (kept).
    for (const type of ["delivered", "opened", "clicked", "opened", "bounced"]) await ev(type, ago(200));
    await ev("complained", ago(90, -1)); // one millisecond older than 90 days
    await ev("booked", ago(300));
    // Newer than 90 days: kept.
    await ev("opened", ago(90)); // exactly 90 days: not older
    await ev("clicked", ago(10));
    await store.appendAudit({ at: ago(365), staffId: null, staffEmail: "o@clinic.example", action: "retry", target: claim!.sendId });
    await store.leave(subscriber.id, "unsubscribed", "unsubscribed", ago(250), { type: "unsubscribed", data: { via: "one-click" } });
  } finally {
    await store.close();
  }
});
afterEach(() => cleanupTempDirs());

describe("drip db prune", () => {
  it("--dry-run counts the old provider events and deletes nothing", async () => {
    const before = snapshot();
    const r = await drip(["db", "prune", "--events-older-than", "90d", "--dry-run", "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ before: ago(90).toISOString(), days: 90, dryRun: true, events: 6 });
    expect(snapshot()).toEqual(before);
    const text = await drip(["db", "prune", "--events-older-than", "90d", "--dry-run"]);
    expect(text.out).toBe(`would delete 6 provider events older than 90 days (before ${ago(90).toISOString()}); nothing deleted (--dry-run)\n`);
    expect(snapshot()).toEqual(before);
  });

  it("deletes only provider events older than the age, in batches with progress on stderr; everything else stays", async () => {
    const before = snapshot();
    expect(before.events).toHaveLength(10);
    const r = await drip(["db", "prune", "--events-older-than", "90d", "--batch-size", "4"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`deleted 6 provider events older than 90 days (before ${ago(90).toISOString()})\n`);
    expect(r.err).toBe("pruned 4/6 events\npruned 6/6 events\n");
    const after = snapshot();
    expect(after.events).toEqual([
      ["booked", 300],
      ["opened", 90],
      ["clicked", 10],
      ["unsubscribed", 250],
    ]);
    expect({ ...after, events: [] }).toEqual({ ...before, events: [] });
    // drip stats: the send still counts as sent; its pruned events no longer count (two opens and a
    // click before, one of each now), the kept booking and unsubscribe still do.
    const stats = await drip(["stats", "--json"]);
    expect(stats.code, stats.err).toBe(0);
    expect(JSON.parse(stats.out)).toEqual([
      expect.objectContaining({ stepId: "one", sent: 1, delivered: 0, opened: 1, clicked: 1, bounced: 0, complained: 0, unsubscribed: 1, booked: 1 }),
    ]);
    // A second run finds nothing; a shorter age then takes the 90-day-old open.
    expect(JSON.parse((await drip(["db", "prune", "--events-older-than", "90d", "--json"])).out).events).toBe(0);
    expect(JSON.parse((await drip(["db", "prune", "--events-older-than", "30d", "--json"])).out).events).toBe(1);
    expect(snapshot().events.map((e) => e[0])).toEqual(["booked", "clicked", "unsubscribed"]);
  });

  it("--now moves the cutoff (a --now far ahead of the clock is refused)", async () => {
    const r = await drip(["db", "prune", "--events-older-than", "30d", "--now", ago(150).toISOString(), "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ before: ago(180).toISOString(), events: 5 });
    const far = await drip(["db", "prune", "--events-older-than", "1d", "--now", "2030-01-01T00:00:00Z"]);
    expect(far.code).toBe(2);
    expect(snapshot().events).toHaveLength(5);
  });

  it("refuses a missing, malformed or non-positive age with one sentence and deletes nothing", async () => {
    const before = snapshot();
    for (const [argv, says] of [
      [[], /needs --events-older-than <days>d/],
      [["--events-older-than", "0d"], /"0d" must be at least 1d/],
      [["--events-older-than", "-5d"], /"-5d" must be at least 1d/],
      [["--events-older-than", "90"], /"90" is not an age in days/],
      [["--events-older-than", "3w"], /"3w" is not an age in days/],
      [["--events-older-than", "90d", "--batch-size", "0"], /--batch-size "0" must be/],
    ] as const) {
      const r = await drip(["db", "prune", ...argv, "--dry-run"]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(says);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
    expect(snapshot()).toEqual(before);
  });

  it("--help says what is kept and what the stats lose", async () => {
    const r = await drip(["db", "prune", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--events-older-than <days>d");
    expect(r.out).toMatch(/opened, clicked/);
    expect(r.out).toMatch(/those counts drop/);
  });
});
