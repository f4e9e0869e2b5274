import { afterAll, describe, expect, it } from "vitest";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { HOUR, MINUTE, T0, cleanupTempDirs, plus, seedEnrolled } from "../support/delivery-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { startResendDouble } from "../support/resend-double.ts";
import { type Backend, firstRequestsLate, openStoreOn, resendEngine } from "../support/retry-helpers.ts";
import { TestClock } from "../support/test-clock.ts";

const db = pgDatabase("drip_retry_unit");
afterAll(() => cleanupTempDirs());

const openStore = (backend: Backend) => openStoreOn(backend, db, "drip-retry-unit-");

describe.each(["sqlite", "postgres"] as const)("a retried in-doubt batch goes out whole (%s)", (backend) => {
  it("seven in-doubt sends retried behind five earlier steps, with pages of ten: one request under the first key with all seven, each delivered once", async () => {
    const time = new TestClock(T0);
    // The first batch's two attempts get no answer and are never taken (the provider fails before accepting).
    const d = await startResendDouble({ rateLimit: 100, now: time.now, onRequest: firstRequestsLate(2, false) });
    const store = await openStore(backend);
    // The first engine gives up on an answer after 150 ms (the lost batch); the one that sends the retry waits as long as it takes.
    // A batching transport claims five pages' worth at a time: pages of ten.
    const engineWith = (timeoutMs: number) => resendEngine(store, d, timeoutMs, { pageSize: 2 });
    const engine = engineWith(150);
    try {
      const group = await seedEnrolled(store, engine, 7, T0);
      expect(await engine.tick(time.set(T0))).toMatchObject({ sent: 0, failed: 7 });
      const doubtful = await store.listSends({ statuses: ["in_doubt"], limit: 100 });
      expect(doubtful).toHaveLength(7);
      expect(d.delivered).toHaveLength(0);

      // Five more people whose first step is due before the retry: a page of ten takes them first.
      const others = await seedEnrolled(store, engine, 5, plus(T0, 30 * MINUTE), 7);
      const now = plus(T0, HOUR);
      const report = await new Lifecycle({ store, sequences: engine }).retrySend(doubtful[0]!.id, now, "test");
      expect(report).toMatchObject({ outcome: "queued" });
      expect(report.siblings).toHaveLength(6);
      const key = report.key!;

      const requestsBefore = d.requests.length;
      expect(await engineWith(30_000).tick(time.set(now))).toMatchObject({ sent: 12, failed: 0 });
      const underKey = d.requests.slice(requestsBefore).filter((r) => r.idempotencyKey === key);
      expect(underKey).toEqual([expect.objectContaining({ status: 200, count: 7 })]);
      const delivered = d.delivered.map((e) => e.to[0]).sort();
      expect(delivered).toEqual([...group, ...others].map((s) => s.email).sort());
      expect(new Set(delivered).size).toBe(12);
      for (const s of group) expect(await store.listSends({ subscriberId: s.id })).toMatchObject([{ status: "sent" }]);
    } finally {
      await store.close();
      await d.close();
    }
  }, 60_000);
});
