/**
 * The engine's guarantees, one at a time, on an in-memory SQLite store, a tiny inline
 * sequence (welcome now, tips day 1 09:00, bye day 3 09:00) and a scripted transport.
 * Time is an input: every tick gets its `now`.
 */
import { describe, expect, it } from "vitest";
import type { Store, Subscriber } from "../../src/store/types.ts";
import { HOUR, MINUTE, ScriptedTransport, at, localStamp, memoryEngine, tinySequence } from "../support/engine-helpers.ts";

const T0 = at("2027-01-04T10:00:00Z"); // Monday; London is on GMT
const ZERO = { sent: 0, skipped: 0, failed: 0, deferred: 0 };
const plus = (d: Date, ms: number) => new Date(d.getTime() + ms);

async function active(store: Store, email: string, timezone = "Europe/London") {
  return (await store.upsertSubscriber({ email, timezone, status: "active" }, T0)).subscriber;
}

describe("enrollment", () => {
  it("enrolling twice is a no-op: it returns exists and does not restart the course", async () => {
    const { store, engine, lifecycle, transport } = await memoryEngine();
    const ana = await active(store, "ana@example.com");
    expect(await lifecycle.enroll(ana, "tiny", T0)).toBe("created");
    expect(await engine.tick(T0)).toEqual({ ...ZERO, sent: 1 });
    expect(await lifecycle.enroll(ana, "tiny", plus(T0, HOUR))).toBe("exists");
    const e = await store.getEnrollment(ana.id, "tiny");
    expect(e).toMatchObject({ startedAt: T0, cursor: "welcome", nextStepId: "tips", nextDueAt: at("2027-01-05T09:00:00Z"), status: "active" });
    expect(await engine.tick(plus(T0, HOUR))).toEqual(ZERO);
    expect((transport as ScriptedTransport).stepsTo("ana@example.com")).toEqual(["welcome"]);
  });

  it("refuses a batching transport that cannot encode its own batch entries (it would silently send one by one)", async () => {
    const batching = {
      name: "resend" as const,
      idempotent: true,
      send: async () => ({ ok: true as const, providerMessageId: null }),
      sendBatch: async () => ({ kind: "rejected" as const, reason: "x", status: 400 }),
    };
    await expect(memoryEngine({ transport: batching })).rejects.toThrow(/encode/);
  });

  it("only an active subscriber can be enrolled", async () => {
    const { store, lifecycle } = await memoryEngine();
    const { subscriber } = await store.upsertSubscriber({ email: "pending@example.com", status: "pending" }, T0);
    await expect(lifecycle.enroll(subscriber, "tiny", T0)).rejects.toThrow(/pending/);
    expect(await store.getEnrollment(subscriber.id, "tiny")).toBeNull();
  });

  it("re-entry happens only after completion and only when the sequence allows it", async () => {
    const transport = new ScriptedTransport();
    const { store, engine, lifecycle } = await memoryEngine({ transport, sequences: [tinySequence(), tinySequence({ id: "tiny-again", allowReentry: true })] });
    const bo = await active(store, "bo@example.com");
    expect(await lifecycle.enroll(bo, "tiny", T0)).toBe("created");
    expect(await lifecycle.enroll(bo, "tiny-again", T0)).toBe("created");
    await engine.tick(T0);
    expect(await lifecycle.enroll(bo, "tiny-again", plus(T0, MINUTE))).toBe("exists"); // in progress: no restart
    await engine.tick(at("2027-01-05T09:00:00Z"));
    await engine.tick(at("2027-01-07T09:00:00Z"));
    expect((await store.getEnrollment(bo.id, "tiny"))?.status).toBe("completed");
    expect((await store.getEnrollment(bo.id, "tiny-again"))?.status).toBe("completed");

    const again = at("2027-01-10T12:00:00Z");
    expect(await lifecycle.enroll(bo, "tiny", again)).toBe("exists");
    expect((await store.getEnrollment(bo.id, "tiny"))?.status).toBe("completed");
    expect(await lifecycle.enroll(bo, "tiny-again", again)).toBe("reentered");
    expect(await store.getEnrollment(bo.id, "tiny-again")).toMatchObject({ status: "active", startedAt: again, cursor: null, nextStepId: "welcome" });
    expect(await engine.tick(again)).toEqual({ ...ZERO, sent: 1 });
    const welcomes = (await store.listSends({ subscriberId: bo.id, sequenceId: "tiny-again" })).filter((s) => s.stepId === "welcome");
    expect(welcomes).toHaveLength(2);
    expect(new Set(welcomes.map((s) => s.id)).size).toBe(2); // a new round has its own send ids
    expect(transport.calls.filter((m) => m.subject === "Welcome")).toHaveLength(3);
  });
});

