/**
 * The PostgreSQL adapter: the Store contract (tests/store/contract.ts) on a real server (the
 * run's embedded one, or DRIP_TEST_DATABASE_URL), one database for this file, emptied between
 * tests; plus what only Postgres has: two pools claiming at once, the advisory-locked migrations.
 */
import { describe, expect, it } from "vitest";
import { compileAutomations } from "../../src/automations/compile.ts";
import { defineAutomations } from "../../src/automations/define.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { defineTopics, staticTopics } from "../../src/newsletters/topics.ts";
import type { ClaimedSend } from "../../src/store/types.ts";
import { PgRateLimiter } from "../../src/store/postgres/rate-limit.ts";
import { PgWorker } from "../../src/store/postgres/worker.ts";
import { PG_MIGRATIONS } from "../../src/store/postgres/migrations.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.ts";
import { at, MINUTE } from "../support/engine-helpers.ts";
import { pgDatabase } from "../support/pg.ts";
import { describeStoreContract, enrolled } from "./contract.ts";

const db = pgDatabase();

describeStoreContract("postgres", async () => {
  const s = new PostgresStore(db.url);
  await s.migrate();
  await db.reset();
  return s;
});

const T0 = at("2027-01-04T10:00:00Z");

describe("postgres only", () => {
  it("migration 14: enrollments by sequence and status use enrollments_queue, events by send use events_send_type", async () => {
    const s = new PostgresStore(db.url);
    try {
      await s.migrate();
      const indexes = await s.pool.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()");
      expect(indexes.rows.map((r) => r.indexname)).not.toContain("enrollments_sequence");
      expect(indexes.rows.map((r) => r.indexname)).not.toContain("events_send");
      const c = await s.pool.connect();
      try {
        // Rows enough for statistics (rolled back after), and sequential scans off: the plan shows
        // which index the planner picks for the lookup.
        await c.query("BEGIN");
        await c.query(`INSERT INTO subscribers (id, email, email_key, status, created_at, updated_at)
          SELECT 's' || g, 's' || g || '@x.com', 's' || g || '@x.com', 'active', 0, 0 FROM generate_series(1, 4000) g`);
        await c.query(`INSERT INTO enrollments (subscriber_id, sequence_id, started_at, status, updated_at)
          SELECT 's' || g, 'seq' || (g % 37), 0, (ARRAY['active','completed','exited','paused'])[1 + g % 4], 0 FROM generate_series(1, 4000) g`);
        await c.query(`INSERT INTO events (subscriber_id, send_id, type, at)
          SELECT 's' || g, 'send' || (g % 2000), (ARRAY['delivered','opened','clicked'])[1 + g % 3], 0 FROM generate_series(1, 6000) g`);
        await c.query("ANALYZE enrollments");
        await c.query("ANALYZE events");
        await c.query("SET LOCAL enable_seqscan = off");
        const plan = async (text: string, params: unknown[]) =>
          (await c.query<{ "QUERY PLAN": string }>(`EXPLAIN ${text}`, params)).rows.map((r) => r["QUERY PLAN"]).join("\n");
        expect(await plan(`select count(*) as n from enrollments where sequence_id = $1 and status = $2`, ["seq3", "active"])).toMatch(
          /Index Only Scan using enrollments_queue|Bitmap Index Scan on enrollments_queue/,
        );
        expect(await plan(`select id, subscriber_id from enrollments where sequence_id = $1`, ["seq3"])).toMatch(
          /Index Scan using enrollments_queue|Bitmap Index Scan on enrollments_queue/,
        );
        expect(await plan(`select type from events where send_id = $1`, ["send7"])).toMatch(
          /Index Only Scan using events_send_type|Bitmap Index Scan on events_send_type/,
        );
      } finally {
        await c.query("ROLLBACK");
        c.release();
      }
    } finally {
      await s.close();
    }
  });

  it("migration 15: sends by enrollment is the one index from migration 1 (sends_enrollment), not a second copy", async () => {
    const s = new PostgresStore(db.url);
    try {
      await s.migrate();
      const { rows } = await s.pool.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'sends' AND indexdef LIKE '%(enrollment_id)'",
      );
      expect(rows.map((r) => r.indexname)).toEqual(["sends_enrollment"]);
      expect((await s.migrationState()).applied).toContain(15);
    } finally {
      await s.close();
    }
  });

  it("has the same migration ids and names as SQLite", () => {
    expect(PG_MIGRATIONS.map((m) => [m.id, m.name])).toEqual(MIGRATIONS.map((m) => [m.id, m.name]));
  });

  it("two stores (two pools, as two workers) started at once migrate once, then claim 200 due steps without sharing one", async () => {
    await db.reset();
    const one = new PostgresStore(db.url);
    const two = new PostgresStore(db.url);
    try {
      await Promise.all([one.migrate(), two.migrate(), one.migrate()]);
      const rows = Array.from({ length: 200 }, (_, i) => ({ email: `w${i}@example.com`, status: "active" as const }));
      await one.importSubscribers(rows, T0, () => ({ sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0 }));
      const got: number[][] = [[], []];
      for (let round = 0; round < 50; round++) {
        const [a, b] = await Promise.all([one.claimDue(T0, 7, 5 * MINUTE, "a"), two.claimDue(T0, 7, 5 * MINUTE, "b")]);
        got[0]!.push(...a.map((c) => c.enrollmentId));
        got[1]!.push(...b.map((c) => c.enrollmentId));
        if (a.length + b.length === 0) break;
      }
      expect(got[0]!.length + got[1]!.length).toBe(200);
      expect(new Set([...got[0]!, ...got[1]!]).size).toBe(200);
      expect(got[0]!.length).toBeGreaterThan(0);
      expect(got[1]!.length).toBeGreaterThan(0);
      const state = await one.migrationState();
      expect(state).toEqual({ applied: PG_MIGRATIONS.map((m) => m.id), pending: [] });
    } finally {
      await one.close();
      await two.close();
    }
  }, 90_000);
});

