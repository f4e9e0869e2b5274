/**
 * The whole hip-pain course, end to end on real parts: the app from config (SQLite file,
 * outbox transport writing .eml files), subscribers in three zones (New York crossing the
 * 2026-11-01 DST end, London, Kolkata), a booker, an unsubscriber and suppressed addresses,
 * a fake clock ticking every 15 minutes for 16 days, and every outbox file read back with
 * mailparser.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import course from "../../sequences/hip-pain-course.ts";
import { type App, createApp } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import type { TickSummary } from "../../src/engine/engine.ts";

import type { SendRecord, Subscriber } from "../../src/store/types.ts";
import { verifyToken } from "../../src/tokens.ts";
import { MINUTE, addressOf, cleanupTempDirs, localStamp, rawHeader, readOutbox, tempDir } from "../support/engine-helpers.ts";

const SECRET = "x".repeat(40);
const CLOCK_START = Date.parse("2026-10-28T00:00:00Z");
const CLOCK_END = Date.parse("2026-11-13T00:00:00Z");
const STEP = 15 * MINUTE;

const ZONES: Record<string, string> = {
  "ny@example.com": "America/New_York",
  "london@example.com": "Europe/London",
  "kolkata@example.com": "Asia/Kolkata",
  "booked@example.com": "Europe/London",
  "quitter@example.com": "Europe/London",
  "early@example.com": "Europe/London",
  "bounced@example.com": "Europe/London",
};

/** What each subscriber must receive: [step, UTC instant], worked out by hand. */
const EXPECTED_SENT: Record<string, [string, string][]> = {
  // Starts 10:00 EDT on Wed 28 Oct; DST ends Sun 1 Nov, so day 4 on is 09:00 EST = 14:00Z.
  "ny@example.com": [
    ["article", "2026-10-28T14:00:00Z"],
    ["self-release", "2026-10-30T13:00:00Z"],
    ["dynamic-release", "2026-11-01T14:00:00Z"],
    ["book", "2026-11-03T14:00:00Z"],
    ["keep-it-away", "2026-11-06T14:00:00Z"],
    ["last-call", "2026-11-11T14:00:00Z"],
  ],
  "london@example.com": [
    ["article", "2026-10-28T18:30:00Z"],
    ["self-release", "2026-10-30T09:00:00Z"],
    ["dynamic-release", "2026-11-01T09:00:00Z"],
    ["book", "2026-11-03T09:00:00Z"],
    ["keep-it-away", "2026-11-06T09:00:00Z"],
    ["last-call", "2026-11-11T09:00:00Z"],
  ],
  // Confirms at 19:00Z on 28 Oct = 00:30 IST on 29 Oct: day 0 is the LOCAL date, 29 Oct.
  "kolkata@example.com": [
    ["article", "2026-10-28T19:00:00Z"],
    ["self-release", "2026-10-31T03:30:00Z"],
    ["dynamic-release", "2026-11-02T03:30:00Z"],
    ["book", "2026-11-04T03:30:00Z"],
    ["keep-it-away", "2026-11-07T03:30:00Z"],
    ["last-call", "2026-11-12T03:30:00Z"],
  ],
  "booked@example.com": [
    ["article", "2026-10-28T10:00:00Z"],
    ["self-release", "2026-10-30T09:00:00Z"],
    ["dynamic-release", "2026-11-01T09:00:00Z"],
    ["keep-it-away", "2026-11-06T09:00:00Z"],
  ],
  "quitter@example.com": [
    ["article", "2026-10-28T10:00:00Z"],
    ["self-release", "2026-10-30T09:00:00Z"],
  ],
  "early@example.com": [],
  "bounced@example.com": [
    ["article", "2026-10-28T10:00:00Z"],
    ["self-release", "2026-10-30T09:00:00Z"],
    ["dynamic-release", "2026-11-01T09:00:00Z"],
  ],
};

let dir: string;
let app: App;
const subs = new Map<string, Subscriber>();
const totals: TickSummary = { sent: 0, skipped: 0, failed: 0, deferred: 0 };
let ticks = 0;

async function join_(email: string, now: Date) {
  const res = await app.lifecycle.subscribe({ email, name: "Pat Smith", timezone: ZONES[email]!, tags: [] }, { confirmed: true, source: "test" }, now);
  if (res.kind !== "ok") throw new Error(`${email} could not subscribe`);
  expect(res.enrolled).toBe("created");
  subs.set(email, res.subscriber);
}

