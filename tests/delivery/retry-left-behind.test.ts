import { afterAll, describe, expect, it } from "vitest";
import hipPainCourse from "../../sequences/hip-pain-course.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import type { Store, Subscriber } from "../../src/store/types.ts";
import { HOUR, T0, cleanupTempDirs, plus, seedEnrolled } from "../support/delivery-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { type ResendDouble, startResendDouble } from "../support/resend-double.ts";
import { type Backend, firstRequestsLate, openStoreOn, resendEngine } from "../support/retry-helpers.ts";
import { TestClock } from "../support/test-clock.ts";

const db = pgDatabase("drip_retry_left_behind");
afterAll(() => cleanupTempDirs());

const ARTICLE = hipPainCourse.steps[0]!.subject;

const openStore = (backend: Backend) => openStoreOn(backend, db, "drip-retry-left-");
const engineFor = resendEngine;

/** How many copies of the first step reached `email`. */
const articlesTo = (d: ResendDouble, email: string) => d.delivered.filter((e) => e.to[0] === email && e.subject === ARTICLE).length;

/** The first tick's batch of three goes unanswered: all three sends are in doubt. */
async function threeInDoubt(store: Store, d: ResendDouble, time: TestClock) {
  const subs = await seedEnrolled(store, engineFor(store, d, 150), 3, T0);
  expect(await engineFor(store, d, 150).tick(time.set(T0))).toMatchObject({ sent: 0, failed: 3 });
  const doubtful = await store.listSends({ statuses: ["in_doubt"], limit: 100 });
  expect(doubtful).toHaveLength(3);
  return { subs, doubtful };
}

/** Staff retry the first in-doubt send (its group: all three) an hour later; the third member pauses before the retry is claimed. */
async function retryThenPause(store: Store, engine: Engine, subs: readonly Subscriber[], doubtful: readonly { id: string }[]) {
  const lifecycle = new Lifecycle({ store, sequences: engine });
  const now = plus(T0, HOUR);
  const report = await lifecycle.retrySend(doubtful[0]!.id, now, "test");
  const paused = subs[2]!;
  expect(await lifecycle.pause(paused)).toBe(1);
  return { lifecycle, now, report, paused };
}

describe.each(["sqlite", "postgres"] as const)("a member paused between a staff retry and its claim (%s)", (backend) => {
  it("the provider never had the batch: the group goes under the first key, and the paused one, once resumed, goes under a new key and arrives once", async () => {
    const time = new TestClock(T0);
    // The first batch's two attempts get no answer and are never taken.
    const d = await startResendDouble({ rateLimit: 100, now: time.now, onRequest: firstRequestsLate(2, false) });
    const store = await openStore(backend);
    try {
      const { subs, doubtful } = await threeInDoubt(store, d, time);
      const engine = engineFor(store, d, 30_000);
      const { lifecycle, now, report, paused } = await retryThenPause(store, engine, subs, doubtful);
      expect(report.siblings).toHaveLength(2);
      const key = report.key!;

      expect(await engine.tick(time.set(now))).toMatchObject({ sent: 2 });
      expect(d.requests.filter((r) => r.idempotencyKey === key)).toEqual([expect.objectContaining({ status: 200, count: 2 })]);
      expect(articlesTo(d, paused.email)).toBe(0);

      const later = plus(now, HOUR);
      expect(await lifecycle.resume(paused)).toBe(1);
      await engine.tick(time.set(later));
      for (const s of subs) expect(articlesTo(d, s.email)).toBe(1);
      // Its request carried a new key; nothing more went under the first one.
      expect(d.requests.filter((r) => r.idempotencyKey === key)).toHaveLength(1);
      const [article] = (await store.listSends({ subscriberId: paused.id })).filter((s) => s.stepId === "article");
      expect(article).toMatchObject({ status: "sent" });
      expect(article!.providerMessageId).not.toBeNull();
    } finally {
      await store.close();
      await d.close();
    }
  }, 60_000);

  it("the provider had the batch: the group's 409 records the paused one as sent, and resuming never sends it again", async () => {
    const time = new TestClock(T0);
    // The first batch's two attempts are taken, but answered too late (after the client's timeout).
    const d = await startResendDouble({ rateLimit: 100, now: time.now, onRequest: firstRequestsLate(2, true) });
    const store = await openStore(backend);
    try {
      const { subs, doubtful } = await threeInDoubt(store, d, time);
      // The provider took the first attempt (the second is answered with its result).
      for (let i = 0; i < 100 && d.requests.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(d.delivered).toHaveLength(3);

      const engine = engineFor(store, d, 30_000);
      const { lifecycle, now, report, paused } = await retryThenPause(store, engine, subs, doubtful);
      const key = report.key!;

      await engine.tick(time.set(now));
      expect(d.requests.filter((r) => r.idempotencyKey === key).at(-1)).toMatchObject({ status: 409, count: 2 });
      const [article] = (await store.listSends({ subscriberId: paused.id })).filter((s) => s.stepId === "article");
      expect(article).toMatchObject({ status: "sent" });

      expect(await lifecycle.resume(paused)).toBe(1);
      await engine.tick(time.set(plus(now, HOUR)));
      for (const s of subs) expect(articlesTo(d, s.email)).toBe(1);
      // Resumed where it was before the retry: the course's next step, not the first again.
      const [enrollment] = await store.listEnrollments(paused.id);
      expect(enrollment).toMatchObject({ status: "active", nextStepId: "self-release" });
    } finally {
      await store.close();
      await d.close();
    }
  }, 60_000);

  it("the group's own request goes unanswered: nothing can tell, so the paused one is in doubt with no key to retry under, and never sent blind", async () => {
    const time = new TestClock(T0);
    // The first batch's two attempts are never taken; the retry's two are taken, answered too late.
    let n = 0;
    const d = await startResendDouble({
      rateLimit: 100,
      now: time.now,
      onRequest: async () => {
        const mine = ++n;
        if (mine > 4) return;
        await new Promise((resolve) => setTimeout(resolve, 600));
        if (mine <= 2) throw new Error("never taken");
      },
    });
    const store = await openStore(backend);
    try {
      const { subs, doubtful } = await threeInDoubt(store, d, time);
      const engine = engineFor(store, d, 150);
      const { lifecycle, now, paused } = await retryThenPause(store, engine, subs, doubtful);

      expect(await engine.tick(time.set(now))).toMatchObject({ sent: 0, failed: 2 });
      for (let i = 0; i < 100 && d.delivered.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(d.delivered.map((e) => e.to[0]).sort()).toEqual([subs[0]!.email, subs[1]!.email].sort());
      const [article] = (await store.listSends({ subscriberId: paused.id })).filter((s) => s.stepId === "article");
      expect(article).toMatchObject({ status: "in_doubt" });
      // Back where it was before the retry (still paused), and a retry under the first key is refused.
      expect(await store.listEnrollments(paused.id)).toMatchObject([{ status: "paused", nextStepId: "self-release" }]);
      expect(await lifecycle.resume(paused)).toBe(1);
      await expect(lifecycle.retrySend(article!.id, plus(now, HOUR), "test")).rejects.toThrow(/idempotency key is not recorded/);
      await engine.tick(time.set(plus(now, HOUR)));
      expect(articlesTo(d, paused.email)).toBe(0);
    } finally {
      await store.close();
      await d.close();
    }
  }, 60_000);
});
