/**
 * Delivery through the real `resend` SDK against the local double of the provider
 * (tests/support/resend-double.ts): batching, idempotency keys across retries and lost
 * answers, the shared rate limiter, quota pauses, retries with backoff, in_doubt after 24 h.
 * Nothing here mocks the SDK: every email crosses HTTP to the double, whose `delivered` log
 * is the ground truth for "what the subscriber got".
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { backoffMs, type Clock, RateLimiter } from "../../src/delivery/rate-limiter.ts";
import { KEY_LIFETIME_MS, PAUSE_KEY } from "../../src/engine/batch-delivery.ts";
import type { App } from "../../src/wiring.ts";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import {
  HOUR,
  InstantClock,
  MINUTE,
  T0,
  cleanupTempDirs,
  deliveryApp,
  dripStatus,
  handEngine,
  pendingBatches,
  plainEmail,
  plus,
  seedEnrolled,
  sendRows,
  tally,
  waitFor,
  writeBatch,
} from "../support/delivery-helpers.ts";
import { type ResendDouble, type ResendDoubleOptions, startResendDouble } from "../support/resend-double.ts";
import { expectAllAccountedFor, faultyProviderRun, keysOf, statusJson } from "../support/fault-run.ts";
import { TestClock } from "../support/test-clock.ts";

const doubles: ResendDouble[] = [];
async function double(opts: ResendDoubleOptions): Promise<ResendDouble> {
  const d = await startResendDouble(opts);
  doubles.push(d);
  return d;
}
afterEach(async () => {
  for (const d of doubles.splice(0)) await d.close();
});
afterAll(() => cleanupTempDirs());

describe("due sends against a faulty, rate-limited provider (the 5,000-send run is in faults.soak.test.ts)", () => {
  it("300 sends, fail 30%, drop 20%, 5 req/s, latency 10–60 ms: 300 distinct deliveries, 0 duplicates, 0 lost, never over the limit", {
    timeout: 60_000,
  }, async () => {
    await faultyProviderRun({ n: 300, rate: 5, failRate: 0.3, dropRate: 0.2, seed: 13 });
  });
});

describe("one bad address in a batch of 100", () => {
  it("an address our check refuses (written straight into SQLite): failed before sending, the other 99 go out in one request", async () => {
    const d = await double({ rateLimit: 50 });
    const { app, env } = await deliveryApp(d.url, 50);
    try {
      const subs = await seedEnrolled(app.store, app.engine, 100, T0);
      const bad = subs[37]!;
      // Bypass every validation on the way in: an import bug or a hand edit of the database.
      await (app.store as SqliteStore).db.updateTable("subscribers").set({ email: "sam.at.example.com" }).where("id", "=", bad.id).execute();
      expect(await app.engine.tick(T0)).toEqual({ sent: 99, skipped: 0, failed: 1, deferred: 0 });

      expect(d.requests).toHaveLength(1);
      expect(d.requests[0]).toMatchObject({ path: "/emails/batch", status: 200, count: 99 });
      expect(new Set(d.delivered.map((e) => e.to[0]))).toEqual(new Set(subs.filter((s) => s !== bad).map((s) => s.email)));
      const rows = await sendRows(app.store);
      const badRow = rows.find((r) => r.subscriber_id === bad.id)!;
      expect(badRow).toMatchObject({ status: "failed", reason: '"sam.at.example.com" is not a deliverable address', provider_message_id: null });
      expect(rows.filter((r) => r.status === "sent")).toHaveLength(99);
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 0, sent: 99, failed: 1 });
    } finally {
      await app.close();
    }
  });

  it("an address the provider refuses (permissive mode): its index fails with the provider's reason, the other 99 are delivered", async () => {
    const d = await double({ rateLimit: 50 });
    const { app, env } = await deliveryApp(d.url, 50);
    try {
      const subs = await seedEnrolled(app.store, app.engine, 100, T0);
      // No address passes our zod check yet fails the double's, so the batch is written by
      // hand, as the engine writes it before its request, with index 37 unacceptable to the
      // provider ("Name <addr" is not an address); recovery sends it as it stands.
      const claims = await app.store.claimDue(T0, 100, 5 * MINUTE);
      expect(claims).toHaveLength(100);
      const emails = claims.map((c, i) => plainEmail(i === 37 ? `Sam <${c.subscriber.email}` : c.subscriber.email));
      await writeBatch(app.store, "drip-batch-hand-written-permissive", claims, emails, T0);

      expect(await app.engine.tick(T0)).toEqual({ sent: 99, skipped: 0, failed: 1, deferred: 0 });
      expect(d.requests).toEqual([expect.objectContaining({ status: 200, count: 100, idempotencyKey: "drip-batch-hand-written-permissive" })]);
      expect(d.delivered).toHaveLength(99);
      expect(d.delivered.map((e) => e.batchIndex)).not.toContain(37);
      const rows = new Map((await sendRows(app.store)).map((r) => [r.id, r]));
      const badRow = rows.get(claims[37]!.sendId)!;
      expect(badRow.status).toBe("failed");
      expect(badRow.reason).toMatch(/^rejected by the provider: Invalid `to` field/);
      // Results are matched by index, not by position in the accepted list.
      for (const e of d.delivered) expect(rows.get(claims[e.batchIndex!]!.sendId)).toMatchObject({ status: "sent", provider_message_id: e.id });
      expect(subs).toHaveLength(100);
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 0, sent: 99, failed: 1 });
      expect(await pendingBatches(app.store)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe("quota", () => {
  it("daily quota 150 with 300 due: pauses without a hot loop, resumes after each reset, nothing lost or doubled", async () => {
    // The double's quota day and retry-after run on the test's clock, the one `now` comes from.
    const clock = new TestClock(T0);
    const d = await double({ rateLimit: 50, dailyQuota: 150, now: clock.now });
    const { app, env, logs } = await deliveryApp(d.url, 50);
    try {
      const subs = await seedEnrolled(app.store, app.engine, 300, T0);
      const first = await app.engine.tick(T0);
      expect(d.delivered.length).toBeLessThanOrEqual(150);
      expect(d.delivered).toHaveLength(100); // batches are all-or-nothing against the quota
      expect(first.sent).toBe(100);
      const quota429 = d.requests.filter((r) => r.status === 429);
      // One answer per batch in flight, not a loop: 3 batches, 1 accepted.
      expect(d.requests).toHaveLength(3);
      expect(quota429).toHaveLength(2);

      const pause = await app.engine.pausedUntil(T0);
      expect(pause).not.toBeNull();
      expect(pause!.reason).toMatch(/daily_quota_exceeded/);
      let until = new Date(pause!.until);
      expect(until.getTime()).toBeGreaterThan(T0.getTime());
      expect(until.getTime()).toBeLessThanOrEqual(T0.getTime() + 24 * HOUR);
      expect(logs.some((l) => l.startsWith(`delivery paused until ${pause!.until}`) && l.includes("daily_quota_exceeded"))).toBe(true);

      // `drip status` says so, with the reason and when it resumes (DESIGN: "a clear status line").
      const text = await dripStatus(env, plus(T0, MINUTE), false);
      expect(text.code).toBe(0);
      expect(text.out).toContain(`PAUSED until ${pause!.until}: ${pause!.reason}`);
      const json = await statusJson(env, plus(T0, MINUTE));
      expect(json.deliveryPaused).toEqual(pause);

      // Before the reset: ticks do nothing and ask the provider nothing.
      for (const at of [plus(T0, MINUTE), plus(T0, 10 * MINUTE), new Date(until.getTime() - 1)]) {
        expect(await app.engine.tick(clock.set(at))).toEqual({ sent: 0, skipped: 0, failed: 0, deferred: 0 });
      }
      expect(d.requests).toHaveLength(3);

      // Each reset lets 150 more through: one more batch of 100, then the next pause.
      let at = until;
      const cycles: { at: string; sent: number; requests: number }[] = [];
      for (let i = 0; i < 5 && d.delivered.length < 300; i++) {
        d.resetQuota();
        const before = d.requests.length;
        const s = await app.engine.tick(clock.set(at));
        cycles.push({ at: at.toISOString(), sent: s.sent, requests: d.requests.length - before });
        const next = await app.engine.pausedUntil(at);
        if (next) at = new Date(next.until);
      }
      expect(cycles.map((c) => c.sent)).toEqual([100, 100]);
      // Resumed at the first pause's end, with no more requests than batches in flight.
      expect(cycles[0]!.at).toBe(pause!.until);
      expect(cycles.every((c) => c.requests <= 2)).toBe(true);
      expect(logs.some((l) => l.startsWith("delivery resumed"))).toBe(true);
      expect(await app.engine.pausedUntil(at)).toBeNull();
      until = at;

      const byTo = tally(d.delivered.map((e) => e.to[0]!));
      expect(byTo.size).toBe(300);
      expect([...byTo.values()].every((n) => n === 1)).toBe(true);
      expect(new Set(byTo.keys())).toEqual(new Set(subs.map((s) => s.email)));
      expect(await expectAllAccountedFor(app.store, env, until, 300)).toMatchObject({ sent: 300 });
      expect(await pendingBatches(app.store)).toEqual([]);
      expect(await app.store.getMeta(PAUSE_KEY)).toBeNull();
    } finally {
      await app.close();
    }
  });
});

/** Start a tick, and stop it (graceful stop) as soon as the double has cut an answer. */
async function tickUntilFirstDrop(app: App, d: ResendDouble, now: Date) {
  const stop = new AbortController();
  const tick = app.engine.tick(now, { signal: stop.signal });
  await waitFor(() => d.requests.some((r) => r.status === 0));
  stop.abort();
  return tick;
}

