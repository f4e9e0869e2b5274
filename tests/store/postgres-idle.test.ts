/**
 * The idle tick on PostgreSQL is one round trip: the store's one probe over every lane
 * (claim-queries.ts idle) answers "nothing to do" and the engine returns. Each kind of work
 * the tick does makes the probe say "look" (a probe narrower than a claim would hide work),
 * and the engine's tick then does it. The heartbeat of an idle worker is counted too.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { PAUSE_KEY } from "../../src/engine/batch-delivery.ts";
import { PgWorker } from "../../src/store/postgres/worker.ts";
import { createApp } from "../../src/wiring.ts";
import { HOUR, MINUTE, at, tempDir } from "../support/engine-helpers.ts";
import { freshPgStore, pgDatabase, pgStatements } from "../support/pg.ts";
import { enrolled } from "./contract.ts";

const T0 = at("2027-01-04T10:00:00Z");
const LEASE = 5 * MINUTE;
const db = pgDatabase();
vi.setConfig({ testTimeout: 120_000 });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fresh = () => freshPgStore(db, cleanups);

describe("the idle probe (PostgreSQL)", () => {
  it("says idle only when no lane has work: each kind of work makes it look", async () => {
    const store = await fresh();
    expect(await store.idle(T0)).toBe(true);
    // A step due later: idle until it is due.
    const later = await enrolled(store, "later@example.com", new Date(T0.getTime() + HOUR));
    expect(await store.idle(T0)).toBe(true);
    expect(await store.idle(new Date(T0.getTime() + HOUR))).toBe(false);
    // Claimed under a lease: idle until the lease lapses (then it is claimable again).
    const [claim] = await store.claimDue(new Date(T0.getTime() + HOUR), 10, LEASE, "w");
    expect(await store.idle(new Date(T0.getTime() + HOUR))).toBe(true);
    expect(await store.idle(new Date(T0.getTime() + HOUR + LEASE))).toBe(false);
    // Bound to a batch: idle until the batch's lease lapses (recovery).
    const payload = JSON.stringify({ sendIds: [claim!.sendId], emails: [{ to: [later.email] }] });
    await store.createBatch({ id: "b-idle", payload, claims: [claim!], leaseUntil: new Date(T0.getTime() + 2 * HOUR), now: T0 });
    expect(await store.idle(new Date(T0.getTime() + HOUR + LEASE))).toBe(true);
    expect(await store.idle(new Date(T0.getTime() + 2 * HOUR))).toBe(false);
    await store.completeBatch("b-idle", [{ claim: claim!, outcome: { status: "sent", at: T0 }, advance: { kind: "completed" } }]);
    // A completion whose automations have not fired yet.
    expect(await store.idle(T0)).toBe(false);
    expect(await store.pendingCompletions(10)).toHaveLength(1);
    await store.markCompletionFired(claim!.enrollmentId, 1);
    expect(await store.idle(T0)).toBe(true);
    // A queued confirmation.
    const { subscriber: pending } = await store.upsertSubscriber({ email: "pending@example.com", status: "pending" }, T0);
    expect(await store.queueConfirmation(pending.id, T0, T0, 5)).toBe(true);
    expect(await store.idle(T0)).toBe(false);
    const [conf] = await store.claimConfirmations(T0, 10, LEASE);
    await store.finishConfirmation(conf!.id, "sent", T0);
    expect(await store.idle(T0)).toBe(true);
    // A re-plan deferred behind a claim.
    const sub = await enrolled(store, "replan@example.com", T0);
    await store.claimDue(T0, 10, LEASE, "w");
    const [e] = await store.listEnrollments(sub.id);
    expect(await store.replanEnrollment(e!.id, new Date(T0.getTime() + HOUR), {})).toBe("deferred");
    expect(await store.idle(T0)).toBe(false);
    await store.setEnrollmentStatus(e!.id, "exited", "test");
    await store.applyReplan(e!.id, null, new Date(T0.getTime() + LEASE));
    expect(await store.idle(T0)).toBe(true);
    // A delivery pause recorded: the tick must see it (to honour or lift it).
    await store.setMeta(PAUSE_KEY, JSON.stringify({ until: T0.toISOString(), reason: "quota" }));
    expect(await store.idle(T0)).toBe(false);
    await store.setMeta(PAUSE_KEY, null);
    expect(await store.idle(T0)).toBe(true);
  });

  it("an idle tick of the app as `drip start` opens it is one statement; a due step is still sent", async () => {
    const dir = tempDir("drip-pg-idle-");
    const app = await createApp(loadConfig({ DATABASE_URL: db.url, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) }));
    cleanups.push(() => app.close());
    await db.reset();
    const statements = await pgStatements(() => app.engine.tick(T0));
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/EXISTS/);
    // Work makes the tick look, and do it.
    const sequence = app.engine.sequenceIds()[0]!;
    const first = app.engine.getSequence(sequence)!.steps[0]!.id;
    await app.store.importSubscribers([{ email: "due@example.com", status: "active", timezone: "Europe/London" }], T0, () => ({
      sequenceId: sequence,
      startedAt: T0,
      firstStepId: first,
      firstDueAt: T0,
    }));
    expect((await app.engine.tick(T0)).sent).toBe(1);
    expect(await pgStatements(() => app.engine.tick(T0))).toHaveLength(1);
  });

  it("an idle worker's heartbeat is two statements: its leases, and its duties and liveness in one", async () => {
    const store = await fresh();
    const worker = new PgWorker(store, db.url, 60_000, () => {});
    cleanups.push(() => worker.stop());
    await worker.start();
    expect(worker.leads).toBe(true);
    const beat = await pgStatements(() => worker.heartbeat());
    expect(beat).toHaveLength(2);
    expect(beat[0]).toMatch(/^\s*UPDATE enrollments SET lease_until/);
    expect(beat[1]).toMatch(/INSERT INTO drip_workers/);
    const rows = await store.pool.query<{ duties: string }>("SELECT duties FROM drip_workers WHERE id = $1", [worker.id]);
    expect(rows.rows[0]!.duties).toBe("leader");
    // A second worker stands and loses while the first holds the duties; it takes them once the first is gone.
    const other = new PgWorker(store, db.url, 60_000, () => {});
    cleanups.push(() => other.stop());
    await other.start();
    await worker.heartbeat();
    expect([worker.leads, other.leads]).toEqual([true, false]);
    await worker.stop();
    await other.heartbeat();
    expect(other.leads).toBe(true);
    const after = await store.pool.query<{ id: string; duties: string }>("SELECT id, duties FROM drip_workers ORDER BY id");
    expect(after.rows).toEqual([{ id: other.id, duties: "leader" }]);
  });
});
