/**
 * An in-doubt batch retried under its first key goes out whole, in one request, however the
 * claim pages fall. The provider never took the first batch (no answer, nothing accepted), so
 * the retry's request under that key is taken fresh: had a page carried only part of the
 * group, the rest would have drawn 409 under the same key and been recorded as sent without
 * going out. On SQLite and on PostgreSQL, with the real Resend SDK at the provider double.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import hipPainCourse from "../../sequences/hip-pain-course.ts";
import { RateLimiter } from "../../src/delivery/rate-limiter.ts";
import { ResendTransport } from "../../src/delivery/resend.ts";
import { Engine } from "../../src/engine/engine.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/types.ts";
import { API_KEY, HOUR, InstantClock, MINUTE, T0, cleanupTempDirs, plus, seedEnrolled, tempDir } from "../support/delivery-helpers.ts";
import { SECRET } from "../support/engine-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { startResendDouble } from "../support/resend-double.ts";
import { TestClock } from "../support/test-clock.ts";

const db = pgDatabase("drip_retry_unit");
afterAll(() => cleanupTempDirs());

async function openStore(backend: "sqlite" | "postgres"): Promise<Store> {
  if (backend === "postgres") await db.reset();
  const store = backend === "sqlite" ? new SqliteStore(`file:${join(tempDir("drip-retry-unit-"), "drip.db")}`) : new PostgresStore(db.url);
  await store.migrate();
  return store;
}

describe.each(["sqlite", "postgres"] as const)("a retried in-doubt batch goes out whole (%s)", (backend) => {
  it("seven in-doubt sends retried behind five earlier steps, with pages of ten: one request under the first key with all seven, each delivered once", async () => {
    const time = new TestClock(T0);
    // The first batch's two attempts get no answer and are never taken (the provider fails before accepting).
    let lost = 2;
    const d = await startResendDouble({
      rateLimit: 100,
      now: time.now,
      onRequest: async () => {
        if (lost <= 0) return;
        lost--;
        await new Promise((resolve) => setTimeout(resolve, 600));
        throw new Error("never taken");
      },
    });
    const store = await openStore(backend);
    // The first engine gives up on an answer after 150 ms (the lost batch); the one that sends the retry waits as long as it takes.
    const engineWith = (timeoutMs: number) =>
      new Engine({
        store,
        sequences: [hipPainCourse],
        transport: new ResendTransport(API_KEY, { baseUrl: d.url, limiter: new RateLimiter(100), timeoutMs }),
        links: { publicUrl: "https://drip.example.com", bookingUrl: "https://clinic.example.com/book", siteUrl: "https://clinic.example.com" },
        secret: SECRET,
        from: "hello@clinic.example.com",
        postalAddress: "Body Heal Therapy, 1 Example Street, Example Town, EX1 2MP",
        emailsDir: EMAILS_DIR,
        clock: new InstantClock(),
        maxAttempts: 2,
        // A batching transport claims five pages' worth at a time: pages of ten.
        pageSize: 2,
      });
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
