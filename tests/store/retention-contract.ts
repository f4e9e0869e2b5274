/**
 * Store contract: event retention (`drip db prune`), held to every backend through
 * describeStoreContract. Only provider events older than the cutoff go, in bounded batches
 * that walk the table once; sends, subscribers, unsubscribes, bookings, staff retries and the
 * audit log stay whatever their age. What the stats lose is stated here: old opens and clicks.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/types.ts";
import { HOUR, MINUTE, at } from "../support/engine-helpers.ts";

const T0 = at("2027-01-04T10:00:00Z");
const DAY = 24 * HOUR;
const LEASE = 5 * MINUTE;
const plusMs = (d: Date, ms: number) => new Date(d.getTime() + ms);

/** One subscriber with step one sent at T0, and its id and send id. */
async function sentOne(s: Store, email: string) {
  const { subscriber } = await s.upsertSubscriber({ email, status: "active", timezone: "Europe/London" }, T0);
  await s.enroll({ subscriberId: subscriber.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: false });
  const claim = (await s.claimDue(T0, 10, LEASE)).find((c) => c.subscriber.id === subscriber.id)!;
  await s.recordOutcome(claim, { status: "sent", at: T0, providerMessageId: `pm-${email}` }, { kind: "completed" });
  return { subscriberId: subscriber.id, sendId: claim.sendId };
}

const typesOf = async (s: Store, subscriberId: string) =>
  (await s.subscriberTimeline(subscriberId))
    .map((e) => e.kind)
    .filter((k) => !["signed_up", "enrolled", "sent", "completed"].includes(k))
    .sort();

export function retentionContract(getStore: () => Store): void {
  describe("event retention (drip db prune)", () => {
    it("deletes provider events older than the cutoff only; keeps newer ones, unsubscribes, bookings, retries, sends and the audit log", async () => {
      const store = getStore();
      const old = await sentOne(store, "old@example.com");
      const cutoff = plusMs(T0, 30 * DAY);
      // Old provider events (all five types) and one just before the cutoff.
      for (const [i, type] of ["delivered", "opened", "clicked", "bounced", "complained"].entries())
        await store.recordEvent({ subscriberId: old.subscriberId, sendId: old.sendId, type, at: plusMs(T0, (i + 1) * MINUTE), svixId: `old-${type}` });
      await store.recordEvent({ subscriberId: old.subscriberId, sendId: old.sendId, type: "opened", at: plusMs(cutoff, -1) });
      // At and after the cutoff: kept.
      await store.recordEvent({ subscriberId: old.subscriberId, sendId: old.sendId, type: "clicked", at: cutoff, data: { link: "https://example.com/kept" } });
      await store.recordEvent({ subscriberId: old.subscriberId, sendId: old.sendId, type: "opened", at: plusMs(cutoff, DAY) });
      // Old, but not provider events: kept whatever their age.
      await store.recordEvent({ subscriberId: old.subscriberId, sendId: old.sendId, type: "booked", at: plusMs(T0, HOUR) });
      await store.recordEvent({
        subscriberId: old.subscriberId,
        sendId: old.sendId,
        type: "retry",
        at: plusMs(T0, HOUR),
        data: { reason: "queued again by staff" },
      });
      await store.leave(old.subscriberId, "unsubscribed", "unsubscribed", plusMs(T0, 2 * HOUR), { type: "unsubscribed", data: { via: "one-click" } });
      await store.appendAudit({ at: T0, staffId: null, staffEmail: "o@clinic.example", action: "retry", target: old.sendId });

      expect(await store.countPrunableEvents(cutoff)).toBe(6);
      expect(await store.countPrunableEvents(plusMs(cutoff, 1))).toBe(7);
      expect(await store.countPrunableEvents(T0)).toBe(0);

      const first = await store.pruneEvents(cutoff, 100);
      expect(first.deleted).toBe(6);
      expect(first.lastId).toBeGreaterThan(0);
      expect(await store.countPrunableEvents(cutoff)).toBe(0);
      expect(await store.pruneEvents(cutoff, 100)).toEqual({ deleted: 0, lastId: 0 });

      expect(await typesOf(store, old.subscriberId)).toEqual(["booked", "clicked", "opened", "retry", "unsubscribed"]);
      expect(await store.getSend(old.sendId)).toMatchObject({ status: "sent", providerMessageId: "pm-old@example.com" });
      expect(await store.getSubscriber(old.subscriberId)).toMatchObject({ status: "unsubscribed" });
      expect((await store.statusReasons([old.subscriberId])).get(old.subscriberId)?.reason).toBe("unsubscribed via one-click");
      expect((await store.listAudit(10)).map((a) => a.action)).toEqual(["retry"]);
      // The webhook's send lookup still works: the send keeps its provider id.
      expect((await store.findSendByProviderId("pm-old@example.com"))?.id).toBe(old.sendId);
    });

    it("stats lose what was pruned: the send still counts as sent, its old opens and clicks no longer count", async () => {
      const store = getStore();
      const a = await sentOne(store, "a@example.com");
      await store.recordEvent({ subscriberId: a.subscriberId, sendId: a.sendId, type: "opened", at: plusMs(T0, HOUR) });
      await store.recordEvent({ subscriberId: a.subscriberId, sendId: a.sendId, type: "clicked", at: plusMs(T0, 2 * HOUR) });
      const before = (await store.stepStats("seq")).find((r) => r.stepId === "one");
      expect(before).toMatchObject({ sent: 1, opened: 1, clicked: 1 });
      await store.pruneEvents(plusMs(T0, 90 * DAY), 100);
      const after = (await store.stepStats("seq")).find((r) => r.stepId === "one");
      expect(after).toMatchObject({ sent: 1, opened: 0, clicked: 0 });
    });

    it("batches are bounded by the limit and continue from the last id: every old event goes exactly once", async () => {
      const store = getStore();
      const a = await sentOne(store, "batch@example.com");
      const cutoff = plusMs(T0, 10 * DAY);
      // 23 old events interleaved with newer ones and kept types.
      for (let i = 0; i < 23; i++) {
        await store.recordEvent({ subscriberId: a.subscriberId, sendId: a.sendId, type: i % 2 ? "opened" : "delivered", at: plusMs(T0, i * MINUTE) });
        if (i % 5 === 0) await store.recordEvent({ subscriberId: a.subscriberId, sendId: a.sendId, type: "opened", at: plusMs(cutoff, i * MINUTE) });
        if (i % 7 === 0) await store.recordEvent({ subscriberId: a.subscriberId, sendId: a.sendId, type: "booked", at: plusMs(T0, i * MINUTE) });
      }
      expect(await store.countPrunableEvents(cutoff)).toBe(23);
      const sizes: number[] = [];
      let afterId = 0;
      for (;;) {
        const r = await store.pruneEvents(cutoff, 5, afterId);
        if (r.deleted === 0) break;
        expect(r.lastId).toBeGreaterThan(afterId);
        sizes.push(r.deleted);
        afterId = r.lastId;
      }
      expect(sizes).toEqual([5, 5, 5, 5, 3]);
      expect(await store.countPrunableEvents(cutoff)).toBe(0);
      expect(await store.countPrunableEvents(plusMs(cutoff, DAY))).toBe(5); // the newer opens
      const kinds = await typesOf(store, a.subscriberId);
      expect(kinds.filter((k) => k === "booked")).toHaveLength(4);
      expect(kinds.filter((k) => k === "opened")).toHaveLength(5);
      await expect(store.pruneEvents(cutoff, 0)).rejects.toThrow(/limit/);
    });
  });
}