describe("tick", () => {
  it("returns zeros when nothing is due (empty store, or the next step is tomorrow)", async () => {
    const { store, engine, lifecycle, transport } = await memoryEngine();
    expect(await engine.tick(T0)).toEqual(ZERO);
    await lifecycle.enroll(await active(store, "cy@example.com"), "tiny", T0);
    await engine.tick(T0);
    for (let t = 1; t <= 22; t++) expect(await engine.tick(plus(T0, t * HOUR))).toEqual(ZERO); // tips: 09:00 next day
    expect((transport as ScriptedTransport).calls).toHaveLength(1);
  });

  it("processes every page of what is due in one tick", async () => {
    const { store, engine, lifecycle } = await memoryEngine({ engine: { pageSize: 10 } });
    for (let i = 0; i < 25; i++) await lifecycle.enroll(await active(store, `p${i}@example.com`), "tiny", T0);
    expect(await engine.tick(T0)).toEqual({ ...ZERO, sent: 25 });
    expect(await engine.tick(T0)).toEqual(ZERO);
  });

  it("after downtime, a step due 2 h ago is sent on the next tick", async () => {
    const { store, engine, lifecycle } = await memoryEngine();
    const dee = await active(store, "dee@example.com");
    await lifecycle.enroll(dee, "tiny", T0);
    await engine.tick(T0);
    expect(await engine.tick(at("2027-01-05T11:00:00Z"))).toEqual({ ...ZERO, sent: 1 });
    const tips = (await store.listSends({ subscriberId: dee.id })).find((s) => s.stepId === "tips");
    expect(tips).toMatchObject({ status: "sent", dueAt: at("2027-01-05T09:00:00Z"), sentAt: at("2027-01-05T11:00:00Z") });
  });

  it("a step more than 12 h late at 03:00 local is deferred to 08:00 local (window start) and sent then, not before", async () => {
    const transport = new ScriptedTransport();
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const eli = await active(store, "eli@example.com", "America/New_York");
    await lifecycle.enroll(eli, "tiny", T0);
    await engine.tick(T0);
    // tips was due 2027-01-05 09:00 EST (14:00Z); the scheduler is down until 03:00 EST the next day.
    const three = at("2027-01-06T08:00:00Z");
    expect(localStamp(three, "America/New_York")).toBe("2027-01-06 03:00 GMT-05:00");
    expect(await engine.tick(three)).toEqual({ ...ZERO, deferred: 1 });
    expect((await store.getEnrollment(eli.id, "tiny"))?.nextDueAt).toEqual(at("2027-01-06T13:00:00Z"));
    for (let t = three.getTime() + 15 * MINUTE; t < at("2027-01-06T13:00:00Z").getTime(); t += 15 * MINUTE) {
      expect(await engine.tick(new Date(t))).toEqual(ZERO);
    }
    expect(transport.stepsTo("eli@example.com")).toEqual(["welcome"]);
    expect(await engine.tick(at("2027-01-06T13:00:00Z"))).toEqual({ ...ZERO, sent: 1 });
    const tips = (await store.listSends({ subscriberId: eli.id })).find((s) => s.stepId === "tips")!;
    expect(localStamp(tips.sentAt!, "America/New_York")).toBe("2027-01-06 08:00 GMT-05:00");
    expect(transport.stepsTo("eli@example.com")).toEqual(["welcome", "tips"]);
  });

  it("a back-dated start slides the course: late steps keep their spacing instead of all going out at once", async () => {
    const transport = new ScriptedTransport();
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const fay = await active(store, "fay@example.com", "Europe/London");
    // Enrolled (e.g. imported with subscribed_at) 30 days before the scheduler first looks.
    await lifecycle.enroll(fay, "tiny", at("2026-12-06T10:00:00Z"));
    const now = at("2027-01-05T10:00:00Z");
    expect(await engine.tick(now)).toEqual({ ...ZERO, sent: 1 });
    // tips (day 1, 09:00) is planned from the slid start: the next morning, not straight away.
    expect((await store.getEnrollment(fay.id, "tiny"))?.nextDueAt).toEqual(at("2027-01-06T09:00:00Z"));
    for (let t = now.getTime() + 15 * MINUTE; t < at("2027-01-06T09:00:00Z").getTime(); t += 3 * HOUR) {
      expect(await engine.tick(new Date(t))).toEqual(ZERO);
    }
    expect(await engine.tick(at("2027-01-06T09:00:00Z"))).toEqual({ ...ZERO, sent: 1 });
    // bye (day 3) keeps its two-day gap after tips.
    expect((await store.getEnrollment(fay.id, "tiny"))?.nextDueAt).toEqual(at("2027-01-08T09:00:00Z"));
    expect(transport.stepsTo("fay@example.com")).toEqual(["welcome", "tips"]);
  });

  it("stopping mid-page finishes the send in hand and releases the rest, due again at once", async () => {
    const stop = new AbortController();
    const transport = new ScriptedTransport((_msg, n) => {
      if (n === 1) stop.abort(); // SIGTERM arrives while the first send is in hand
      return { ok: true, providerMessageId: null };
    });
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    for (const email of ["g1@example.com", "g2@example.com", "g3@example.com"]) await lifecycle.enroll(await active(store, email), "tiny", T0);
    expect(await engine.tick(T0, { signal: stop.signal })).toEqual({ ...ZERO, sent: 1 });
    expect((await store.status()).nextDueAt).toEqual(T0); // released, not held for the 5-minute lease
    expect(await engine.tick(T0)).toEqual({ ...ZERO, sent: 2 });
    expect(transport.calls).toHaveLength(3);
  });

  it("re-checks a claimed send at send time: someone unsubscribed while the page is in flight is skipped", async () => {
    let second: Subscriber | undefined;
    // While the first message is being handed over, the second subscriber (same page) clicks unsubscribe.
    const transport = new ScriptedTransport(async (msg) => {
      if (msg.to === "first@example.com" && second) await lifecycle.unsubscribe(second, plus(T0, MINUTE), "test");
      return { ok: true, providerMessageId: null };
    });
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const first = await active(store, "first@example.com");
    second = await active(store, "second@example.com");
    await lifecycle.enroll(first, "tiny", T0);
    await lifecycle.enroll(second, "tiny", plus(T0, MINUTE));
    const summary = await engine.tick(plus(T0, 2 * MINUTE));
    expect(transport.calls.map((m) => m.to)).toEqual(["first@example.com"]);
    expect(summary).toEqual({ ...ZERO, sent: 1, skipped: 1 });
    const s = (await store.listSends({ subscriberId: second.id }))[0];
    expect(s).toMatchObject({ status: "skipped", stepId: "welcome" });
    expect(s?.reason).toMatch(/unsubscribed/);
  });

  it("re-checks the suppression list at send time (an address suppressed by hash only, e.g. by a bounce webhook)", async () => {
    const transport = new ScriptedTransport();
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const fay = await active(store, "fay@example.com");
    await lifecycle.enroll(fay, "tiny", T0);
    await store.suppress("FAY@example.com", "hard bounce", T0);
    const summary = await engine.tick(T0);
    expect(transport.calls.map((m) => m.to)).toEqual([]);
    expect(summary).toEqual({ ...ZERO, skipped: 1 });
    expect((await store.listSends({ subscriberId: fay.id }))[0]?.reason).toMatch(/suppress/);
  });
});