describe("idempotent recovery", () => {
  it("an accepted batch whose answer was lost is retried within the tick under the same key: the double replays, nothing is sent twice", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 50, dropRate: 1, now: time.now });
    const { app, env } = await deliveryApp(d.url, 50);
    try {
      await seedEnrolled(app.store, app.engine, 100, T0);
      expect(await app.engine.tick(time.set(T0))).toMatchObject({ sent: 100, failed: 0 });
      expect(d.requests.map((r) => r.status)).toEqual([0, 200]);
      expect(new Set(keysOf(d)).size).toBe(1);
      expect(d.delivered).toHaveLength(100);
      const ids = new Map(d.delivered.map((e) => [e.to[0], e.id]));
      for (const r of await sendRows(app.store)) {
        const sub = await app.store.getSubscriber(r.subscriber_id);
        expect(r).toMatchObject({ status: "sent", provider_message_id: ids.get(sub!.email) });
      }
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 0, sent: 100 });
    } finally {
      await app.close();
    }
  });

  it("stopped after a lost answer: the next tick re-sends the stored batch with the same key, the double replays, sends are recorded sent", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 50, dropRate: 1, now: time.now });
    const { app, env } = await deliveryApp(d.url, 50);
    try {
      await seedEnrolled(app.store, app.engine, 100, T0);
      expect(await tickUntilFirstDrop(app, d, T0)).toEqual({ sent: 0, skipped: 0, failed: 0, deferred: 100 });
      // The provider has them; drip does not know it: 100 claimed under one pending batch.
      expect(d.delivered).toHaveLength(100);
      expect(d.requests.map((r) => r.status)).toEqual([0]);
      const [batch, ...more] = await pendingBatches(app.store);
      expect(more).toEqual([]);
      expect(batch).toMatchObject({ id: d.requests[0]!.idempotencyKey, attempts: 1 });
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 100, sent: 0 });

      d.set({ dropRate: 0 });
      expect(await app.engine.tick(time.set(plus(T0, MINUTE)))).toEqual({ sent: 100, skipped: 0, failed: 0, deferred: 0 });
      expect(d.requests.map((r) => [r.status, r.idempotencyKey])).toEqual([
        [0, batch!.id],
        [200, batch!.id],
      ]);
      expect(d.delivered).toHaveLength(100);
      const ids = new Set(d.delivered.map((e) => e.id));
      const rows = await sendRows(app.store);
      expect(rows.every((r) => r.status === "sent" && ids.has(r.provider_message_id!))).toBe(true);
      expect(await pendingBatches(app.store)).toEqual([]);
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 0, sent: 100 });
    } finally {
      await app.close();
    }
  });

  it("a page's batches are written in one store call before any request; a crash after every answer was lost: recovery re-sends each stored batch under its key byte for byte (the double replays, no 409), nothing twice", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 50, dropRate: 1, now: time.now });
    const first = await deliveryApp(d.url, 50);
    const written: string[][] = [];
    const createBatches = first.app.store.createBatches.bind(first.app.store);
    first.app.store.createBatches = async (batches) => {
      written.push(batches.map((b) => b.id));
      return createBatches(batches);
    };
    await seedEnrolled(first.app.store, first.app.engine, 150, T0);
    try {
      // One page (up to 500): its two batches (100 and 50) written in one call (one transaction), then each sent, answers lost.
      await tickUntilFirstDrop(first.app, d, T0);
      expect(written.map((ids) => ids.length)).toEqual([2]);
      expect(d.delivered).toHaveLength(150);
      expect(new Set(keysOf(d))).toEqual(new Set(written[0]));
      expect(d.requests.every((r) => r.status === 0)).toBe(true);
    } finally {
      // The process dies: the next one opens the same database.
      await first.app.close();
    }
    const { app } = await deliveryApp(d.url, 50, first.env);
    try {
      d.set({ dropRate: 0 });
      const sent = d.requests.length;
      expect(await app.engine.tick(time.set(plus(T0, 10 * MINUTE)))).toEqual({ sent: 150, skipped: 0, failed: 0, deferred: 0 });
      const again = d.requests.slice(sent);
      // Same keys, same bytes: the double answers each with the first result (a changed body would be 409).
      expect(again.map((r) => r.status)).toEqual(again.map(() => 200));
      expect(new Set(again.map((r) => r.idempotencyKey))).toEqual(new Set(written[0]));
      expect(d.delivered).toHaveLength(150);
      const ids = new Set(d.delivered.map((e) => e.id));
      const rows = await sendRows(app.store);
      expect(rows).toHaveLength(150);
      expect(rows.every((r) => r.status === "sent" && ids.has(r.provider_message_id!))).toBe(true);
      expect(await pendingBatches(app.store)).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it("409 invalid_idempotent_request (the payload changed after an accepted attempt) is recorded as sent, with a warning", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 50, dropRate: 1, now: time.now });
    const { app, env, logs } = await deliveryApp(d.url, 50);
    try {
      const subs = await seedEnrolled(app.store, app.engine, 100, T0);
      await tickUntilFirstDrop(app, d, T0);
      expect(d.delivered).toHaveLength(100);
      // Someone leaves between the lost answer and the retry: the retry's payload has 99
      // emails, the key has already been used for 100.
      await app.lifecycle.unsubscribe(subs[5]!, plus(T0, 30_000), "test");
      d.set({ dropRate: 0 });
      expect(await app.engine.tick(time.set(plus(T0, MINUTE)))).toEqual({ sent: 100, skipped: 0, failed: 0, deferred: 0 });
      expect(d.requests.map((r) => r.status)).toEqual([0, 409]);
      expect(d.requests[1]).toMatchObject({ count: 99, idempotencyKey: d.requests[0]!.idempotencyKey });
      expect(d.delivered).toHaveLength(100); // nothing sent twice, nothing lost
      const rows = await sendRows(app.store);
      expect(rows.every((r) => r.status === "sent" && /409 invalid_idempotent_request/.test(r.reason ?? ""))).toBe(true);
      expect(logs.some((l) => l.startsWith("warning:") && l.includes("invalid_idempotent_request"))).toBe(true);
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 0, sent: 100 });
    } finally {
      await app.close();
    }
  });

  it("a batch still unresolved after 24 h is in_doubt, shown in drip status, and never re-sent", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 50, dropRate: 1, now: time.now });
    const { app, env, logs } = await deliveryApp(d.url, 50);
    try {
      await seedEnrolled(app.store, app.engine, 100, T0);
      await tickUntilFirstDrop(app, d, T0);
      d.set({ dropRate: 0 });
      const later = plus(T0, KEY_LIFETIME_MS + MINUTE);
      expect(await app.engine.tick(time.set(later))).toEqual({ sent: 0, skipped: 0, failed: 100, deferred: 0 });
      expect(d.requests).toHaveLength(1); // not re-sent: the provider no longer dedupes this key
      const rows = await sendRows(app.store);
      expect(rows.every((r) => r.status === "in_doubt" && /24 h/.test(r.reason ?? ""))).toBe(true);
      expect(logs.some((l) => l.startsWith("warning:") && l.includes("24 h"))).toBe(true);
      expect((await statusJson(env, later)).sends).toMatchObject({ claimed: 0, sent: 0, in_doubt: 100 });
      expect(await pendingBatches(app.store)).toEqual([]);
      await app.engine.tick(time.set(plus(later, HOUR)));
      expect(d.requests).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});

