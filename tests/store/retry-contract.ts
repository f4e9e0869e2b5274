/**
 * Store contract: retrying a failed or in-doubt send (requeueSend), held to every backend
 * through describeStoreContract. The enrollment is rewound to the step and goes back where it
 * was; nothing claimed, left or suppressed is touched; an in-doubt send keeps its key.
 */
import { describe, expect, it } from "vitest";
import type { ClaimedSend, Store } from "../../src/store/types.ts";
import { HOUR, MINUTE, at } from "../support/engine-helpers.ts";

const T0 = at("2027-01-04T10:00:00Z");
const LEASE = 5 * MINUTE;
const plusMs = (d: Date, ms: number) => new Date(d.getTime() + ms);
const DAY2 = plusMs(T0, 48 * HOUR);

async function enrolledAt(s: Store, email: string) {
  const { subscriber } = await s.upsertSubscriber({ email, status: "active", timezone: "Europe/London" }, T0);
  await s.enroll({ subscriberId: subscriber.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: false });
  return subscriber;
}

/** Step one claimed and recorded as failed; the enrollment moves on to step two, due on day 2. */
async function failedSend(s: Store, email: string) {
  const sub = await enrolledAt(s, email);
  const claim = (await s.claimDue(T0, 10, LEASE)).find((c) => c.subscriber.id === sub.id)!;
  await s.recordOutcome(claim, { status: "failed", at: T0, reason: "provider said no" }, { kind: "next", stepId: "two", dueAt: DAY2 });
  return { sub, sendId: claim.sendId };
}

const payload = (cs: readonly ClaimedSend[]) => JSON.stringify({ sendIds: cs.map((c) => c.sendId), emails: cs.map((c) => ({ to: [c.subscriber.email] })) });

/** `emails` enrolled and sent in one batch `id` at T0 whose outcome is unknown (in doubt); their claims, in id order. */
async function inDoubtGroup(s: Store, id: string, emails: readonly string[]): Promise<ClaimedSend[]> {
  const subs = new Set<string>();
  for (const e of emails) subs.add((await enrolledAt(s, e)).id);
  const claims = (await s.claimDue(T0, 100, LEASE)).filter((c) => subs.has(c.subscriber.id));
  await s.createBatch({ id, payload: payload(claims), claims, leaseUntil: plusMs(T0, LEASE), now: T0 });
  await s.completeBatch(
    id,
    claims.map((claim) => ({ claim, outcome: { status: "in_doubt" as const, at: T0, reason: "no answer" }, advance: { kind: "completed" as const } })),
  );
  return claims.sort((a, b) => a.sendId.localeCompare(b.sendId));
}

