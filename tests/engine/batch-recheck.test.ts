/**
 * A written provider batch re-checks each send by its lane's own rules right before every
 * attempt, not only the subscriber's status: a reader who leaves the newsletter's topic after
 * the batch was written (and before the request) gets nothing, and the send is recorded as
 * skipped with the reason; a course step whose reader gained a tag that skips it is held back
 * the same way. On SQLite and on PostgreSQL (the fresh read goes through the store:
 * currentSubscribers, topicMembersAmong), with the real Resend SDK at the provider double.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { NEWSLETTER_STEP, type Store } from "../../src/store/types.ts";
import { type App, createApp } from "../../src/wiring.ts";
import { API_KEY, MINUTE, T0, cleanupTempDirs, plainEmail, tempDir } from "../support/delivery-helpers.ts";
import { SECRET } from "../support/engine-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { type ResendDouble, startResendDouble } from "../support/resend-double.ts";

const ISSUE = "two-ways-to-ease-outer-hip-pain";
const db = pgDatabase("drip_recheck");
afterAll(() => cleanupTempDirs());

async function open(backend: "sqlite" | "postgres", d: ResendDouble): Promise<App> {
  const dir = tempDir("drip-recheck-");
  const env = {
    DATABASE_URL: backend === "sqlite" ? `file:${join(dir, "drip.db")}` : db.url,
    OUTBOX_DIR: join(dir, "outbox"),
    RESEND_API_KEY: API_KEY,
    RESEND_BASE_URL: d.url,
    DRIP_RATE_LIMIT: "50",
    DRIP_SECRET: SECRET,
  };
  if (backend === "postgres") await db.reset();
  return createApp(loadConfig(env));
}

async function member(store: Store, email: string, tags: string[] = []) {
  const { subscriber } = await store.upsertSubscriber({ email, status: "active", timezone: "Europe/London", tags }, T0);
  await store.setTopic(subscriber.id, "weekly", { status: "joined", at: T0, source: "test" });
  return subscriber;
}

/** Claim what is due and write it as one batch, as the engine does before its request; due for recovery at once. */
async function writeDueAsBatch(store: Store, id: string) {
  const claims = await store.claimDue(T0, 100, 5 * MINUTE);
  const payload = JSON.stringify({ sendIds: claims.map((c) => c.sendId), emails: claims.map((c) => plainEmail(c.subscriber.email)) });
  expect(await store.createBatch({ id, payload, claims, leaseUntil: T0, now: T0 })).toEqual({ lost: [] });
  return claims;
}

describe.each(["sqlite", "postgres"] as const)("batch re-check by lane (%s)", (backend) => {
  it("a reader who leaves the topic after the newsletter's batch was written, before the attempt, gets nothing: skipped, 'left the topic'", async () => {
    const d = await startResendDouble({ rateLimit: 50 });
    const app = await open(backend, d);
    try {
      const stays = await member(app.store, "stays@example.com");
      const leaves = await member(app.store, "leaves@example.com");
      await app.newsletters.schedule(ISSUE, { kind: "now" }, T0);
      const claims = await writeDueAsBatch(app.store, "drip-batch-topic-recheck");
      expect(claims.map((c) => c.stepId)).toEqual([NEWSLETTER_STEP, NEWSLETTER_STEP]);
      // Still active, still subscribed: only the topic is left.
      expect(await app.lifecycle.leaveTopic(leaves, "weekly", T0, "one-click")).toBe("left");
      expect((await app.store.getSubscriber(leaves.id))?.status).toBe("active");

      expect(await app.engine.tick(T0)).toEqual({ sent: 1, skipped: 1, failed: 0, deferred: 0 });
      expect(d.delivered.map((e) => e.to[0])).toEqual(["stays@example.com"]);
      // One request, under the batch's own key (the same key with the leaver taken out).
      expect(d.requests).toEqual([expect.objectContaining({ count: 1, idempotencyKey: "drip-batch-topic-recheck" })]);
      const sends = await app.store.listSends({ subscriberId: leaves.id });
      expect(sends).toMatchObject([{ status: "skipped", reason: "left the topic" }]);
      expect(await app.store.listSends({ subscriberId: stays.id })).toMatchObject([{ status: "sent" }]);
      const report = await app.store.issueReport(ISSUE);
      expect(report).toMatchObject({ sent: 1, skipped: 1, skippedReasons: { "left the topic": 1 } });
    } finally {
      await app.close();
      await d.close();
    }
  });

  it("a course step whose reader is tagged `booked` after the batch was written is skipped by the course's own rule", async () => {
    const d = await startResendDouble({ rateLimit: 50 });
    const app = await open(backend, d);
    try {
      const course = app.engine.getSequence("hip-pain-course")!;
      const book = course.steps.findIndex((s) => s.id === "book");
      expect(book).toBeGreaterThan(0);
      const subscribed = await app.lifecycle.subscribe(
        { email: "books@example.com", name: "B", timezone: "Europe/London", tags: [] },
        { confirmed: true, source: "test" },
        T0,
      );
      if (subscribed.kind !== "ok") throw new Error("not subscribed");
      const reader = subscribed.subscriber;
      // Put the reader at the booking step, due now (as if the earlier steps had gone out).
      const e = (await app.store.getEnrollment(reader.id, "hip-pain-course"))!;
      await app.store.replanEnrollment(e.id, T0, { nextStepId: "book" });
      const claims = await writeDueAsBatch(app.store, "drip-batch-course-recheck");
      expect(claims.map((c) => c.stepId)).toEqual(["book"]);
      // The booking system reports the booking after the batch was written.
      await app.store.addTag(reader.id, "booked");

      const tick = await app.engine.tick(T0);
      expect(tick.skipped).toBeGreaterThanOrEqual(1);
      expect(d.delivered.filter((m) => m.to[0] === "books@example.com" && m.subject !== "Thanks for booking with Body Heal Therapy")).toEqual([]);
      const book1 = (await app.store.listSends({ subscriberId: reader.id, sequenceId: "hip-pain-course" })).find((s) => s.stepId === "book");
      expect(book1).toMatchObject({ status: "skipped", reason: 'subscriber has tag "booked"' });
      // Skipped, not ended: the course moves on to its next step.
      expect(await app.store.getEnrollment(reader.id, "hip-pain-course")).toMatchObject({ status: "active", nextStepId: course.steps[book + 1]!.id });
    } finally {
      await app.close();
      await d.close();
    }
  });
});
