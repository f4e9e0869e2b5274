/**
 * The Store contract: what every adapter (SQLite today, PostgreSQL next) must do, as a
 * function of "how to open a fresh, migrated store". An adapter's test file adds one line:
 * `describeStoreContract("name", open)`. Case-insensitive emails, idempotent imports, tags,
 * hashed suppression, claims kept apart from the schedule (lease, fencing, deferred
 * re-plans), batches that never hold a send twice, erasure reaching pending batches, status.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AutomationRun } from "../../src/automations/types.ts";
import type { ClaimedSend, Store } from "../../src/store/types.ts";
import { readPayload, storePayload } from "../../src/engine/batch-payload.ts";
import { HOUR, MINUTE, at } from "../support/engine-helpers.ts";
import { newsletterContract } from "./newsletter-contract.ts";
import { retentionContract } from "./retention-contract.ts";
import { retryContract } from "./retry-contract.ts";

const T0 = at("2027-01-04T10:00:00Z");
const LEASE = 5 * MINUTE;
const plusMs = (d: Date, ms: number) => new Date(d.getTime() + ms);

export async function enrolled(s: Store, email: string, dueAt: Date, status: "active" | "pending" = "active") {
  const { subscriber } = await s.upsertSubscriber({ email, status, timezone: "Europe/London" }, T0);
  await s.enroll({ subscriberId: subscriber.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: dueAt, allowReentry: false });
  return subscriber;
}

export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => store.close());
    newsletterContract(() => store);
    retryContract(() => store);
    retentionContract(() => store);

    describe("subscribers", () => {
      it("emails are unique case-insensitively and keep the case they were first given", async () => {
        const first = await store.upsertSubscriber({ email: "Ana@X.com", name: "Ana", status: "pending" }, T0);
        const second = await store.upsertSubscriber({ email: "ana@x.com", name: "Other", status: "active" }, T0);
        expect(first.created).toBe(true);
        expect(second.created).toBe(false);
        expect(second.subscriber.id).toBe(first.subscriber.id);
        expect(second.subscriber).toMatchObject({ email: "Ana@X.com", name: "Ana", status: "pending" });
        expect((await store.findSubscriberByEmail("ANA@x.COM"))?.id).toBe(first.subscriber.id);
        expect(await store.listSubscribers(null, 10)).toHaveLength(1);
      });

      it("importSubscribers twice adds nothing the second time (duplicates within a batch count once)", async () => {
        const rows = [
          { email: "a@example.com", status: "pending" as const, tags: ["vip"] },
          { email: "b@example.com", status: "pending" as const },
          { email: "A@Example.com", status: "pending" as const },
        ];
        const one = await store.importSubscribers(rows, T0);
        expect(one.created.map((s) => s.email)).toEqual(["a@example.com", "b@example.com"]);
        expect(one.existing).toBe(1);
        const two = await store.importSubscribers(rows, T0);
        expect(two).toEqual({ created: [], existing: 3, enrolled: 0 });
        const all = await store.listSubscribers(null, 10);
        expect(all.map((s) => s.email).sort()).toEqual(["a@example.com", "b@example.com"]);
        expect(all.find((s) => s.email === "a@example.com")?.tags).toEqual(["vip"]);
      });

      it("importSubscribers writes a page and its enrollments atomically: a failure mid-page leaves nothing, a re-run brings it all", async () => {
        const rows = ["p@example.com", "q@example.com", "r@example.com", "s@example.com"].map((email) => ({ email, status: "active" as const }));
        const plan = (sub: { id: string }) => ({ sequenceId: "course", startedAt: T0, firstStepId: "first", firstDueAt: T0, _id: sub.id });
        let calls = 0;
        await expect(
          store.importSubscribers(rows, T0, (sub) => {
            if (++calls === 3) throw new Error("crash while enrolling the third row");
            return plan(sub);
          }),
        ).rejects.toThrow("crash while enrolling");
        expect(await store.listSubscribers(null, 10)).toHaveLength(0);
        const again = await store.importSubscribers(rows, T0, plan);
        expect(again).toMatchObject({ existing: 0, enrolled: 4 });
        for (const sub of again.created) expect((await store.getEnrollment(sub.id, "course"))?.nextStepId).toBe("first");
      });

      it("lockSubscriber: a second transaction on the same subscriber waits for the first, then reads what it wrote", async () => {
        const { subscriber } = await store.upsertSubscriber({ email: "lock@example.com", status: "active" }, T0);
        const order: string[] = [];
        let release!: () => void;
        const held = new Promise<void>((r) => {
          release = r;
        });
        let locked!: () => void;
        const firstHolds = new Promise<void>((r) => {
          locked = r;
        });
        // Read-then-write, as the door's tag() does: add the tag unless it is there.
        const tagOnce = (who: string, hold?: Promise<void>) =>
          store.transaction(async (tx) => {
            await tx.lockSubscriber(subscriber.id);
            if (hold) {
              locked();
              await hold;
            }
            const s = await tx.getSubscriber(subscriber.id);
            if (s?.tags.includes("once")) return void order.push(`${who}: already`);
            await tx.addTag(subscriber.id, "once");
            order.push(`${who}: added`);
          });
        const one = tagOnce("one", held);
        await firstHolds;
        const two = tagOnce("two");
        // Room for the second to run past the lock if nothing held it (then it would add first).
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 100));
        release();
        await Promise.all([one, two]);
        expect(order).toEqual(["one: added", "two: already"]);
      });

      it("tags are a set: adding twice keeps one, removing takes it away, and they come back sorted", async () => {
        const { subscriber } = await store.upsertSubscriber({ email: "t@example.com", status: "active" }, T0);
        await store.addTag(subscriber.id, "booked");
        await store.addTag(subscriber.id, "booked");
        await store.addTag(subscriber.id, "alpha");
        expect((await store.getSubscriber(subscriber.id))?.tags).toEqual(["alpha", "booked"]);
        await store.removeTag(subscriber.id, "booked");
        await store.removeTag(subscriber.id, "never-there");
        expect((await store.getSubscriber(subscriber.id))?.tags).toEqual(["alpha"]);
      });

      it("suppression is by hash: any case of the address is suppressed, and the address itself is not stored", async () => {
        await store.suppress("Ana@X.com", "hard bounce", T0);
        await store.suppress("ana@x.com", "again", T0); // harmless
        for (const e of ["ana@x.com", "ANA@X.COM", "Ana@X.com", " ana@x.com "]) expect(await store.isSuppressed(e), e).toBe(true);
        expect(await store.isSuppressed("bob@x.com")).toBe(false);
      });

      it("leave with ifNotLeft: leaves once (status, enrollments, event); one who left already, or is gone, gets no write", async () => {
        const ann = await enrolled(store, "ann@x.com", plusMs(T0, HOUR));
        const later = plusMs(T0, 2 * HOUR);
        const events = async (id: string) =>
          (await store.subscriberTimeline(id)).filter((e) => e.kind === "unsubscribed" && e.detail !== "status unsubscribed");
        expect(await store.leave(ann.id, "unsubscribed", "unsubscribed", T0, { type: "unsubscribed", data: { via: "one-click" } }, { ifNotLeft: true })).toBe(
          true,
        );
        expect(
          await store.leave(ann.id, "unsubscribed", "unsubscribed", later, { type: "unsubscribed", data: { via: "one-click" } }, { ifNotLeft: true }),
        ).toBe(false);
        expect(await store.getSubscriber(ann.id)).toMatchObject({ status: "unsubscribed", unsubscribedAt: T0 });
        expect((await store.listEnrollments(ann.id)).map((e) => [e.status, e.reason])).toEqual([["exited", "unsubscribed"]]);
        expect(await events(ann.id)).toHaveLength(1);
        // Suppressed stays suppressed (and keeps its date); an unknown id writes nothing anywhere.
        const bob = await enrolled(store, "bob@x.com", plusMs(T0, HOUR));
        await store.leave(bob.id, "suppressed", "hard bounce", T0);
        expect(await store.leave(bob.id, "unsubscribed", "unsubscribed", later, { type: "unsubscribed" }, { ifNotLeft: true })).toBe(false);
        expect(await store.getSubscriber(bob.id)).toMatchObject({ status: "suppressed", unsubscribedAt: T0 });
        expect(await events(bob.id)).toHaveLength(0);
        expect(await store.leave("no-such-id", "unsubscribed", "unsubscribed", later, { type: "unsubscribed" }, { ifNotLeft: true })).toBe(false);
        // Without ifNotLeft, leave writes as before (a suppression after an unsubscribe counts).
        expect(await store.leave(ann.id, "suppressed", "complaint", later)).toBe(true);
        expect(await store.getSubscriber(ann.id)).toMatchObject({ status: "suppressed", unsubscribedAt: later });
      });
    });

    describe("claims", () => {
      it("claims only what is due, up to the limit, and holds it under a lease until the lease runs out", async () => {
        await enrolled(store, "a@example.com", T0);
        await enrolled(store, "b@example.com", new Date(T0.getTime() - MINUTE));
        await enrolled(store, "c@example.com", new Date(T0.getTime() + MINUTE));
        const first = await store.claimDue(T0, 1, LEASE);
        expect(first.map((c) => c.subscriber.email)).toEqual(["b@example.com"]); // oldest due first
        const rest = await store.claimDue(T0, 10, LEASE);
        expect(rest.map((c) => c.subscriber.email)).toEqual(["a@example.com"]);
        expect(await store.claimDue(new Date(T0.getTime() + LEASE - 1), 10, LEASE)).toEqual([
          expect.objectContaining({ subscriber: expect.objectContaining({ email: "c@example.com" }) }),
        ]);
        const again = (await store.claimDue(new Date(T0.getTime() + LEASE), 10, LEASE)).sort((x, y) => x.subscriber.email.localeCompare(y.subscriber.email));
        // The same send rows come back (same ids, one more attempt), with the step's own due time, not the lease's.
        expect(again.map((c) => [c.subscriber.email, c.sendId, c.attempts, c.dueAt])).toEqual([
          ["a@example.com", rest[0]!.sendId, 2, T0],
          ["b@example.com", first[0]!.sendId, 2, new Date(T0.getTime() - MINUTE)],
        ]);
      });

      it("recordOutcome releases the lease and advances the enrollment to its next step", async () => {
        const sub = await enrolled(store, "a@example.com", T0);
        const [claim] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome(
          claim!,
          { status: "sent", at: T0, providerMessageId: "m-1" },
          { kind: "next", stepId: "two", dueAt: new Date(T0.getTime() + HOUR) },
        );
        expect(await store.getSend(claim!.sendId)).toMatchObject({ status: "sent", attempts: 1, providerMessageId: "m-1", sentAt: T0 });
        expect(await store.getEnrollment(sub.id, "seq")).toMatchObject({ cursor: "one", nextStepId: "two", nextDueAt: new Date(T0.getTime() + HOUR) });
        expect(await store.claimDue(new Date(T0.getTime() + LEASE), 10, LEASE)).toEqual([]);
        expect((await store.claimDue(new Date(T0.getTime() + HOUR), 10, LEASE)).map((c) => c.stepId)).toEqual(["two"]);
      });

      it("never returns the same enrollment to two concurrent callers on one store", async () => {
        for (let i = 0; i < 60; i++) await enrolled(store, `p${i}@example.com`, T0);
        const [a, b, c] = await Promise.all([store.claimDue(T0, 25, LEASE), store.claimDue(T0, 25, LEASE), store.claimDue(T0, 25, LEASE)]);
        const ids = [...a, ...b, ...c].map((x: ClaimedSend) => x.enrollmentId);
        expect(ids).toHaveLength(60);
        expect(new Set(ids).size).toBe(60);
      });

      it("a re-plan of a claimed step never makes it claimable again; it is applied once the claim is released", async () => {
        const sub = await enrolled(store, "a@example.com", T0);
        const [claim] = await store.claimDue(T0, 10, LEASE, "worker-a");
        expect(claim).toBeDefined();
        // The subscriber saves a new time zone while the step is claimed: the re-plan is deferred.
        const enrollment = (await store.getEnrollment(sub.id, "seq"))!;
        expect(enrollment.claimed).toBe(true);
        expect(await store.replanEnrollment(enrollment.id, plusMs(T0, -HOUR))).toBe("deferred");
        for (const t of [T0, plusMs(T0, MINUTE), plusMs(T0, LEASE + MINUTE)])
          expect(await store.claimDue(t, 10, LEASE, "worker-b"), t.toISOString()).toEqual([]);
        // The owner records; the enrollment advances and waits for its re-plan (not claimable meanwhile).
        expect(await store.recordOutcome(claim!, { status: "sent", at: T0 }, { kind: "next", stepId: "two", dueAt: plusMs(T0, -MINUTE) })).toBe(true);
        expect(await store.claimDue(T0, 10, LEASE, "worker-b")).toEqual([]);
        const waiting = await store.claimReplans(T0, 10);
        expect(waiting.map((w) => [w.enrollment.id, w.enrollment.nextStepId, w.subscriber.email])).toEqual([[enrollment.id, "two", "a@example.com"]]);
        await store.applyReplan(enrollment.id, plusMs(T0, HOUR), T0);
        expect(await store.claimReplans(T0, 10)).toEqual([]);
        expect(await store.getEnrollment(sub.id, "seq")).toMatchObject({ nextStepId: "two", nextDueAt: plusMs(T0, HOUR), claimed: false });
        expect(await store.claimDue(plusMs(T0, HOUR - 1), 10, LEASE)).toEqual([]);
        expect((await store.claimDue(plusMs(T0, HOUR), 10, LEASE)).map((c) => c.stepId)).toEqual(["two"]);
      });

      it("an unclaimed enrollment is re-planned at once", async () => {
        const sub = await enrolled(store, "a@example.com", plusMs(T0, HOUR));
        const e = (await store.getEnrollment(sub.id, "seq"))!;
        expect(await store.replanEnrollment(e.id, plusMs(T0, 2 * HOUR))).toBe("planned");
        expect((await store.getEnrollment(sub.id, "seq"))!.nextDueAt).toEqual(plusMs(T0, 2 * HOUR));
        expect(await store.claimReplans(T0, 10)).toEqual([]);
      });

      it("a stale owner's write is refused (fencing): after its lease ran out and another worker claimed, its record changes nothing", async () => {
        const sub = await enrolled(store, "a@example.com", T0);
        const [stale] = await store.claimDue(T0, 10, LEASE, "worker-a");
        const [fresh] = await store.claimDue(plusMs(T0, LEASE), 10, LEASE, "worker-b");
        expect(fresh!.sendId).toBe(stale!.sendId);
        expect(fresh!.fence).toBeGreaterThan(stale!.fence);
        expect(await store.recordOutcome(stale!, { status: "failed", at: T0, reason: "late" }, { kind: "completed" })).toBe(false);
        expect(await store.retryLater(stale!, plusMs(T0, HOUR), "late")).toBe(false);
        expect(await store.defer(stale!, plusMs(T0, HOUR))).toBe(false);
        expect(await store.getSend(stale!.sendId)).toMatchObject({ status: "claimed", attempts: 2 });
        expect(await store.getEnrollment(sub.id, "seq")).toMatchObject({ status: "active", cursor: null, claimed: true });
        expect(await store.recordOutcome(fresh!, { status: "sent", at: plusMs(T0, LEASE) }, { kind: "completed" })).toBe(true);
        expect(await store.getEnrollment(sub.id, "seq")).toMatchObject({ status: "completed", cursor: "one", claimed: false });
      });

      it("a batch holds its sends: a lost claim writes nothing, a written batch's sends are never claimed or batched again", async () => {
        for (const e of ["a@example.com", "b@example.com"]) await enrolled(store, e, T0);
        const claims = await store.claimDue(T0, 10, LEASE, "worker-a");
        expect(claims).toHaveLength(2);
        // b's lease runs out and worker-b takes it before worker-a writes its batch.
        const [taken] = await store.claimDue(plusMs(T0, LEASE), 1, LEASE, "worker-b");
        const lostId = taken!.sendId;
        const payload = (cs: readonly ClaimedSend[]) =>
          JSON.stringify({ sendIds: cs.map((c) => c.sendId), emails: cs.map((c) => ({ to: [c.subscriber.email] })) });
        const res = await store.createBatch({ id: "batch-1", payload: payload(claims), claims, leaseUntil: plusMs(T0, LEASE), now: T0 });
        expect(res).toEqual({ lost: [lostId] });
        expect(await store.claimStaleBatches(plusMs(T0, HOUR), 10, LEASE)).toEqual([]); // nothing was written
        const kept = claims.filter((c) => c.sendId !== lostId);
        expect(await store.createBatch({ id: "batch-2", payload: payload(kept), claims: kept, leaseUntil: plusMs(T0, LEASE), now: T0 })).toEqual({ lost: [] });
        // Held by the batch: no claim ever takes it again, however late, and it cannot join another batch.
        expect((await store.claimDue(plusMs(T0, 48 * HOUR), 10, LEASE, "worker-c")).map((c) => c.sendId)).not.toContain(kept[0]!.sendId);
        await expect(store.createBatch({ id: "batch-3", payload: payload(kept), claims: kept, leaseUntil: plusMs(T0, LEASE), now: T0 })).rejects.toThrow();
        const [recovered] = await store.claimStaleBatches(plusMs(T0, LEASE), 10, LEASE);
        expect(recovered!.id).toBe("batch-2");
        expect(recovered!.claims.map((c) => c.sendId)).toEqual([kept[0]!.sendId]);
      });

      it("createBatches writes a page's batches as createBatch writes each: one with a lost claim is left out (its lost ids at its index), the others are held, with their versions, and recovered byte for byte", async () => {
        for (const e of ["p1@example.com", "p2@example.com", "p3@example.com", "p4@example.com", "p5@example.com"]) await enrolled(store, e, T0);
        const claims = await store.claimDue(T0, 10, LEASE, "worker-a");
        expect(claims).toHaveLength(5);
        // p4's lease runs out and worker-b takes it before worker-a writes its page.
        const [taken] = await store.claimDue(plusMs(T0, LEASE), 1, LEASE, "worker-b");
        const lostId = taken!.sendId;
        const lostAt = claims.findIndex((c) => c.sendId === lostId);
        const payload = (cs: readonly ClaimedSend[]) =>
          JSON.stringify({ sendIds: cs.map((c) => c.sendId), emails: cs.map((c) => ({ to: [c.subscriber.email] })) });
        // Three batches: the lost claim's own batch, and two others (one with a version per claim, one with none).
        const lostBatch = [claims[lostAt]!, ...claims.filter((_c, i) => i !== lostAt).slice(0, 1)];
        const rest = claims.filter((c) => !lostBatch.includes(c));
        const versioned = rest.slice(0, 2).map((c, i) => ({ ...c, version: { sequence: `sv${i}`, template: `tv${i}` } }));
        const plain = rest.slice(2);
        const batch = (id: string, cs: readonly ClaimedSend[]) => ({ id, payload: payload(cs), claims: cs, leaseUntil: plusMs(T0, LEASE), now: T0 });
        const res = await store.createBatches([batch("page-v", versioned), batch("page-lost", lostBatch), batch("page-p", plain)]);
        expect(res).toEqual([{ lost: [] }, { lost: [lostId] }, { lost: [] }]);
        for (const [i, c] of versioned.entries())
          expect(await store.getSend(c.sendId)).toMatchObject({ status: "claimed", sequenceVersion: `sv${i}`, templateVersion: `tv${i}` });
        for (const c of plain) expect(await store.getSend(c.sendId)).toMatchObject({ status: "claimed", sequenceVersion: null, templateVersion: null });
        // The lost batch wrote nothing: composed again without the lost claim, it is written.
        const kept = lostBatch.filter((c) => c.sendId !== lostId);
        expect(await store.createBatches([batch("page-lost-2", kept)])).toEqual([{ lost: [] }]);
        // The written batches hold their sends: never claimed again, never in a second batch.
        const held = [...versioned, ...plain, ...kept].map((c) => c.sendId);
        expect((await store.claimDue(plusMs(T0, 48 * HOUR), 10, LEASE, "worker-c")).map((c) => c.sendId).filter((id) => held.includes(id))).toEqual([]);
        await expect(store.createBatches([batch("page-again", plain)])).rejects.toThrow();
        // Recovery (a crash before any request) finds each batch with the payload written and its own sends.
        const recovered = await store.claimStaleBatches(plusMs(T0, LEASE), 10, LEASE);
        expect(recovered.map((b) => b.id).sort()).toEqual(["page-lost-2", "page-p", "page-v"]);
        const byId = new Map(recovered.map((b) => [b.id, b]));
        for (const [id, cs] of [
          ["page-v", versioned],
          ["page-p", plain],
          ["page-lost-2", kept],
        ] as const) {
          expect(byId.get(id)!.payload).toBe(payload(cs));
          expect(byId.get(id)!.claims.map((c) => c.sendId)).toEqual(cs.map((c) => c.sendId));
        }
      });

      it("recovering a stale batch raises its sends' fences: the owner that lost the batch's lease records nothing over the recovering one", async () => {
        for (const e of ["fa@example.com", "fb@example.com"]) await enrolled(store, e, T0);
        const claims = await store.claimDue(T0, 10, LEASE, "frozen");
        const payload = JSON.stringify({ sendIds: claims.map((c) => c.sendId), emails: claims.map((c) => ({ to: [c.subscriber.email] })) });
        await store.createBatch({ id: "batch-z", payload, claims, leaseUntil: plusMs(T0, LEASE), now: T0 });
        // The lease runs out; another worker recovers the batch (same key, same bytes): a new claim.
        const [recovered] = await store.claimStaleBatches(plusMs(T0, LEASE), 10, LEASE);
        expect(recovered!.claims.map((c) => c.fence)).toEqual(claims.map((c) => c.fence + 1));
        // The frozen owner wakes and records its stale outcome: refused, the batch is still pending.
        const late = claims.map((claim) => ({
          claim,
          outcome: { status: "failed" as const, at: T0, reason: "late" },
          advance: { kind: "completed" as const },
        }));
        await store.completeBatch("batch-z", late);
        for (const c of claims) expect(await store.getSend(c.sendId)).toMatchObject({ status: "claimed" });
        // Still pending: once its lease runs out it is recovered again (the fences grow once more).
        const [again] = await store.claimStaleBatches(plusMs(T0, 10 * LEASE), 10, LEASE);
        expect(again?.id).toBe("batch-z");
        expect(again!.claims.map((c) => c.fence)).toEqual(claims.map((c) => c.fence + 2));
        // The first recovery is now the late one: refused too.
        await store.completeBatch(
          "batch-z",
          recovered!.claims.map((claim) => ({
            claim,
            outcome: { status: "failed" as const, at: T0, reason: "late" },
            advance: { kind: "completed" as const },
          })),
        );
        for (const c of claims) expect(await store.getSend(c.sendId)).toMatchObject({ status: "claimed" });
        // The current owner records: it counts, and the batch is done.
        const fresh = again!.claims.map((claim) => ({
          claim,
          outcome: { status: "sent" as const, at: T0, providerMessageId: `m-${claim.sendId}` },
          advance: { kind: "completed" as const },
        }));
        await store.completeBatch("batch-z", fresh);
        for (const c of claims) expect(await store.getSend(c.sendId)).toMatchObject({ status: "sent", providerMessageId: `m-${c.sendId}` });
        expect(await store.claimStaleBatches(plusMs(T0, 100 * LEASE), 10, LEASE)).toEqual([]);
      });

      it("forgetting someone takes their entry out of a pending batch's stored payload, keeping the others aligned", async () => {
        const subs = [];
        for (const e of ["f1@example.com", "f2@example.com", "f3@example.com"]) subs.push(await enrolled(store, e, T0));
        const claims = await store.claimDue(T0, 10, LEASE);
        const payload = JSON.stringify({ sendIds: claims.map((c) => c.sendId), emails: claims.map((c) => ({ to: [c.subscriber.email] })) });
        await store.createBatch({ id: "batch-f", payload, claims, leaseUntil: T0, now: T0 });
        const f2 = claims.find((c) => c.subscriber.email === "f2@example.com")!;
        await store.forgetSubscriber(f2.subscriber.id);
        const [batch] = await store.claimStaleBatches(T0, 10, LEASE);
        expect(batch!.payload).not.toContain("f2@example.com");
        const stored = JSON.parse(batch!.payload) as { sendIds: string[]; emails: { to: string[] }[] };
        expect(stored.sendIds).not.toContain(f2.sendId);
        expect(stored.emails.map((e) => e.to[0])).toEqual(stored.sendIds.map((id) => claims.find((c) => c.sendId === id)!.subscriber.email));
        expect(batch!.claims.map((c) => c.subscriber.email).sort()).toEqual(["f1@example.com", "f3@example.com"]);
      });

      it("forgetting someone also empties the stored literals only their entry used; the others read back unchanged", async () => {
        const subs = [];
        for (const e of ["g1@example.com", "g2@example.com", "g3@example.com"]) subs.push(await enrolled(store, e, T0));
        const claims = await store.claimDue(T0, 10, LEASE);
        const email = (to: string, name: string, onlyTheirs: boolean) => ({
          from: "Clinic <hello@clinic.example>",
          to: [to],
          subject: "Hi",
          headers: {},
          tags: [],
          html: "",
          text: "",
          pieces: onlyTheirs
            ? { html: [`<p>Only ${to}'s shape</p>`], text: [`Only ${to}'s shape`] }
            : { html: ["<p>Hello ", name, "</p><p>shared body</p>"], text: ["Hello ", name, "\n\nshared body"] },
        });
        const emails = claims.map((c) => {
          const to = c.subscriber.email;
          const e = email(to, to.slice(0, 2), to === "g2@example.com");
          return { ...e, html: e.pieces.html.join(""), text: e.pieces.text.join("") };
        });
        const payload = storePayload({ sendIds: claims.map((c) => c.sendId), emails });
        expect(payload).toContain("g2@example.com's shape");
        await store.createBatch({ id: "batch-g", payload, claims, leaseUntil: T0, now: T0 });
        const g2 = claims.find((c) => c.subscriber.email === "g2@example.com")!;
        await store.forgetSubscriber(g2.subscriber.id);
        const [batch] = await store.claimStaleBatches(T0, 10, LEASE);
        expect(batch!.payload).not.toContain("g2@example.com");
        const back = readPayload(batch!.payload);
        expect(back.sendIds).not.toContain(g2.sendId);
        for (const [i, id] of back.sendIds.entries()) {
          const before = emails[claims.findIndex((c) => c.sendId === id)]!;
          expect(back.emails[i]!.html).toBe(before.html);
          expect(back.emails[i]!.text).toBe(before.text);
          expect(back.emails[i]!.to).toEqual(before.to);
        }
        expect(back.emails).toHaveLength(2);
      });

      it("transaction(): every write commits together or none does", async () => {
        await expect(
          store.transaction(async (tx) => {
            await tx.upsertSubscriber({ email: "tx@example.com", status: "active" }, T0);
            throw new Error("boom after the first write");
          }),
        ).rejects.toThrow("boom");
        expect(await store.findSubscriberByEmail("tx@example.com")).toBeNull();
        await store.transaction(async (tx) => {
          const { subscriber } = await tx.upsertSubscriber({ email: "tx@example.com", status: "active" }, T0);
          await tx.addTag(subscriber.id, "vip");
        });
        expect((await store.findSubscriberByEmail("tx@example.com"))?.tags).toEqual(["vip"]);
      });
    });

    describe("staff (dashboard)", () => {
      it("putStaff adds once per address (case-insensitive) and changes the role of a known one; removeStaff ends its sessions and links", async () => {
        const a = await store.putStaff("Owner@Clinic.example", "owner", T0);
        expect(a.created).toBe(true);
        expect(a.staff).toMatchObject({ email: "Owner@Clinic.example", role: "owner", totp: false });
        const b = await store.putStaff("owner@clinic.example", "viewer", T0);
        expect(b).toMatchObject({ created: false, staff: { id: a.staff.id, role: "viewer" } });
        expect((await store.findStaffByEmail("OWNER@clinic.example"))?.role).toBe("viewer");
        await store.putStaff("ed@clinic.example", "editor", T0);
        expect((await store.listStaff()).map((s) => s.email)).toEqual(["ed@clinic.example", "Owner@Clinic.example"]);
        await store.createSession(a.staff.id, "sess-hash", plusMs(T0, HOUR), T0);
        await store.createSignInLink(a.staff.id, "link-hash", plusMs(T0, HOUR), T0);
        expect(await store.removeStaff(a.staff.id)).toBe(true);
        expect(await store.removeStaff(a.staff.id)).toBe(false);
        expect(await store.getSession("sess-hash", T0)).toBeNull();
        expect(await store.consumeSignInLink("link-hash", T0)).toBeNull();
        expect(await store.listStaff()).toHaveLength(1);
      });

      it("a sign-in link works once, and not after it expires", async () => {
        const { staff } = await store.putStaff("v@clinic.example", "viewer", T0);
        await store.createSignInLink(staff.id, "once", plusMs(T0, 15 * MINUTE), T0);
        await store.createSignInLink(staff.id, "late", plusMs(T0, 15 * MINUTE), T0);
        expect((await store.peekSignInLink("once", T0))?.id).toBe(staff.id);
        expect((await store.consumeSignInLink("once", T0))?.id).toBe(staff.id);
        expect(await store.consumeSignInLink("once", T0)).toBeNull();
        expect(await store.peekSignInLink("once", T0)).toBeNull();
        expect(await store.peekSignInLink("late", plusMs(T0, 15 * MINUTE))).toBeNull();
        expect(await store.consumeSignInLink("late", plusMs(T0, 15 * MINUTE))).toBeNull();
        expect(await store.consumeSignInLink("unknown", T0)).toBeNull();
      });

      it("sessions expire and are revocable; TOTP secrets are kept apart from the account view", async () => {
        const { staff } = await store.putStaff("e@clinic.example", "editor", T0);
        await store.createSession(staff.id, "s1", plusMs(T0, HOUR), T0);
        await store.createSession(staff.id, "s2", plusMs(T0, HOUR), T0);
        expect((await store.getSession("s1", T0))?.email).toBe("e@clinic.example");
        expect(await store.getSession("s1", plusMs(T0, HOUR))).toBeNull();
        await store.revokeSession("s1", T0);
        expect(await store.getSession("s1", T0)).toBeNull();
        expect((await store.getSession("s2", T0))?.id).toBe(staff.id);
        await store.setStaffTotp(staff.id, "JBSWY3DPEHPK3PXP");
        expect(await store.getStaffTotpSecret(staff.id)).toBe("JBSWY3DPEHPK3PXP");
        expect((await store.getStaff(staff.id))?.totp).toBe(true);
        expect(JSON.stringify(await store.getStaff(staff.id))).not.toContain("JBSWY3DPEHPK3PXP");
        await store.setStaffTotp(staff.id, null);
        expect((await store.getStaff(staff.id))?.totp).toBe(false);
      });

      it("the audit log keeps who, what and when, newest first, paged, and outlives the account", async () => {
        const { staff } = await store.putStaff("o@clinic.example", "owner", T0);
        for (let i = 0; i < 5; i++)
          await store.appendAudit({
            at: plusMs(T0, i * MINUTE),
            staffId: staff.id,
            staffEmail: staff.email,
            action: `act${i}`,
            target: `t${i}`,
            detail: i === 0 ? null : "d",
          });
        const first = await store.listAudit(3);
        expect(first.map((e) => e.action)).toEqual(["act4", "act3", "act2"]);
        expect(first[0]).toMatchObject({ staffEmail: "o@clinic.example", target: "t4", detail: "d", at: plusMs(T0, 4 * MINUTE) });
        const rest = await store.listAudit(3, first[2]!.id);
        expect(rest.map((e) => e.action)).toEqual(["act1", "act0"]);
        await store.removeStaff(staff.id);
        expect(await store.listAudit(10)).toHaveLength(5);
      });
    });

    describe("dashboard reports", () => {
      it("searchSubscribers: the start of the email or the name, tag and status, newest first, paged by cursor", async () => {
        const add = async (email: string, name: string, minutes: number, tags: string[] = [], status: "active" | "pending" = "active") =>
          (await store.upsertSubscriber({ email, name, status, tags }, plusMs(T0, minutes * MINUTE))).subscriber;
        await add("ann@example.com", "Ann Lee", 1, ["vip"]);
        await add("anna@example.com", "Anna Smith", 2);
        await add("bob@example.com", "Bob Annand", 3, ["vip"], "pending");
        await add("carl@example.com", "Carl", 4);
        const emails = (xs: { email: string }[]) => xs.map((x) => x.email);
        expect(emails(await store.searchSubscribers({ query: "ann@", limit: 10 }))).toEqual(["ann@example.com"]);
        expect(emails(await store.searchSubscribers({ query: "ANN", limit: 10 }))).toEqual(["anna@example.com", "ann@example.com"]); // not "Bob Annand"
        expect(emails(await store.searchSubscribers({ query: "bob a", limit: 10 }))).toEqual(["bob@example.com"]); // the name's start
        expect(emails(await store.searchSubscribers({ query: "ann", status: "pending", limit: 10 }))).toEqual([]);
        expect(emails(await store.searchSubscribers({ tag: "vip", limit: 10 }))).toEqual(["bob@example.com", "ann@example.com"]);
        expect(emails(await store.searchSubscribers({ tag: "vip", status: "active", limit: 10 }))).toEqual(["ann@example.com"]);
        const page1 = await store.searchSubscribers({ limit: 2 });
        expect(emails(page1)).toEqual(["carl@example.com", "bob@example.com"]);
        const last = page1[1]!;
        expect(emails(await store.searchSubscribers({ limit: 2, before: { createdAt: last.createdAt, id: last.id } }))).toEqual([
          "anna@example.com",
          "ann@example.com",
        ]);
        expect((await store.searchSubscribers({ query: "ann@", limit: 1 }))[0]?.tags).toEqual(["vip"]);
        expect(await store.searchSubscribers({ query: "100%_", limit: 10 })).toEqual([]);
      });

      it("subscriberTimeline tells sends with reasons and events in order; stepQueue and dailyActivity count them", async () => {
        const a = await enrolled(store, "t1@example.com", T0);
        await enrolled(store, "t2@example.com", plusMs(T0, 30 * HOUR));
        const [claim] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome(
          claim!,
          { status: "sent", at: plusMs(T0, MINUTE), providerMessageId: "pm-1" },
          { kind: "next", stepId: "two", dueAt: plusMs(T0, 2 * HOUR) },
        );
        await store.recordEvent({ subscriberId: a.id, sendId: claim!.sendId, type: "delivered", at: plusMs(T0, 2 * MINUTE) });
        await store.recordEvent({
          subscriberId: a.id,
          sendId: claim!.sendId,
          type: "clicked",
          at: plusMs(T0, 3 * MINUTE),
          data: { link: "https://example.com/x" },
        });
        const [c2] = await store.claimDue(plusMs(T0, 2 * HOUR), 10, LEASE);
        await store.recordOutcome(c2!, { status: "skipped", at: plusMs(T0, 2 * HOUR), reason: "skipped: tagged booked" }, { kind: "completed" });
        const tl = await store.subscriberTimeline(a.id);
        expect(tl.map((e) => [e.kind, e.stepId ?? null])).toEqual([
          ["signed_up", null],
          ["enrolled", null],
          ["sent", "one"],
          ["delivered", "one"],
          ["clicked", "one"],
          ["skipped", "two"],
          ["completed", null],
        ]);
        expect(tl.find((e) => e.kind === "skipped")).toMatchObject({ detail: "skipped: tagged booked", sequenceId: "seq", sendId: c2!.sendId });
        expect(tl.find((e) => e.kind === "clicked")?.detail).toContain("https://example.com/x");
        expect(await store.subscriberTimeline("nobody")).toEqual([]);

        expect(await store.stepQueue("seq", plusMs(T0, 24 * HOUR))).toEqual([{ sequenceId: "seq", stepId: "one", waiting: 1, dueSoon: 0 }]);
        expect(await store.stepQueue("seq", plusMs(T0, 31 * HOUR))).toEqual([{ sequenceId: "seq", stepId: "one", waiting: 1, dueSoon: 1 }]);

        const days = await store.dailyActivity(plusMs(T0, -24 * HOUR), plusMs(T0, 24 * HOUR));
        expect(days).toEqual([
          { day: "2027-01-03", signups: 0, unsubscribes: 0, sent: 0 },
          { day: "2027-01-04", signups: 2, unsubscribes: 0, sent: 1 },
          { day: "2027-01-05", signups: 0, unsubscribes: 0, sent: 0 }, // the day `until` falls in is whole
        ]);
        expect((await store.dailyActivity(T0, plusMs(T0, HOUR), "other"))[0]?.sent).toBe(0);
      });

      it("subscriberTimeline tells the automations that fired for the subscriber: which, why (the trigger) and what each did", async () => {
        const a = await enrolled(store, "auto@example.com", T0);
        await store.recordAutomationRun({
          automationId: "booked-follow-up",
          subscriberId: a.id,
          trigger: "tag-added booked",
          key: "tag:booked",
          firedAt: plusMs(T0, HOUR),
          outcome: "done",
          detail: "enrolled in post-booking",
          enrolled: "post-booking",
        });
        const tl = await store.subscriberTimeline(a.id);
        expect(tl.at(-1)).toEqual({
          at: plusMs(T0, HOUR),
          kind: "automation",
          sequenceId: "post-booking",
          detail: "booked-follow-up fired on tag-added booked: enrolled in post-booking (done)",
        });
      });

      it("resolveSend turns a failed or in-doubt send into a skipped one with the reason, and nothing else", async () => {
        await enrolled(store, "f@example.com", T0);
        const [claim] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome(claim!, { status: "failed", at: T0, reason: "provider said no" }, { kind: "completed" });
        expect(await store.resolveSend(claim!.sendId, "resolved by o@clinic.example")).toBe(true);
        expect(await store.getSend(claim!.sendId)).toMatchObject({ status: "skipped", reason: "resolved by o@clinic.example" });
        expect(await store.resolveSend(claim!.sendId, "again")).toBe(false);
      });
    });

    describe("status", () => {
      it("status() counts subscribers, enrollments and sends by status, and the next due time", async () => {
        expect(await store.status()).toEqual({
          subscribers: { pending: 0, active: 0, unsubscribed: 0, suppressed: 0 },
          enrollments: { active: 0, completed: 0, exited: 0, paused: 0 },
          sends: { claimed: 0, sent: 0, skipped: 0, failed: 0, in_doubt: 0 },
          nextDueAt: null,
        });
        await store.upsertSubscriber({ email: "pending@example.com", status: "pending" }, T0);
        const u = (await store.upsertSubscriber({ email: "u@example.com", status: "active" }, T0)).subscriber;
        await store.setSubscriberStatus(u.id, "unsubscribed", T0);
        await store.upsertSubscriber({ email: "s@example.com", status: "suppressed" }, T0);
        await enrolled(store, "a1@example.com", T0);
        const a2 = await enrolled(store, "a2@example.com", new Date(T0.getTime() + HOUR));
        await enrolled(store, "a3@example.com", T0);
        const [c1, c3] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome(c1!, { status: "sent", at: T0 }, { kind: "completed" });
        await store.recordOutcome(
          c3!,
          { status: "skipped", at: T0, reason: "tag" },
          { kind: "next", stepId: "two", dueAt: new Date(T0.getTime() + 48 * HOUR) },
        );
        await store.exitEnrollments(a2.id, "unsubscribed");
        await enrolled(store, "a4@example.com", new Date(T0.getTime() + 30 * MINUTE));
        await store.claimDue(new Date(T0.getTime() + 30 * MINUTE), 10, LEASE); // stays claimed (a crashed worker)
        expect(await store.status()).toEqual({
          subscribers: { pending: 1, active: 4, unsubscribed: 1, suppressed: 1 },
          enrollments: { active: 2, completed: 1, exited: 1, paused: 0 },
          sends: { claimed: 1, sent: 1, skipped: 1, failed: 0, in_doubt: 0 },
          nextDueAt: new Date(T0.getTime() + 35 * MINUTE), // a4's lease runs out first
        });
      });
    });

    describe("sequence versions and live edits", () => {
      const version = (n: number) => ({
        sequenceId: "seq",
        hash: `hash-${n}`,
        snapshot: { steps: [{ id: "one" }], n },
        changes: { changes: [], n },
        at: plusMs(T0, n * HOUR),
      });

      it("versions are numbered per sequence; the live one is the latest; snapshot and changes come back as given", async () => {
        expect(await store.liveVersion("seq")).toBeNull();
        expect(await store.recordVersion(version(1))).toMatchObject({ sequenceId: "seq", number: 1, hash: "hash-1" });
        await store.recordVersion({ ...version(1), sequenceId: "other" });
        await store.recordVersion(version(2));
        const live = await store.liveVersion("seq");
        expect(live).toEqual({
          sequenceId: "seq",
          number: 2,
          hash: "hash-2",
          createdAt: plusMs(T0, 2 * HOUR),
          snapshot: { steps: [{ id: "one" }], n: 2 },
          changes: { changes: [], n: 2 },
        });
        expect((await store.listVersions("seq")).map((v) => [v.number, v.hash])).toEqual([
          [1, "hash-1"],
          [2, "hash-2"],
        ]);
        expect((await store.listVersions("other")).map((v) => v.number)).toEqual([1]);
      });

      it("a send records the version it used; results split by version", async () => {
        await enrolled(store, "a@example.com", T0);
        await enrolled(store, "b@example.com", T0);
        const [a, b] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome({ ...a!, version: { sequence: "v-1", template: "t-1" } }, { status: "sent", at: T0 }, { kind: "completed" });
        await store.recordOutcome({ ...b!, version: { sequence: "v-2", template: "t-2" } }, { status: "sent", at: T0 }, { kind: "completed" });
        await store.recordEvent({ subscriberId: b!.subscriber.id, sendId: b!.sendId, type: "opened", at: T0 });
        expect(await store.getSend(a!.sendId)).toMatchObject({ sequenceVersion: "v-1", templateVersion: "t-1" });
        const stats = (await store.stepStatsByVersion("seq")).sort((x, y) => String(x.version).localeCompare(String(y.version)));
        expect(stats.map((r) => [r.stepId, r.version, r.sent, r.opened])).toEqual([
          ["one", "v-1", 1, 0],
          ["one", "v-2", 1, 1],
        ]);
      });

      it("a batch records its sends' versions when it is written", async () => {
        await enrolled(store, "a@example.com", T0);
        const [claim] = await store.claimDue(T0, 10, LEASE);
        await store.createBatch({
          id: "batch-1",
          payload: '{"sendIds":[],"emails":[]}',
          claims: [{ ...claim!, version: { sequence: "v-9", template: "t-9" } }],
          leaseUntil: plusMs(T0, LEASE),
          now: T0,
        });
        expect(await store.getSend(claim!.sendId)).toMatchObject({ sequenceVersion: "v-9", templateVersion: "t-9" });
      });

      it("enrollmentPositions: zone, the steps done this round (not a claimed one), whether it is claimed", async () => {
        const a = await store.upsertSubscriber({ email: "a@example.com", status: "active", timezone: "Asia/Tokyo" }, T0);
        await store.enroll({ subscriberId: a.subscriber.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: false });
        await enrolled(store, "b@example.com", plusMs(T0, HOUR));
        const [c1] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome(c1!, { status: "sent", at: plusMs(T0, MINUTE) }, { kind: "next", stepId: "two", dueAt: plusMs(T0, HOUR) });
        const [c2] = await store.claimDue(plusMs(T0, HOUR), 1, LEASE);
        const positions = (await store.enrollmentPositions("seq")).sort((x, y) => x.enrollmentId - y.enrollmentId);
        expect(positions).toEqual([
          {
            enrollmentId: c1!.enrollmentId,
            subscriberId: a.subscriber.id,
            timezone: "Asia/Tokyo",
            status: "active",
            startedAt: T0,
            nextStepId: "two",
            nextDueAt: plusMs(T0, HOUR),
            done: ["one"],
            lastDoneAt: plusMs(T0, MINUTE),
            claimed: c2!.enrollmentId === c1!.enrollmentId,
          },
          expect.objectContaining({ nextStepId: "one", done: [], lastDoneAt: null, claimed: c2!.enrollmentId !== c1!.enrollmentId }),
        ]);
        expect(await store.enrollmentPositions("other")).toEqual([]);
      });

      it("moveEnrollments moves an unclaimed enrollment now and never touches a claim (deferred re-plan instead)", async () => {
        const a = await enrolled(store, "a@example.com", T0);
        const b = await enrolled(store, "b@example.com", plusMs(T0, HOUR));
        const [claim] = await store.claimDue(T0, 10, LEASE, "worker-a");
        const ea = (await store.getEnrollment(a.id, "seq"))!;
        const eb = (await store.getEnrollment(b.id, "seq"))!;
        const moved = await store.moveEnrollments([
          { enrollmentId: ea.id, stepId: "three", dueAt: plusMs(T0, 2 * HOUR), status: "active", passOver: ["two"] },
          { enrollmentId: eb.id, stepId: "three", dueAt: plusMs(T0, 3 * HOUR), status: "active", passOver: ["two"] },
        ]);
        expect(moved).toEqual({ planned: 1, deferred: 1 });
        expect(await store.getEnrollment(b.id, "seq")).toMatchObject({
          nextStepId: "three",
          nextDueAt: plusMs(T0, 3 * HOUR),
          passOver: ["two"],
          claimed: false,
        });
        // The claimed one keeps its step, due time and claim; its owner's record is accepted.
        expect(await store.getEnrollment(a.id, "seq")).toMatchObject({ nextStepId: "one", nextDueAt: T0, claimed: true, passOver: ["two"] });
        expect(await store.claimDue(plusMs(T0, LEASE + MINUTE), 10, LEASE, "worker-b")).toEqual([]);
        expect(await store.recordOutcome(claim!, { status: "sent", at: T0 }, { kind: "next", stepId: "two", dueAt: plusMs(T0, HOUR) })).toBe(true);
        expect((await store.claimReplans(T0, 10)).map((r) => r.enrollment.id)).toEqual([ea.id]);
        // The pass-over list travels with the next claim.
        const [next] = await store.claimDue(plusMs(T0, 3 * HOUR), 10, LEASE);
        expect(next).toMatchObject({ stepId: "three", passOver: ["two"] });
      });

      it("completing an enrollment by a move, and re-entry clears its pass-over list", async () => {
        const a = await enrolled(store, "a@example.com", T0);
        const e = (await store.getEnrollment(a.id, "seq"))!;
        await store.moveEnrollments([{ enrollmentId: e.id, stepId: null, dueAt: null, status: "completed", passOver: ["x"] }]);
        expect(await store.getEnrollment(a.id, "seq")).toMatchObject({ status: "completed", nextStepId: null, nextDueAt: null, passOver: ["x"] });
        expect(await store.enroll({ subscriberId: a.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: true })).toBe(
          "reentered",
        );
        expect((await store.getEnrollment(a.id, "seq"))!.passOver).toBeUndefined();
      });

      it("renameStep: sends, cursors and unclaimed waiting enrollments carry the new id", async () => {
        const a = await enrolled(store, "a@example.com", T0);
        const b = await enrolled(store, "b@example.com", plusMs(T0, HOUR));
        const [c] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome(c!, { status: "sent", at: T0 }, { kind: "next", stepId: "two", dueAt: plusMs(T0, HOUR) });
        await store.renameStep("seq", "one", "first");
        expect(await store.getSend(c!.sendId)).toMatchObject({ stepId: "first", status: "sent" });
        expect(await store.getEnrollment(a.id, "seq")).toMatchObject({ cursor: "first", nextStepId: "two" });
        expect(await store.getEnrollment(b.id, "seq")).toMatchObject({ nextStepId: "first" });
      });
    });

    describe("send-time reads", () => {
      it("currentSubscribers: each as it is now, tags included; a suppressed address reads as suppressed; erased ones are absent", async () => {
        const a = (await store.upsertSubscriber({ email: "now-a@example.com", status: "active", tags: ["vip"] }, T0)).subscriber;
        const b = (await store.upsertSubscriber({ email: "now-b@example.com", status: "active" }, T0)).subscriber;
        const c = (await store.upsertSubscriber({ email: "now-c@example.com", status: "active" }, T0)).subscriber;
        await store.addTag(a.id, "booked");
        await store.suppress("now-b@example.com", "hard bounce", T0);
        await store.forgetSubscriber(c.id);
        const now = await store.currentSubscribers([a.id, b.id, c.id, a.id]);
        expect([...now.keys()].sort()).toEqual([a.id, b.id].sort());
        expect(now.get(a.id)).toMatchObject({ email: "now-a@example.com", status: "active", tags: ["booked", "vip"] });
        expect(now.get(b.id)?.status).toBe("suppressed");
        expect(await store.currentSubscribers([])).toEqual(new Map());
      });
    });

    describe("automations", () => {
      const run = (subscriberId: string, over: Partial<Omit<AutomationRun, "id">> = {}): Omit<AutomationRun, "id"> => ({
        automationId: "booked-starts-post-booking",
        subscriberId,
        trigger: 'tag "booked" added',
        key: "tag-added:booked@1",
        firedAt: T0,
        outcome: "done",
        detail: "enrolled in post-booking",
        enrolled: "post-booking",
        ...over,
      });

      it("a run is recorded once per automation, subscriber and key; runs come back oldest first with every field", async () => {
        const a = (await store.upsertSubscriber({ email: "a@example.com", status: "active" }, T0)).subscriber;
        const b = (await store.upsertSubscriber({ email: "b@example.com", status: "active" }, T0)).subscriber;
        expect(await store.automationRunSeen("booked-starts-post-booking", a.id, "tag-added:booked@1")).toBe(false);
        expect(await store.recordAutomationRun(run(a.id))).toBe(true);
        expect(await store.recordAutomationRun(run(a.id, { detail: "again" }))).toBe(false);
        expect(await store.automationRunSeen("booked-starts-post-booking", a.id, "tag-added:booked@1")).toBe(true);
        // Another key, another automation, another subscriber: each its own run.
        expect(
          await store.recordAutomationRun(
            run(a.id, { key: "tag-added:booked@2", outcome: "unchanged", detail: "already in post-booking", enrolled: null, firedAt: plusMs(T0, 1000) }),
          ),
        ).toBe(true);
        expect(await store.recordAutomationRun(run(a.id, { automationId: "other" }))).toBe(true);
        expect(await store.recordAutomationRun(run(b.id, { outcome: "skipped", detail: "subscriber is pending", enrolled: null }))).toBe(true);
        expect(await store.automationRunSeen("booked-starts-post-booking", b.id, "tag-added:booked@2")).toBe(false);
        const runs = await store.automationRuns(a.id);
        expect(runs.map(({ id: _id, ...r }) => r)).toEqual([
          run(a.id),
          run(a.id, { key: "tag-added:booked@2", outcome: "unchanged", detail: "already in post-booking", enrolled: null, firedAt: plusMs(T0, 1000) }),
          run(a.id, { automationId: "other" }),
        ]);
        expect(runs[0]!.id).toBeLessThan(runs[1]!.id);
        expect(await store.automationStats()).toEqual([
          { automationId: "booked-starts-post-booking", fired: 3, entered: 1, joined: 0, unchanged: 1, skipped: 1 },
          { automationId: "other", fired: 1, entered: 1, joined: 0, unchanged: 0, skipped: 0 },
        ]);
      });

      it("stats count the runs that joined a topic (recorded as done, 'joined topic …') per automation", async () => {
        const a = (await store.upsertSubscriber({ email: "a@example.com", status: "active" }, T0)).subscriber;
        const b = (await store.upsertSubscriber({ email: "b@example.com", status: "active" }, T0)).subscriber;
        const hand = { automationId: "finishers-join-weekly", trigger: "sequence c completed (round 1)", key: "completed:c#1", enrolled: null };
        await store.recordAutomationRun(run(a.id, { ...hand, detail: "joined topic weekly" }));
        await store.recordAutomationRun(run(b.id, { ...hand, outcome: "skipped", detail: "not joined to topic weekly: no recorded consent for topic weekly" }));
        expect(await store.automationStats()).toEqual([{ automationId: "finishers-join-weekly", fired: 2, entered: 0, joined: 1, unchanged: 0, skipped: 1 }]);
      });

      it("runs are recorded inside a transaction with the change, or not at all", async () => {
        const a = (await store.upsertSubscriber({ email: "a@example.com", status: "active" }, T0)).subscriber;
        await expect(
          store.transaction(async (tx) => {
            await tx.addTag(a.id, "booked");
            await tx.recordAutomationRun(run(a.id));
            throw new Error("crash after the run");
          }),
        ).rejects.toThrow("crash after the run");
        expect(await store.automationRuns(a.id)).toEqual([]);
        expect((await store.getSubscriber(a.id))?.tags).toEqual([]);
      });

      it("forgetting a subscriber erases their runs", async () => {
        const a = (await store.upsertSubscriber({ email: "a@example.com", status: "active" }, T0)).subscriber;
        await store.recordAutomationRun(run(a.id));
        await store.forgetSubscriber(a.id);
        expect(await store.automationRuns(a.id)).toEqual([]);
        expect(await store.automationStats()).toEqual([]);
      });

      it("a completed enrollment waits to fire once per round; re-entry makes the next round wait again", async () => {
        const a = await enrolled(store, "a@example.com", T0);
        const b = await enrolled(store, "b@example.com", T0);
        expect(await store.pendingCompletions(10)).toEqual([]);
        for (const c of await store.claimDue(T0, 10, LEASE)) await store.recordOutcome(c, { status: "sent", at: T0 }, { kind: "completed" });
        const pending = await store.pendingCompletions(10);
        expect(pending.map((e) => [e.subscriberId, e.sequenceId, e.round, e.status])).toEqual([
          [a.id, "seq", 1, "completed"],
          [b.id, "seq", 1, "completed"],
        ]);
        expect(await store.pendingCompletions(1)).toHaveLength(1);
        await store.markCompletionFired(pending[0]!.id, 1);
        expect((await store.pendingCompletions(10)).map((e) => e.subscriberId)).toEqual([b.id]);
        await store.markCompletionFired(pending[1]!.id, 1);
        expect(await store.pendingCompletions(10)).toEqual([]);
        // Re-entry (allowed) starts round 2; once it completes, it waits again.
        expect(await store.enroll({ subscriberId: a.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: true })).toBe(
          "reentered",
        );
        expect(await store.pendingCompletions(10)).toEqual([]);
        const [again] = await store.claimDue(T0, 10, LEASE);
        await store.recordOutcome(again!, { status: "sent", at: T0 }, { kind: "completed" });
        expect((await store.pendingCompletions(10)).map((e) => [e.subscriberId, e.round])).toEqual([[a.id, 2]]);
        await store.markCompletionFired(pending[0]!.id, 1); // an old round's mark changes nothing
        expect(await store.pendingCompletions(10)).toHaveLength(1);
      });
    });
  });
}