export function retryContract(getStore: () => Store): void {
  describe("status reasons (drip show, drip export)", () => {
    it("statusReasons: the suppression's reason, else the way they unsubscribed (not a topic left); active subscribers are not in it", async () => {
      const store = getStore();
      const add = async (email: string) => (await store.upsertSubscriber({ email, status: "active" }, T0)).subscriber;
      const [a, b, c, d] = [await add("a@example.com"), await add("b@example.com"), await add("c@example.com"), await add("d@example.com")];
      await store.suppress("a@example.com", "hard bounce", plusMs(T0, MINUTE));
      await store.leave(a.id, "suppressed", "hard bounce", plusMs(T0, MINUTE));
      await store.recordEvent({ subscriberId: b.id, sendId: null, type: "unsubscribed", at: plusMs(T0, MINUTE), data: { via: "weekly", topic: "weekly" } });
      await store.leave(b.id, "unsubscribed", "unsubscribed", plusMs(T0, 2 * MINUTE), { type: "unsubscribed", data: { via: "one-click" } });
      await store.leave(c.id, "unsubscribed", "unsubscribed", plusMs(T0, 3 * MINUTE));
      const reasons = await store.statusReasons([a.id, b.id, c.id, d.id]);
      expect(reasons.get(a.id)).toEqual({ reason: "hard bounce", via: null, at: plusMs(T0, MINUTE) });
      expect(reasons.get(b.id)).toEqual({ reason: "unsubscribed via one-click", via: "one-click", at: plusMs(T0, 2 * MINUTE) });
      expect(reasons.get(c.id)).toEqual({ reason: "unsubscribed", via: null, at: plusMs(T0, 3 * MINUTE) });
      expect(reasons.has(d.id)).toBe(false);
      expect((await store.statusReasons([])).size).toBe(0);
    });
  });

  describe("skipped sends per step (drip stats)", () => {
    it("skippedByStep counts skipped sends per step and reason, for one sequence or all", async () => {
      const store = getStore();
      for (const e of ["k1@example.com", "k2@example.com", "k3@example.com"]) await enrolledAt(store, e);
      const claims = await store.claimDue(T0, 10, LEASE);
      const reasons = ["tagged booked", "tagged booked", null];
      for (const [i, c] of claims.entries()) await store.recordOutcome(c, { status: "skipped", at: T0, reason: reasons[i] ?? null }, { kind: "completed" });
      const rows = await store.skippedByStep("seq");
      expect(rows.sort((a, b) => a.reason.localeCompare(b.reason))).toEqual([
        { sequenceId: "seq", stepId: "one", reason: "no reason", count: 1 },
        { sequenceId: "seq", stepId: "one", reason: "tagged booked", count: 2 },
      ]);
      expect(await store.skippedByStep("other")).toEqual([]);
      expect(await store.skippedByStep()).toHaveLength(2);
    });
  });

  describe("retrying failed and in-doubt sends", () => {
    it("a failed send goes back in the queue: its enrollment is rewound to the step, due now, and returns to where it was once the step is recorded", async () => {
      const store = getStore();
      const { sub, sendId } = await failedSend(store, "r@example.com");
      const now = plusMs(T0, HOUR);
      const r = await store.requeueSend(sendId, now);
      expect(r).toMatchObject({ kind: "queued", key: null, siblings: [] });
      expect(await store.getSend(sendId)).toMatchObject({ status: "claimed", attempts: 0 });
      expect((await store.getSend(sendId))!.reason).toContain("was failed after 1 attempt(s): provider said no");
      expect(await store.getEnrollment(sub.id, "seq")).toMatchObject({ nextStepId: "one", nextDueAt: now, status: "active", claimed: false });

      const [claim] = await store.claimDue(now, 10, LEASE);
      expect(claim).toMatchObject({ sendId, stepId: "one", attempts: 1 });
      expect(claim!.retryKey).toBeUndefined();
      // Whatever the engine computes as the next step, the enrollment goes back to step two on day 2.
      expect(
        await store.recordOutcome(claim!, { status: "sent", at: now, providerMessageId: "m-1" }, { kind: "next", stepId: "three", dueAt: plusMs(now, HOUR) }),
      ).toBe(true);
      expect(await store.getSend(sendId)).toMatchObject({ status: "sent", providerMessageId: "m-1" });
      expect(await store.getEnrollment(sub.id, "seq")).toMatchObject({ nextStepId: "two", nextDueAt: DAY2, status: "active", cursor: "one" });
      expect(await store.requeueSend(sendId, now)).toMatchObject({ kind: "refused", code: "conflict", reason: expect.stringContaining("it was sent") });
    });

    it("a pause made while the retried step was out is kept: the enrollment goes back to its next step, paused", async () => {
      const store = getStore();
      const { sub, sendId } = await failedSend(store, "pause-later@example.com");
      const now = plusMs(T0, HOUR);
      expect((await store.requeueSend(sendId, now)).kind).toBe("queued");
      const [claim] = await store.claimDue(now, 10, LEASE);
      expect(claim).toMatchObject({ sendId });
      // Paused while the retried step is claimed (the send may still go: it was re-checked before the pause).
      const e = (await store.getEnrollment(sub.id, "seq"))!;
      await store.setEnrollmentStatus(e.id, "paused", "paused by the subscriber");
      expect(
        await store.recordOutcome(claim!, { status: "sent", at: now, providerMessageId: "m-p" }, { kind: "next", stepId: "three", dueAt: plusMs(now, HOUR) }),
      ).toBe(true);
      expect(await store.getSend(sendId)).toMatchObject({ status: "sent" });
      expect(await store.getEnrollment(sub.id, "seq")).toMatchObject({ nextStepId: "two", nextDueAt: DAY2, status: "paused", cursor: "one" });
    });

    it("a completed enrollment is completed again after the retry; an exit at send time still exits", async () => {
      const store = getStore();
      const a = await enrolledAt(store, "done@example.com");
      const b = await enrolledAt(store, "exit@example.com");
      const claims = await store.claimDue(T0, 10, LEASE);
      for (const c of claims) await store.recordOutcome(c, { status: "failed", at: T0, reason: "no" }, { kind: "completed" });
      for (const c of claims) expect((await store.requeueSend(c.sendId, T0)).kind).toBe("queued");
      const again = await store.claimDue(T0, 10, LEASE);
      expect(again).toHaveLength(2);
      for (const c of again) {
        const exit = c.subscriber.id === b.id;
        await store.recordOutcome(
          c,
          exit ? { status: "skipped", at: T0, reason: "tagged booked" } : { status: "sent", at: T0 },
          exit ? { kind: "exited", reason: "tagged booked" } : { kind: "next", stepId: "two", dueAt: DAY2 },
        );
      }
      expect(await store.getEnrollment(a.id, "seq")).toMatchObject({ status: "completed", nextStepId: null, nextDueAt: null });
      expect(await store.getEnrollment(b.id, "seq")).toMatchObject({ status: "exited", reason: "tagged booked" });
    });

    it("refused with the reason, nothing written: unknown, claimed, sent, unsubscribed, suppressed, paused, exited, or its enrollment claimed now", async () => {
      const store = getStore();
      expect(await store.requeueSend("9.1.nope", T0)).toMatchObject({ kind: "refused", code: "not_found", send: null });

      const queued = await failedSend(store, "q@example.com");
      await store.requeueSend(queued.sendId, T0);
      expect(await store.requeueSend(queued.sendId, T0)).toMatchObject({ kind: "refused", reason: expect.stringContaining("being sent now") });

      const unsub = await failedSend(store, "u@example.com");
      await store.leave(unsub.sub.id, "unsubscribed", "unsubscribed (one-click)", plusMs(T0, MINUTE));
      const u = await store.requeueSend(unsub.sendId, plusMs(T0, HOUR));
      expect(u).toMatchObject({ kind: "refused", code: "conflict" });
      expect(u.kind === "refused" && u.reason).toMatch(/u@example\.com unsubscribed on 2027-01-04T10:01:00\.000Z/);

      const supp = await failedSend(store, "s@example.com");
      await store.suppress("s@example.com", "bounced (hard)", plusMs(T0, MINUTE));
      const s = await store.requeueSend(supp.sendId, plusMs(T0, HOUR));
      expect(s.kind === "refused" && s.reason).toMatch(/s@example\.com is suppressed \(bounced \(hard\)/);

      const paused = await failedSend(store, "p@example.com");
      const pe = (await store.getEnrollment(paused.sub.id, "seq"))!;
      await store.setEnrollmentStatus(pe.id, "paused", "paused by staff");
      expect(await store.requeueSend(paused.sendId, T0)).toMatchObject({ kind: "refused", reason: expect.stringContaining("paused") });

      const exited = await failedSend(store, "x@example.com");
      const xe = (await store.getEnrollment(exited.sub.id, "seq"))!;
      await store.setEnrollmentStatus(xe.id, "exited", "left the course");
      expect(await store.requeueSend(exited.sendId, T0)).toMatchObject({ kind: "refused", reason: expect.stringContaining("ended (left the course)") });

      // The enrollment's next step is claimed by a worker right now: the rewind must wait.
      const busy = await failedSend(store, "b@example.com");
      const busyEnrollment = (await store.getEnrollment(busy.sub.id, "seq"))!;
      const taken = (await store.claimDue(DAY2, 50, LEASE)).find((c) => c.enrollmentId === busyEnrollment.id);
      expect(taken?.stepId).toBe("two");
      expect(await store.requeueSend(busy.sendId, DAY2)).toMatchObject({ kind: "refused", reason: expect.stringContaining("claimed by a worker") });
      expect(await store.getSend(busy.sendId)).toMatchObject({ status: "failed", reason: "provider said no" });
      expect(await store.getEnrollment(busy.sub.id, "seq")).toMatchObject({ nextStepId: "two", claimed: true });
    });

    it("an in-doubt send keeps its batch's idempotency key and goes with its batch's other in-doubt sends; past the key's 24 h it is refused", async () => {
      const store = getStore();
      for (const e of ["d1@example.com", "d2@example.com", "d3@example.com"]) await enrolledAt(store, e);
      const claims = await store.claimDue(T0, 10, LEASE);
      await store.createBatch({ id: "batch-doubt", payload: payload(claims), claims, leaseUntil: plusMs(T0, LEASE), now: T0 });
      await store.completeBatch(
        "batch-doubt",
        claims.map((claim) => ({ claim, outcome: { status: "in_doubt" as const, at: T0, reason: "no answer" }, advance: { kind: "completed" as const } })),
      );
      const [first, second, third] = claims;
      await store.leave(third!.subscriber.id, "unsubscribed", "unsubscribed", T0);

      const now = plusMs(T0, 2 * HOUR);
      const r = await store.requeueSend(first!.sendId, now);
      expect(r).toMatchObject({ kind: "queued", key: "batch-doubt", siblings: [second!.sendId] });
      expect(await store.getSend(third!.sendId)).toMatchObject({ status: "in_doubt" }); // they left: not queued

      const again = await store.claimDue(now, 10, LEASE);
      expect(again.map((c) => c.sendId).sort()).toEqual([first!.sendId, second!.sendId].sort());
      for (const c of again) expect(c.retryKey).toEqual({ key: "batch-doubt", since: T0 });
      // The retry's batch takes the same id, with the key's first use as its age.
      expect(await store.createBatch({ id: "batch-doubt", payload: payload(again), claims: again, leaseUntil: now, now, keyWindowFrom: T0 })).toEqual({
        lost: [],
      });
      const [recovered] = await store.claimStaleBatches(now, 10, LEASE);
      expect(recovered).toMatchObject({ id: "batch-doubt", createdAt: T0 });
      await store.completeBatch(
        "batch-doubt",
        recovered!.claims.map((claim) => ({ claim, outcome: { status: "sent" as const, at: now }, advance: { kind: "completed" as const } })),
      );
      expect(await store.getSend(first!.sendId)).toMatchObject({ status: "sent" });

      // Another in-doubt batch, asked about after its key expired.
      const late = await enrolledAt(store, "late@example.com");
      const [lc] = (await store.claimDue(T0, 10, LEASE)).filter((c) => c.subscriber.id === late.id);
      await store.createBatch({ id: "batch-late", payload: payload([lc!]), claims: [lc!], leaseUntil: plusMs(T0, LEASE), now: T0 });
      await store.completeBatch("batch-late", [{ claim: lc!, outcome: { status: "in_doubt", at: T0, reason: "no answer" }, advance: { kind: "completed" } }]);
      const expired = await store.requeueSend(lc!.sendId, plusMs(T0, 25 * HOUR));
      expect(expired).toMatchObject({ kind: "refused", reason: expect.stringContaining("no longer keeps its idempotency key") });
      expect(await store.getSend(lc!.sendId)).toMatchObject({ status: "in_doubt" });
    });

    it("a retried in-doubt batch is claimed as one unit: a page never takes part of its key's sends (it runs over its size for them)", async () => {
      const store = getStore();
      const group = await inDoubtGroup(store, "batch-unit", ["u1@example.com", "u2@example.com", "u3@example.com", "u4@example.com"]);
      const now = plusMs(T0, 2 * HOUR);
      expect(await store.requeueSend(group[0]!.sendId, now)).toMatchObject({ kind: "queued", key: "batch-unit" });
      // Due before the group: the page's first place is this course step's.
      const early = await enrolledAt(store, "early@example.com");
      await store.replanEnrollment((await store.getEnrollment(early.id, "seq"))!.id, plusMs(T0, HOUR));

      const first = await store.claimDue(now, 2, LEASE);
      const keyed = first.filter((c) => c.retryKey);
      // Either the whole group (a page of 2 running over to 5) or none of it: never 1 of 4.
      expect([0, 4]).toContain(keyed.length);
      const second = await store.claimDue(now, 2, LEASE);
      const all = [...first, ...second];
      expect(
        all
          .filter((c) => c.retryKey)
          .map((c) => c.sendId)
          .sort(),
      ).toEqual(group.map((c) => c.sendId).sort());
      const pages = [first, second].map((page) => page.filter((c) => c.retryKey).length);
      expect(pages.sort()).toEqual([0, 4]);
      expect(all.map((c) => c.subscriber.id)).toContain(early.id);
      for (const c of all.filter((x) => x.retryKey)) expect(c).toMatchObject({ attempts: 1, retryKey: { key: "batch-unit", since: T0 } });
      expect(await store.claimDue(now, 10, LEASE)).toEqual([]);
    });

    it("a retry group waits whole while one of its sends cannot be claimed (due later): none of it is claimed, then all of it", async () => {
      const store = getStore();
      const group = await inDoubtGroup(store, "batch-wait", ["w1@example.com", "w2@example.com", "w3@example.com"]);
      const now = plusMs(T0, 2 * HOUR);
      expect(await store.requeueSend(group[0]!.sendId, now)).toMatchObject({ kind: "queued", siblings: [group[1]!.sendId, group[2]!.sendId] });
      // One of them is re-planned an hour later (a new time zone, say): the others must not go without it.
      const later = plusMs(now, HOUR);
      await store.replanEnrollment(group[2]!.enrollmentId, later);
      expect(await store.claimDue(now, 10, LEASE)).toEqual([]);
      expect(await store.getSend(group[0]!.sendId)).toMatchObject({ status: "claimed", attempts: 0 });
      expect(await store.getEnrollment(group[0]!.subscriber.id, "seq")).toMatchObject({ claimed: false });
      const claims = await store.claimDue(later, 1, LEASE);
      expect(claims.map((c) => c.sendId).sort()).toEqual(group.map((c) => c.sendId).sort());
      for (const c of claims) expect(c).toMatchObject({ attempts: 1, retryKey: { key: "batch-wait", since: T0 } });
    });

    it("a retry group's claim that lapsed is taken again whole, however small the page", async () => {
      const store = getStore();
      const group = await inDoubtGroup(store, "batch-lapse", ["l1@example.com", "l2@example.com", "l3@example.com"]);
      const now = plusMs(T0, 2 * HOUR);
      await store.requeueSend(group[1]!.sendId, now);
      expect(await store.claimDue(now, 1, LEASE)).toHaveLength(3);
      // The worker died: its lease runs out and another takes the group, all of it.
      const after = plusMs(now, LEASE + MINUTE);
      const again = await store.claimDue(after, 1, LEASE);
      expect(again.map((c) => c.sendId).sort()).toEqual(group.map((c) => c.sendId).sort());
      for (const c of again) expect(c).toMatchObject({ attempts: 2, retryKey: { key: "batch-lapse", since: T0 } });
    });
  });
}