describe("postgres only: many workers", () => {
  const payload = (cs: readonly ClaimedSend[]) => JSON.stringify({ sendIds: cs.map((c) => c.sendId), emails: cs.map((c) => ({ to: [c.subscriber.email] })) });

  it("a worker that lost its batch's lease (frozen past it) records nothing over the worker that recovered the batch", async () => {
    const store = new PostgresStore(db.url);
    await store.migrate();
    await db.reset();
    try {
      for (const e of ["a@example.com", "b@example.com"]) await enrolled(store, e, T0);
      const claims = await store.claimDue(T0, 10, MINUTE, "frozen");
      await store.createBatch({ id: "b-1", payload: payload(claims), claims, leaseUntil: new Date(T0.getTime() + MINUTE), now: T0 });
      // The lease runs out; another worker recovers the batch (same key, same bytes): a new claim.
      const [recovered] = await store.claimStaleBatches(new Date(T0.getTime() + MINUTE), 10, MINUTE);
      expect(recovered!.claims.map((c) => c.fence)).toEqual(claims.map((c) => c.fence + 1));
      // The frozen worker wakes and records its (now stale) outcome: refused, the batch stays the new owner's.
      const stale = claims.map((claim) => ({ claim, outcome: { status: "failed" as const, at: T0, reason: "late" }, advance: { kind: "completed" as const } }));
      await store.completeBatch("b-1", stale);
      for (const c of claims) expect(await store.getSend(c.sendId)).toMatchObject({ status: "claimed" });
      expect((await store.pool.query("SELECT status FROM batches WHERE id = 'b-1'")).rows[0].status).toBe("pending");
      // The new owner records: it counts.
      const fresh = recovered!.claims.map((claim) => ({
        claim,
        outcome: { status: "sent" as const, at: T0, providerMessageId: `m-${claim.sendId}` },
        advance: { kind: "completed" as const },
      }));
      await store.completeBatch("b-1", fresh);
      for (const c of claims) expect(await store.getSend(c.sendId)).toMatchObject({ status: "sent", providerMessageId: `m-${c.sendId}` });
      expect((await store.pool.query("SELECT status FROM batches WHERE id = 'b-1'")).rows[0].status).toBe("done");
    } finally {
      await store.close();
    }
  });

  it("the heartbeat keeps a worker's claims past their lease while it works; a claim taken over is not renewed", async () => {
    const store = new PostgresStore(db.url);
    await store.migrate();
    await db.reset();
    const worker = new PgWorker(
      store,
      db.url,
      60_000,
      () => {},
      () => T0.getTime() + 50_000,
    );
    try {
      for (const e of ["a@example.com", "b@example.com"]) await enrolled(store, e, T0);
      const mine = await store.claimDue(T0, 1, MINUTE, worker.owner);
      const theirs = await store.claimDue(T0, 1, MINUTE, "someone-else");
      await worker.heartbeat(); // at T0 + 50 s: renews to T0 + 110 s
      expect(await store.claimDue(new Date(T0.getTime() + 70_000), 10, MINUTE, "thief")).toEqual([
        expect.objectContaining({ sendId: theirs[0]!.sendId }), // not renewed: its lease ran out at T0 + 60 s
      ]);
      expect(await store.recordOutcome(mine[0]!, { status: "sent", at: T0 }, { kind: "completed" })).toBe(true);
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("one rate limit across workers: two limiters on two pools never start more than the limit in any second, and one's 429 holds both", async () => {
    const a = new PostgresStore(db.url);
    const b = new PostgresStore(db.url);
    await a.migrate();
    await db.reset();
    try {
      const la = new PgRateLimiter(a.pool, 10);
      const lb = new PgRateLimiter(b.pool, 10);
      const t0 = Date.now();
      const starts: number[] = [];
      const take = async (l: PgRateLimiter) => {
        await l.acquire();
        starts.push(Date.now());
      };
      await Promise.all(Array.from({ length: 20 }, (_, i) => take(i % 2 ? la : lb)));
      starts.sort((x, y) => x - y);
      let max = 0;
      for (let i = 0; i < starts.length; i++) max = Math.max(max, starts.filter((t) => t >= starts[i]! && t < starts[i]! + 1000).length);
      expect(max).toBeLessThanOrEqual(10);
      expect(starts[starts.length - 1]! - t0).toBeGreaterThanOrEqual(1000); // 20 requests at 10/s take more than a second
      // A 429 with retry-after: 2 seen by one worker holds the other.
      la.observe({ "retry-after": "2" }, 429);
      await new Promise((r) => setTimeout(r, 100)); // the block is written in the background
      const before = Date.now();
      await lb.acquire();
      expect(Date.now() - before).toBeGreaterThanOrEqual(1500);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("postgres: retried in-doubt batches claimed by two workers at once", () => {
  it("two pools claiming pages of 2 take each retry key's 3 sends whole (one of them, all 3), every send once", async () => {
    await db.reset();
    const one = new PostgresStore(db.url);
    const two = new PostgresStore(db.url);
    try {
      await one.migrate();
      const rows = Array.from({ length: 18 }, (_, i) => ({ email: `g${i}@example.com`, status: "active" as const }));
      await one.importSubscribers(rows, T0, () => ({ sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0 }));
      const first = await one.claimDue(T0, 100, 5 * MINUTE, "first");
      expect(first).toHaveLength(18);
      const keyOf = new Map<string, string>();
      const now = new Date(T0.getTime() + 60 * MINUTE);
      for (let g = 0; g < 6; g++) {
        const claims = first.slice(g * 3, g * 3 + 3);
        const id = `batch-group-${g}`;
        const payload = JSON.stringify({ sendIds: claims.map((c) => c.sendId), emails: claims.map((c) => ({ to: [c.subscriber.email] })) });
        await one.createBatch({ id, payload, claims, leaseUntil: T0, now: T0 });
        await one.completeBatch(
          id,
          claims.map((claim) => ({ claim, outcome: { status: "in_doubt" as const, at: T0, reason: "no answer" }, advance: { kind: "completed" as const } })),
        );
        expect(await one.requeueSend(claims[g % 3]!.sendId, now)).toMatchObject({ kind: "queued", key: id });
        for (const c of claims) keyOf.set(c.sendId, id);
      }
      const pages: ClaimedSend[][] = [];
      for (let round = 0; round < 60 && pages.flat().length < 18; round++)
        pages.push(...(await Promise.all([one.claimDue(now, 2, 5 * MINUTE, "a"), two.claimDue(now, 2, 5 * MINUTE, "b")])));
      const all = pages.flat();
      expect(all.map((c) => c.sendId).sort()).toEqual([...keyOf.keys()].sort());
      for (const page of pages) {
        const perKey = new Map<string, number>();
        for (const c of page) {
          expect(c.retryKey?.key).toBe(keyOf.get(c.sendId));
          perKey.set(c.retryKey!.key, (perKey.get(c.retryKey!.key) ?? 0) + 1);
        }
        for (const [key, n] of perKey) expect(n, key).toBe(3);
      }
      expect(one.retries.deadlock + two.retries.deadlock).toBe(0);
    } finally {
      await one.close();
      await two.close();
    }
  }, 90_000);
});

describe("postgres: door operations on one subscriber from two workers", () => {
  it("two pools tag (and unsubscribe) the same subscriber at once: the second waits for the first's row lock, none fails", async () => {
    await db.reset();
    const one = new PostgresStore(db.url);
    const two = new PostgresStore(db.url);
    const noSequences = { getSequence: () => undefined, defaultSequence: undefined };
    const doors = [new Lifecycle({ store: one, sequences: noSequences }), new Lifecycle({ store: two, sequences: noSequences })];
    try {
      await one.migrate();
      const { subscriber } = await one.upsertSubscriber({ email: "both@example.com", status: "active" }, T0);
      for (let round = 0; round < 20; round++) {
        const tag = `t${round}`;
        const results = await Promise.all(doors.map((d) => d.tag(subscriber, tag, T0)));
        expect(results.sort(), `round ${round}`).toEqual(["added", "already"]);
      }
      const left = await Promise.all(doors.map((d) => d.unsubscribe(subscriber, T0, "test")));
      expect(left.sort()).toEqual(["already", "unsubscribed"]);
      expect((await two.getSubscriber(subscriber.id))?.tags).toHaveLength(20);
    } finally {
      await one.close();
      await two.close();
    }
  }, 60_000);

  it("two pools retry two sends of one in-doubt batch at once, 20 times: one queues both (one key), the other is refused; no deadlock", async () => {
    await db.reset();
    const one = new PostgresStore(db.url);
    const two = new PostgresStore(db.url);
    const noSequences = { getSequence: () => undefined, defaultSequence: undefined };
    const doors = [new Lifecycle({ store: one, sequences: noSequences }), new Lifecycle({ store: two, sequences: noSequences })];
    const now = new Date(T0.getTime() + 60 * MINUTE);
    try {
      await one.migrate();
      for (let round = 0; round < 20; round++) {
        for (const who of ["x", "y"]) await enrolled(one, `${who}${round}@example.com`, T0);
        const claims = await one.claimDue(T0, 10, 5 * MINUTE);
        expect(claims).toHaveLength(2);
        const id = `batch-race-${round}`;
        const payload = JSON.stringify({ sendIds: claims.map((c) => c.sendId), emails: claims.map((c) => ({ to: [c.subscriber.email] })) });
        await one.createBatch({ id, payload, claims, leaseUntil: T0, now: T0 });
        await one.completeBatch(
          id,
          claims.map((claim) => ({ claim, outcome: { status: "in_doubt" as const, at: T0, reason: "no answer" }, advance: { kind: "completed" as const } })),
        );
        const results = await Promise.allSettled(claims.map((c, i) => doors[i]!.retrySend(c.sendId, now, `staff ${i}`)));
        const queued = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        expect(queued, `round ${round}`).toHaveLength(1);
        expect(queued[0]).toMatchObject({ outcome: "queued", key: id, siblings: [claims.find((c) => c.sendId !== queued[0]!.sendId)!.sendId] });
        const refused = results.find((r) => r.status === "rejected");
        expect(refused?.status === "rejected" && String(refused.reason)).toMatch(/was not retried: it is queued or being sent now/);
        for (const c of claims) {
          expect(await one.getSend(c.sendId)).toMatchObject({ status: "claimed" });
          const retries = (await one.subscriberTimeline(c.subscriber.id)).filter((e) => e.kind === "retry");
          expect(retries, `round ${round}`).toHaveLength(1);
        }
      }
      expect(one.retries.deadlock + two.retries.deadlock).toBe(0);
    } finally {
      await one.close();
      await two.close();
    }
  }, 120_000);

  it("two pools subscribe one reader to a topic at once, 20 times: one joins it and fires its automation (which joins a consented topic) once; the other finds it joined", async () => {
    await db.reset();
    const one = new PostgresStore(db.url);
    const two = new PostgresStore(db.url);
    const noSequences = { getSequence: () => undefined, defaultSequence: undefined };
    const topics = staticTopics(
      defineTopics([
        { id: "weekly", name: "Weekly", description: "The weekly blog.", askAtSignup: true },
        { id: "offers", name: "Offers", description: "Now and then.", askAtSignup: false },
      ]),
    );
    // Joining the weekly hands the reader to the offers they consented to (a `consented` record).
    const list = compileAutomations([], {
      file: "automations.ts",
      automations: defineAutomations([{ id: "weekly-offers", on: { on: "topic-joined", topic: "weekly" }, do: [{ joinTopic: "offers" }] }]).automations,
    });
    const doors = [one, two].map((store) => new Lifecycle({ store, sequences: noSequences, topics, automations: () => list }));
    try {
      await one.migrate();
      for (let round = 0; round < 20; round++) {
        const email = `t${round}@example.com`;
        const { subscriber } = await one.upsertSubscriber({ email, status: "active" }, T0);
        await one.setTopic(subscriber.id, "offers", { status: "consented", at: T0, source: "signup form (when the course ends)" });
        // `drip subscribe --topic weekly` from two places a moment apart (each its own run key).
        const results = await Promise.all(
          doors.map((door, i) =>
            door.subscribe(
              { email, name: "", timezone: "Europe/London", tags: [] },
              { confirmed: false, source: `place ${i}`, topics: ["weekly"] },
              new Date(T0.getTime() + i),
            ),
          ),
        );
        expect(results.map((r) => r.kind)).toEqual(["ok", "ok"]);
        const runs = await two.automationRuns(subscriber.id);
        expect(runs, `round ${round}`).toMatchObject([{ automationId: "weekly-offers", outcome: "done", detail: "joined topic offers" }]);
        const memberships = await two.listTopicMemberships(subscriber.id);
        expect(memberships.map((m) => [m.topicId, m.status]).sort()).toEqual([
          ["offers", "joined"],
          ["weekly", "joined"],
        ]);
      }
      expect(one.retries.deadlock + two.retries.deadlock).toBe(0);
    } finally {
      await one.close();
      await two.close();
    }
  }, 120_000);
});