describe("delivery failures and leases", () => {
  it("a transient failure retries with exponential backoff and records failed after maxAttempts (8), then moves on", async () => {
    const transport = new ScriptedTransport({ ok: false, permanent: false, reason: "503 upstream unavailable" });
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const gus = await active(store, "gus@example.com");
    await lifecycle.enroll(gus, "tiny", T0);
    const totals = { ...ZERO };
    const callMinutes: number[] = [];
    for (let m = 0; m <= 180; m++) {
      const before = transport.calls.length;
      const s = await engine.tick(plus(T0, m * MINUTE));
      for (const k of Object.keys(totals) as (keyof typeof ZERO)[]) totals[k] += s[k];
      if (transport.calls.length > before) callMinutes.push(m);
    }
    expect(callMinutes).toEqual([0, 1, 3, 7, 15, 31, 63, 123]); // 1, 2, 4 … 32 min, then capped at 60
    expect(totals).toEqual({ ...ZERO, deferred: 7, failed: 1 });
    const welcome = (await store.listSends({ subscriberId: gus.id }))[0];
    expect(welcome).toMatchObject({ stepId: "welcome", status: "failed", attempts: 8 });
    expect(welcome?.reason).toMatch(/8 attempts.*503 upstream unavailable/);
    expect(new Set(transport.calls.map((m) => m.sendId)).size).toBe(1); // one idempotency root throughout
    transport.setReply({ ok: true, providerMessageId: "p-1" });
    expect(await engine.tick(at("2027-01-05T09:00:00Z"))).toEqual({ ...ZERO, sent: 1 });
  });

  it("a transient failure that clears is sent once, on the retry", async () => {
    const transport = new ScriptedTransport((_m, n) =>
      n < 3 ? { ok: false, permanent: false, reason: "429 slow down" } : { ok: true, providerMessageId: "p-3" },
    );
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const hal = await active(store, "hal@example.com");
    await lifecycle.enroll(hal, "tiny", T0);
    for (let m = 0; m <= 10; m++) await engine.tick(plus(T0, m * MINUTE));
    expect(transport.calls).toHaveLength(3);
    expect((await store.listSends({ subscriberId: hal.id }))[0]).toMatchObject({
      status: "sent",
      attempts: 3,
      providerMessageId: "p-3",
      sentAt: plus(T0, 3 * MINUTE),
    });
  });

  it("a permanent failure records failed with the provider's reason at once and moves on to the next step", async () => {
    const transport = new ScriptedTransport((m) =>
      m.subject === "Welcome" ? { ok: false, permanent: true, reason: "invalid_to_address: mailbox does not exist" } : { ok: true, providerMessageId: null },
    );
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const ida = await active(store, "ida@example.com");
    await lifecycle.enroll(ida, "tiny", T0);
    expect(await engine.tick(T0)).toEqual({ ...ZERO, failed: 1 });
    expect((await store.listSends({ subscriberId: ida.id }))[0]).toMatchObject({
      status: "failed",
      attempts: 1,
      reason: "invalid_to_address: mailbox does not exist",
    });
    for (let m = 1; m <= 30; m++) expect(await engine.tick(plus(T0, m * MINUTE))).toEqual(ZERO);
    expect(await store.getEnrollment(ida.id, "tiny")).toMatchObject({ cursor: "welcome", nextStepId: "tips" });
    expect(await engine.tick(at("2027-01-05T09:00:00Z"))).toEqual({ ...ZERO, sent: 1 });
    expect(transport.stepsTo("ida@example.com")).toEqual(["welcome", "tips"]);
  });

  it("a claim that is never recorded (a crashed worker) comes due again after the 5-minute lease and is sent exactly once", async () => {
    const transport = new ScriptedTransport();
    const { store, engine, lifecycle } = await memoryEngine({ transport });
    const jo = await active(store, "jo@example.com");
    await lifecycle.enroll(jo, "tiny", T0);
    const dropped = await store.claimDue(T0, 100, 5 * MINUTE);
    expect(dropped.map((c) => c.stepId)).toEqual(["welcome"]);
    expect(await engine.tick(T0)).toEqual(ZERO);
    expect(await engine.tick(plus(T0, 5 * MINUTE - 1000))).toEqual(ZERO);
    expect(transport.calls.map((m) => m.to)).toEqual([]);
    expect(await engine.tick(plus(T0, 5 * MINUTE))).toEqual({ ...ZERO, sent: 1 });
    for (let m = 6; m <= 30; m++) expect(await engine.tick(plus(T0, m * MINUTE))).toEqual(ZERO);
    expect(transport.calls.map((m) => m.sendId)).toEqual([dropped[0]!.sendId]);
    expect(await store.getSend(dropped[0]!.sendId)).toMatchObject({ status: "sent", attempts: 2, dueAt: T0 });
  });
});