/** Things that happen at an instant, before the tick at that instant. */
const EVENTS: Record<string, (now: Date) => Promise<void>> = {
  "2026-10-28T10:00:00Z": async (now) => {
    for (const e of ["booked@example.com", "quitter@example.com", "early@example.com", "bounced@example.com"]) await join_(e, now);
    // Suppressed after confirming but before their first step goes out (a different case of the address).
    await app.lifecycle.suppress("EARLY@Example.com", "complained", now);
    // An address already on the suppression list cannot even subscribe.
    await app.store.suppress("never@example.com", "hard bounce", now);
    const res = await app.lifecycle.subscribe({ email: "Never@Example.com", name: "", timezone: "", tags: [] }, { confirmed: true, source: "test" }, now);
    expect(res.kind).toBe("suppressed");
  },
  "2026-10-28T14:00:00Z": (now) => join_("ny@example.com", now),
  "2026-10-28T18:30:00Z": (now) => join_("london@example.com", now),
  "2026-10-28T19:00:00Z": (now) => join_("kolkata@example.com", now),
  "2026-10-31T12:00:00Z": async (now) => void (await app.lifecycle.unsubscribe(subs.get("quitter@example.com")!, now, "test")), // day 3
  "2026-11-02T12:00:00Z": async (now) => {
    await app.store.addTag(subs.get("booked@example.com")!.id, "booked"); // day 5
    await app.lifecycle.suppress("Bounced@EXAMPLE.com", "hard bounce", now); // mid-course
  },
};

const sendsOf = async (email: string): Promise<SendRecord[]> => {
  const rows = await app.store.listSends({ subscriberId: subs.get(email)!.id });
  return rows.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
};

beforeAll(async () => {
  dir = tempDir("drip-course-");
  app = await createApp(loadConfig({ DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: SECRET }));
  const events = new Map(Object.entries(EVENTS).map(([iso, fn]) => [Date.parse(iso), fn]));
  for (let t = CLOCK_START; t <= CLOCK_END; t += STEP) {
    const now = new Date(t);
    await events.get(t)?.(now);
    const s = await app.engine.tick(now);
    for (const k of Object.keys(totals) as (keyof TickSummary)[]) totals[k] += s[k];
    ticks++;
  }
}, 120_000);

afterAll(async () => {
  await app?.close();
  cleanupTempDirs();
});