describe("retries", () => {
  it("5xx: retried with growing backoff under the same key, then failed after maxAttempts with the reason; nothing retries forever", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 100, failRate: 1, now: time.now });
    const clock = new InstantClock();
    const { engine, store, env, logs } = await handEngine(d.url, { clock, maxAttempts: 8 });
    try {
      await seedEnrolled(store, engine, 100, T0);
      // Tick 1: 4 tries in the tick, waiting 0.25–0.5 s, 0.5–1 s, 1–2 s between them.
      expect(await engine.tick(time.set(T0))).toEqual({ sent: 0, skipped: 0, failed: 0, deferred: 100 });
      expect(d.requests.map((r) => r.status)).toEqual([500, 500, 500, 500]);
      expect(clock.sleeps).toHaveLength(3);
      clock.sleeps.forEach((ms, i) => {
        const ceiling = 500 * 2 ** i;
        expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
        expect(ms).toBeLessThanOrEqual(ceiling);
      });
      // Then the batch waits in virtual time: backoff from 1 minute, attempt 4 → 4–8 minutes.
      const [batch] = await pendingBatches(store);
      expect(batch).toMatchObject({ attempts: 4 });
      expect(batch!.reason).toMatch(/internal_server_error/);
      const wait = batch!.lease_until - T0.getTime();
      expect(wait).toBeGreaterThanOrEqual(4 * MINUTE);
      expect(wait).toBeLessThanOrEqual(8 * MINUTE);
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 100 });

      // Not before its time.
      await engine.tick(time.set(plus(T0, MINUTE)));
      expect(d.requests).toHaveLength(4);

      // Tick 2 at the lease: attempts 5–8, then failed.
      expect(await engine.tick(time.set(new Date(batch!.lease_until)))).toEqual({ sent: 0, skipped: 0, failed: 100, deferred: 0 });
      expect(d.requests).toHaveLength(8);
      expect(new Set(keysOf(d))).toEqual(new Set([batch!.id]));
      expect(clock.sleeps.slice(3).every((ms, i) => ms >= Math.min(30_000, 500 * 2 ** (i + 4)) / 2)).toBe(true);
      const rows = await sendRows(store);
      expect(rows.every((r) => r.status === "failed" && r.reason === "gave up after 8 attempts: internal_server_error: An unexpected error occurred.")).toBe(
        true,
      );
      expect(logs.some((l) => l.startsWith("warning:") && l.includes("gave up after 8 attempts"))).toBe(true);
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 0, failed: 100 });

      d.set({ failRate: 0 });
      await engine.tick(time.set(plus(T0, 2 * HOUR)));
      await engine.tick(time.set(plus(T0, 20 * HOUR)));
      expect(d.requests).toHaveLength(8);
      expect(d.delivered).toHaveLength(0);
    } finally {
      await store.close();
    }
  });

  it("a whole-request 4xx (validation_error) fails the batch at once: one request, no retry", async () => {
    const time = new TestClock(T0);
    const d = await double({ rateLimit: 100, now: time.now });
    const clock = new InstantClock();
    const { engine, store, env } = await handEngine(d.url, { clock });
    try {
      await seedEnrolled(store, engine, 101, T0);
      // 101 emails in one batch (the engine never writes one; the store does not stop it).
      const claims = await store.claimDue(T0, 101, 5 * MINUTE);
      await writeBatch(
        store,
        "drip-batch-hand-written-101",
        claims,
        claims.map((c) => plainEmail(c.subscriber.email)),
        T0,
      );
      expect(await engine.tick(time.set(T0))).toEqual({ sent: 0, skipped: 0, failed: 101, deferred: 0 });
      expect(d.requests).toEqual([expect.objectContaining({ status: 422, count: 101 })]);
      expect(clock.sleeps).toEqual([]);
      const rows = await sendRows(store);
      expect(rows.every((r) => r.status === "failed" && /^validation_error: Too many emails in the batch: 101/.test(r.reason ?? ""))).toBe(true);
      expect((await statusJson(env, T0)).sends).toMatchObject({ claimed: 0, failed: 101 });
      await engine.tick(time.set(plus(T0, HOUR)));
      expect(d.requests).toHaveLength(1);
      expect(await pendingBatches(store)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

class FakeClock implements Clock {
  constructor(
    public t = 1_000_000,
    /** Extra delay added to each sleep (a busy event loop waking a waiter late). */
    private late: () => number = () => 0,
  ) {}
  now() {
    return this.t;
  }
  async sleep(ms: number) {
    this.t += ms + this.late();
  }
}

async function starts(limiter: RateLimiter, clock: FakeClock, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await limiter.acquire();
    out.push(clock.now());
  }
  return out;
}
const gaps = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]!);

describe("RateLimiter (fake clock)", () => {
  it("spaces requests evenly at 1000/limit ms plus a 2% margin, first one at once", async () => {
    const clock = new FakeClock();
    const s = await starts(new RateLimiter(5, clock), clock, 20);
    expect(s[0]).toBe(1_000_000);
    for (const g of gaps(s)) {
      expect(g).toBeGreaterThanOrEqual(204);
      expect(g).toBeLessThanOrEqual(205);
    }
  });

  it("serves concurrent callers one at a time, in call order", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(2, clock);
    const order: number[] = [];
    const at: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        limiter.acquire().then(() => {
          order.push(i);
          at.push(clock.now());
        }),
      ),
    );
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    for (const g of gaps(at)) expect(g).toBeGreaterThanOrEqual(510);
  });

  it("never lets more than `limit` starts into any one-second window, even when waiters wake up late", async () => {
    let seed = 7;
    const jitter = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 300;
    const clock = new FakeClock(0, jitter);
    const s = await starts(new RateLimiter(5, clock), clock, 200);
    for (let i = 5; i < s.length; i++) expect(s[i]! - s[i - 5]!, `start ${i}`).toBeGreaterThanOrEqual(1000);
  });

  it("a request on a cold connection counts from its answer: the provider never sees limit + 1 arrivals in one second", async () => {
    // Arrival at the provider = start + travel; a cold request (nothing started in the last 4 s)
    // travels 60 ms (connecting), a warm one 2 ms. Each is answered 20 ms after it arrives.
    const clock = new FakeClock();
    const limiter = new RateLimiter(5, clock);
    const arrivals: number[] = [];
    const request = async (travel: number) => {
      const slot = await limiter.acquire();
      const start = clock.now();
      arrivals.push(start + travel);
      // The transport awaits the answer; on the fake clock that is the time moving on.
      clock.t = Math.max(clock.t, start + travel + 20);
      limiter.answered(slot);
    };
    for (let burst = 0; burst < 3; burst++) {
      await request(60);
      for (let i = 0; i < 9; i++) await request(2);
      clock.t += 10_000; // idle: the next burst starts cold again
    }
    for (let i = 5; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 5]!, `arrival ${i}`).toBeGreaterThanOrEqual(1000);
    // Warm requests keep the even spacing: the cold one costs only its own answer's delay.
    const gapsAfterFirst = gaps(arrivals.slice(1, 10));
    for (const g of gapsAfterFirst) expect(g).toBeLessThanOrEqual(205);
  });

  it("holds every request for retry-after after a 429", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(5, clock);
    await limiter.acquire();
    limiter.observe({ "retry-after": "2", "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "2" }, 429);
    const t = clock.now();
    await limiter.acquire();
    expect(clock.now()).toBeGreaterThanOrEqual(t + 2000);
    // block() directly, and a shorter block later never shortens it.
    limiter.block(clock.now() + 5000);
    limiter.block(clock.now() + 100);
    const u = clock.now();
    await limiter.acquire();
    expect(clock.now()).toBe(u + 5000);
  });

  it("ratelimit-remaining 0 while our own window has room (another sender on the key) holds requests until ratelimit-reset; remaining > 0 does not", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(5, clock);
    await limiter.acquire();
    limiter.observe({ "ratelimit-limit": "5", "ratelimit-remaining": "3", "ratelimit-reset": "1" }, 200);
    let t = clock.now();
    await limiter.acquire();
    expect(clock.now() - t).toBeLessThanOrEqual(205);
    // Two starts of ours in the window, yet the provider counts 5: someone else uses the key.
    limiter.observe({ "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "3" }, 200);
    t = clock.now();
    await limiter.acquire();
    expect(clock.now()).toBeGreaterThanOrEqual(t + 3000);
    // No headers at all (a dropped connection): nothing changes.
    limiter.observe(null, null);
    t = clock.now();
    await limiter.acquire();
    expect(clock.now() - t).toBeLessThanOrEqual(205);
  });

  it("the provider's ratelimit-remaining 0 after our own limit-th request of a window does not cost a whole ratelimit-reset second", async () => {
    // What Resend (IETF ratelimit headers, whole seconds) and the double answer: the request
    // that fills the rolling window gets remaining 0 and reset 1, though the next slot opens
    // as soon as the window's oldest request is a second old (~200 ms later at 5/s).
    const clock = new FakeClock();
    const limiter = new RateLimiter(5, clock);
    const s: number[] = [];
    for (let i = 0; i < 16; i++) {
      await limiter.acquire();
      s.push(clock.now());
      clock.t += 30; // the answer's latency
      const inWindow = s.filter((x) => x > s.at(-1)! - 1000).length;
      limiter.observe({ "ratelimit-limit": "5", "ratelimit-remaining": String(5 - inWindow), "ratelimit-reset": "1" }, 200);
    }
    // 15 gaps of 204 ms is 3.06 s at the limit; allow 10%.
    const span = s.at(-1)! - s[0]!;
    expect(span, `16 requests took ${span} ms; gaps ${gaps(s).join(" ")}`).toBeLessThanOrEqual(3_400);
  });

  it("widens its spacing after each 429 (5% a time, at most 25%)", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(5, clock);
    await limiter.acquire();
    limiter.observe({ "ratelimit-limit": "5", "ratelimit-remaining": "1", "ratelimit-reset": "1" }, 429);
    let s = await starts(limiter, clock, 6);
    for (const g of gaps(s)) expect(g).toBeGreaterThanOrEqual(214); // 200 × 1.07
    for (let i = 0; i < 10; i++) limiter.observe({ "ratelimit-remaining": "1" }, 429);
    s = await starts(limiter, clock, 6);
    for (const g of gaps(s)) {
      expect(g).toBeGreaterThanOrEqual(250); // 200 × 1.25
      expect(g).toBeLessThanOrEqual(251);
    }
  });
});

describe("backoffMs", () => {
  it("full jitter between half and all of min(cap, base × 2^(attempt − 1))", () => {
    for (let attempt = 0; attempt <= 12; attempt++) {
      const ceiling = Math.min(30_000, 500 * 2 ** Math.max(0, attempt - 1));
      expect(backoffMs(attempt, 500, 30_000, () => 0)).toBe(ceiling / 2);
      expect(backoffMs(attempt, 500, 30_000, () => 0.999999)).toBeLessThanOrEqual(ceiling);
      expect(backoffMs(attempt, 500, 30_000, () => 0.999999)).toBeGreaterThan(ceiling * 0.99);
      for (let k = 0; k < 50; k++) {
        const ms = backoffMs(attempt);
        expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
        expect(ms).toBeLessThanOrEqual(ceiling);
      }
    }
    // The engine's between-ticks schedule: from a minute, capped at an hour.
    expect(backoffMs(1, 60_000, 3_600_000, () => 0)).toBe(30_000);
    expect(backoffMs(20, 60_000, 3_600_000, () => 1)).toBe(3_600_000);
  });
});