describe("the hip-pain course over 16 days of virtual time", () => {
  it("ticked every 15 minutes and every due step was sent or skipped, none failed or deferred", () => {
    expect(ticks).toBe(16 * 24 * 4 + 1);
    const sent = Object.values(EXPECTED_SENT).reduce((n, l) => n + l.length, 0);
    expect(totals).toEqual({ sent, skipped: 2, failed: 0, deferred: 0 });
  });

  it.each(Object.keys(EXPECTED_SENT))("%s gets each of their steps exactly once, in order, at the planned instant", async (email) => {
    const sent = (await sendsOf(email)).filter((s) => s.status === "sent");
    const got = sent.map((s) => [s.stepId, s.sentAt?.toISOString()]);
    const want = EXPECTED_SENT[email]!.map(([step, iso]) => [step, new Date(iso).toISOString()]);
    expect(got).toEqual(want);
    // Sent on the tick at the instant it was due, not a tick later.
    for (const s of sent) expect(s.sentAt?.getTime()).toBe(s.dueAt.getTime());
    // And exactly those files are in the outbox, each stamped with the instant it went out.
    const files = (await readOutbox(join(dir, "outbox"))).filter((f) => addressOf(f.mail.to)?.address === email);
    const fromFiles = files.map((f) => [rawHeader(f.mail, "X-Drip-Step"), f.mail.date?.toISOString()]).sort((a, b) => String(a[1]).localeCompare(String(b[1])));
    expect(fromFiles).toEqual(want);
  });

  it("New York's steps stay at 09:00 local across the DST change: -04:00 before 1 Nov, -05:00 after", async () => {
    const local = (await sendsOf("ny@example.com")).map((s) => `${s.stepId} ${localStamp(s.sentAt!, "America/New_York")}`);
    expect(local).toEqual([
      "article 2026-10-28 10:00 GMT-04:00",
      "self-release 2026-10-30 09:00 GMT-04:00",
      "dynamic-release 2026-11-01 09:00 GMT-05:00",
      "book 2026-11-03 09:00 GMT-05:00",
      "keep-it-away 2026-11-06 09:00 GMT-05:00",
      "last-call 2026-11-11 09:00 GMT-05:00",
    ]);
  });

  it("London and Kolkata day steps go out at 09:00 on their own local calendar", async () => {
    for (const [email, zone] of [
      ["london@example.com", "Europe/London"],
      ["kolkata@example.com", "Asia/Kolkata"],
    ] as const) {
      const local = (await sendsOf(email)).slice(1).map((s) => localStamp(s.sentAt!, zone).slice(11));
      expect(local, email).toEqual(Array(5).fill(zone === "Asia/Kolkata" ? "09:00 GMT+05:30" : "09:00 GMT+00:00"));
    }
    const kolkataDays = (await sendsOf("kolkata@example.com")).map((s) => localStamp(s.sentAt!, "Asia/Kolkata").slice(0, 10));
    expect(kolkataDays).toEqual(["2026-10-29", "2026-10-31", "2026-11-02", "2026-11-04", "2026-11-07", "2026-11-12"]);
  });

  it("the subscriber tagged booked on day 5 gets no booking prompts: book and last-call are recorded as skipped because of the tag", async () => {
    const skipped = (await sendsOf("booked@example.com")).filter((s) => s.status !== "sent");
    expect(skipped.map((s) => [s.stepId, s.status])).toEqual([
      ["book", "skipped"],
      ["last-call", "skipped"],
    ]);
    for (const s of skipped) expect(s.reason).toMatch(/booked/);
    const e = await app.store.getEnrollment(subs.get("booked@example.com")!.id, course.id);
    expect(e?.status).toBe("completed");
  });

  it("the subscriber who unsubscribed on day 3 and the ones suppressed get nothing after that moment", async () => {
    const outbox = await readOutbox(join(dir, "outbox"));
    const countTo = (email: string) => outbox.filter((f) => addressOf(f.mail.to)?.address === email).length;
    expect(countTo("quitter@example.com")).toBe(2);
    expect(countTo("bounced@example.com")).toBe(3);
    expect(countTo("early@example.com")).toBe(0);
    expect(outbox.some((f) => /never@/i.test(addressOf(f.mail.to)?.address ?? ""))).toBe(false);
    // Nothing else was even claimed for them after they left.
    expect((await sendsOf("quitter@example.com")).map((s) => s.stepId)).toEqual(["article", "self-release"]);
    expect((await sendsOf("early@example.com")).filter((s) => s.status === "sent")).toEqual([]);
    for (const email of ["quitter@example.com", "early@example.com", "bounced@example.com"]) {
      const e = await app.store.getEnrollment(subs.get(email)!.id, course.id);
      expect([email, e?.status]).toEqual([email, "exited"]);
    }
    expect(await app.store.findSubscriberByEmail("never@example.com")).toBeNull();
  });

  it("the three who walked the whole course have completed enrollments", async () => {
    for (const email of ["ny@example.com", "london@example.com", "kolkata@example.com"]) {
      const e = await app.store.getEnrollment(subs.get(email)!.id, course.id);
      expect([email, e?.status, e?.cursor, e?.nextDueAt]).toEqual([email, "completed", "last-call", null]);
    }
  });

  it("every outbox file parses with mailparser: both parts, one-click List-Unsubscribe with the subscriber's token, tags, To/From/Subject", async () => {
    const outbox = await readOutbox(join(dir, "outbox"));
    expect(outbox).toHaveLength(totals.sent);
    const subjects = new Map(course.steps.map((s) => [s.id, s.subject as string]));
    for (const { file, mail } of outbox) {
      const to = addressOf(mail.to)!.address;
      const step = rawHeader(mail, "X-Drip-Step")!;
      expect(subjects.has(step), file).toBe(true);
      expect(rawHeader(mail, "X-Drip-Sequence"), file).toBe("hip-pain-course");
      expect(mail.subject, file).toBe(subjects.get(step));
      expect(addressOf(mail.from), file).toEqual({ address: "hello@bodyhealtherapy.example", name: "David at Body Heal Therapy" });
      expect(mail.html, file).toMatch(/<html/i);
      expect((mail.text ?? "").length, file).toBeGreaterThan(200);
      expect(mail.text, file).not.toMatch(/<\/?(p|div|table|a)\b/i);
      const lu = rawHeader(mail, "List-Unsubscribe");
      const m = /^<(https?:\/\/[^>\s]+\/unsubscribe\/([A-Za-z0-9._-]+))>$/.exec(lu ?? "");
      expect(m, `${file}: List-Unsubscribe ${lu}`).not.toBeNull();
      expect(rawHeader(mail, "List-Unsubscribe-Post"), file).toBe("List-Unsubscribe=One-Click");
      // The token is signed for exactly this subscriber.
      const check = verifyToken(SECRET, "manage", m![2]!, new Date(CLOCK_END));
      expect(check, file).toEqual({ ok: true, subscriberId: subs.get(to)!.id, issuedAt: null, expiresAt: null });
      expect(mail.html, file).toContain(m![1]);
    }
  });
});
