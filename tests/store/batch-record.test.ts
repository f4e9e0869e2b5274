/**
 * Recording a provider batch at once (completeBatch) on both backends: a few set-based
 * statements whatever the batch's size, with exactly the effect of recording each send alone
 * (recordOutcome): the same send and enrollment rows, stale claims refused one by one (the
 * fence), an enrollment ended meanwhile left ended. The Postgres statement count is read from
 * the `pg` client, so a loop over the batch's sends fails it.
 */
import { type Kysely, sql } from "kysely";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { DB } from "../../src/store/schema.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { ClaimedSend, OutcomeRecord, Store } from "../../src/store/types.ts";
import { MINUTE, at, cleanupTempDirs } from "../support/engine-helpers.ts";
import { pgDatabase, pgStatements } from "../support/pg.ts";

const T0 = at("2027-01-04T10:00:00Z");
const T1 = at("2027-01-04T10:00:07Z");
const LEASE = 5 * MINUTE;
/** More than one chunk of the set-based statements (200 rows each). */
const N = 230;

const db = pgDatabase();
// Seeding and recording a few hundred rows twice: slow on a loaded machine, not a speed test.
vi.setConfig({ testTimeout: 180_000 });
afterAll(() => cleanupTempDirs());

/** Every statement better-sqlite3 runs in this process while `fn` runs. */
async function sqliteStatements(fn: () => Promise<void>, opts: { transactions?: boolean } = {}): Promise<string[]> {
  const probe = new Database(":memory:");
  const proto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  const seen: string[] = [];
  const originals = new Map<string, (...a: unknown[]) => unknown>();
  for (const m of ["run", "all", "get", "iterate"]) {
    const original = proto[m]!;
    originals.set(m, original);
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      seen.push(this.source);
      return original.apply(this, args);
    };
  }
  try {
    await fn();
  } finally {
    for (const [m, original] of originals) proto[m] = original;
  }
  return opts.transactions ? seen : seen.filter((s) => !/^\s*(BEGIN|COMMIT|ROLLBACK)/i.test(s));
}

/** The i-th send's outcome and advance: every kind, values differing per row, some claims stale. */
function outcomeFor(i: number, claim: ClaimedSend): OutcomeRecord {
  const stale = i % 17 === 5;
  const c: ClaimedSend = {
    ...claim,
    ...(stale ? { fence: claim.fence - 1 } : {}),
    ...(i % 3 === 0 ? { version: { sequence: `v${i % 4}`, template: `t${i % 5}` } } : {}),
  };
  const at = new Date(T1.getTime() + i);
  const outcome: OutcomeRecord["outcome"] =
    i % 7 === 0
      ? { status: "failed", at, reason: `bounced ${i}` }
      : i % 11 === 0
        ? { status: "skipped", at, reason: "withheld" }
        : i % 13 === 0
          ? { status: "in_doubt", at, reason: "no answer" }
          : { status: "sent", at, providerMessageId: `msg-${i}` };
  const advance: OutcomeRecord["advance"] =
    i % 5 === 0
      ? { kind: "completed" }
      : i % 9 === 0
        ? { kind: "exited", reason: `exit ${i}` }
        : {
            kind: "next",
            stepId: `step-${i % 3}`,
            dueAt: new Date(T1.getTime() + i * MINUTE),
            ...(i % 4 === 0 ? { startedAt: new Date(T0.getTime() + i) } : {}),
          };
  return { claim: c, outcome, advance };
}

/** Enroll `N` subscribers named `${cohort}${i}`, claim them and bind them to one batch: their claims by index. */
async function cohort(store: Store, name: string): Promise<ClaimedSend[]> {
  const rows = Array.from({ length: N }, (_, i) => ({ email: `${name}${i}@example.com`, status: "active" as const, timezone: "Europe/London" }));
  const imported = await store.importSubscribers(rows, T0, () => ({ sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0 }));
  expect(imported.enrolled).toBe(N);
  const claims = await store.claimDue(T0, 2 * N, LEASE, `worker-${name}`);
  expect(claims).toHaveLength(N);
  const payload = JSON.stringify({ sendIds: claims.map((c) => c.sendId), emails: claims.map((c) => ({ to: [c.subscriber.email] })) });
  expect(await store.createBatch({ id: `batch-${name}`, payload, claims, leaseUntil: new Date(T0.getTime() + LEASE), now: T0 })).toEqual({ lost: [] });
  const index = (c: ClaimedSend) => Number(c.subscriber.email.slice(name.length).split("@")[0]);
  return claims.sort((a, b) => index(a) - index(b));
}

/** A cohort's send and enrollment rows by index, without what names the cohort (ids, emails, batch). */
async function rowsOf(q: Kysely<DB>, name: string): Promise<Record<string, unknown>[]> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT sub.email, s.status AS send_status, s.attempts, s.due_at, s.claimed_at, s.sent_at, s.provider_message_id,
      s.reason AS send_reason, s.updated_at AS send_updated_at, s.sequence_version, s.template_version, s.retry_key, s.retry_since,
      e.status, e.reason, e.cursor, e.updated_at AS enrollment_updated_at, e.next_step_id, e.next_due_at, e.started_at, e.lease_until, e.lease_owner, e.fence, e.replan, e.resume
    FROM sends s JOIN enrollments e ON e.id = s.enrollment_id JOIN subscribers sub ON sub.id = s.subscriber_id
    WHERE sub.email LIKE ${`${name}%`}`.execute(q);
  return rows
    .map((r) => ({
      ...r,
      i: Number(String(r.email).slice(name.length).split("@")[0]),
      email: undefined,
      lease_owner: r.lease_owner === `batch-${name}` ? "the batch" : r.lease_owner,
    }))
    .map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, typeof v === "bigint" || (typeof v === "string" && /^\d+$/.test(v) && k !== "i") ? Number(v) : v]),
      ),
    )
    .sort((a, b) => (a.i as number) - (b.i as number));
}

function batchRecording(name: string, open: () => Promise<Store & { db: Kysely<DB> }>) {
  describe(`completeBatch on ${name}`, () => {
    it(`records ${N} sends as recording each alone would: every outcome and advance, stale claims refused, ended enrollments left ended`, async () => {
      const store = await open();
      try {
        const a = await cohort(store, "a");
        const b = await cohort(store, "b");
        // Some enrollments end while their send is in flight (an unsubscribe): the record moves only their cursor.
        for (const claims of [a, b]) for (const i of [2, 3, 29]) await store.setEnrollmentStatus(claims[i]!.enrollmentId, "exited", "left meanwhile");
        await store.completeBatch(
          "batch-a",
          a.map((c, i) => outcomeFor(i, c)),
        );
        for (const [i, c] of b.entries()) {
          const r = outcomeFor(i, c);
          expect(await store.recordOutcome(r.claim, r.outcome, r.advance)).toBe(i % 17 !== 5);
        }
        const ra = await rowsOf(store.db, "a");
        const rb = await rowsOf(store.db, "b");
        expect(ra).toHaveLength(N);
        expect(ra).toEqual(rb);
        // The stale ones kept their claim; the others were written.
        expect(ra.filter((r) => r.send_status === "claimed").map((r) => r.i)).toEqual(ra.filter((r) => (r.i as number) % 17 === 5).map((r) => r.i));
        expect(new Set(ra.map((r) => r.send_status))).toEqual(new Set(["claimed", "sent", "failed", "skipped", "in_doubt"]));
      } finally {
        await store.close();
      }
    });

    it("a batch whose every claim is stale stays pending (its recovering owner closes it)", async () => {
      const store = await open();
      try {
        const a = await cohort(store, "s");
        await store.completeBatch(
          "batch-s",
          a.map((c) => ({
            claim: { ...c, fence: c.fence - 1 },
            outcome: { status: "sent", at: T1, providerMessageId: "late" },
            advance: { kind: "completed" },
          })),
        );
        const { rows } = await sql<{ status: string }>`SELECT status FROM batches WHERE id = 'batch-s'`.execute(store.db);
        expect(rows[0]!.status).toBe("pending");
        expect((await rowsOf(store.db, "s")).every((r) => r.send_status === "claimed")).toBe(true);
      } finally {
        await store.close();
      }
    });
  });
}

batchRecording("sqlite", async () => {
  const s = new SqliteStore(":memory:");
  await s.migrate();
  return s;
});

batchRecording("postgres", async () => {
  const s = new PostgresStore(db.url);
  await s.migrate();
  await db.reset();
  return s;
});

describe("completeBatch on sqlite: statements", () => {
  it(`records a batch of ${N} in two statements per 200 sends, not one per kind of advance`, async () => {
    const store = new SqliteStore(":memory:");
    await store.migrate();
    try {
      const a = await cohort(store, "q");
      const records = a.map((c, i) => outcomeFor(i, c));
      const statements = await sqliteStatements(() => store.completeBatch("batch-q", records));
      // Per chunk of 200: the fenced release and advance in one UPDATE of enrollments, one UPDATE of
      // sends; one look for resume points among the records not released (the stale ones here);
      // the batch closed.
      expect(statements).toHaveLength(2 * Math.ceil(N / 200) + 2);
      expect(statements.filter((s) => /^\s*UPDATE enrollments/.test(s))).toHaveLength(Math.ceil(N / 200));
      expect((await rowsOf(store.db, "q")).filter((r) => r.send_status !== "claimed")).toHaveLength(N - a.filter((_c, i) => i % 17 === 5).length);
    } finally {
      await store.close();
    }
  });
});

describe("completeBatch on postgres: statements", () => {
  it(`records a batch of ${N} in a few statements, not a few per send`, async () => {
    const store = new PostgresStore(db.url);
    await store.migrate();
    await db.reset();
    try {
      const a = await cohort(store, "p");
      const records = a.map((c, i) => outcomeFor(i, c));
      const statements = await pgStatements(() => store.completeBatch("batch-p", records));
      // The batch's row lock, its enrollments' row locks (id order), and one statement recording every send and closing the batch.
      expect(statements).toHaveLength(3);
      expect(statements[0]).toMatch(/FROM batches .*FOR UPDATE/s);
      expect(statements[1]).toMatch(/FROM enrollments .*ORDER BY id FOR UPDATE/s);
      expect((await rowsOf(store.db, "p")).filter((r) => r.send_status !== "claimed")).toHaveLength(N - a.filter((_c, i) => i % 17 === 5).length);
    } finally {
      await store.close();
    }
  });
});

describe("createBatches on sqlite: statements", () => {
  it("writes a claimed page's five batches of 100 in one transaction of four statements, not one transaction of five per batch", async () => {
    const store = new SqliteStore(":memory:");
    await store.migrate();
    try {
      const rows = Array.from({ length: 500 }, (_, i) => ({ email: `page${i}@example.com`, status: "active" as const, timezone: "Europe/London" }));
      await store.importSubscribers(rows, T0, () => ({ sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0 }));
      const claims = await store.claimDue(T0, 500, LEASE, "worker-page");
      expect(claims).toHaveLength(500);
      const batches = [0, 1, 2, 3, 4].map((b) => {
        const part = claims.slice(b * 100, (b + 1) * 100).map((c) => ({ ...c, version: { sequence: "v1", template: `t${b}` } }));
        const payload = JSON.stringify({ sendIds: part.map((c) => c.sendId), emails: part.map((c) => ({ to: [c.subscriber.email] })) });
        return { id: `page-batch-${b}`, payload, claims: part, leaseUntil: new Date(T0.getTime() + LEASE), now: T0 };
      });
      let answers: { lost: string[] }[] = [];
      const statements = await sqliteStatements(
        async () => {
          answers = await store.createBatches(batches);
        },
        { transactions: true },
      );
      expect(answers).toEqual(batches.map(() => ({ lost: [] })));
      // One BEGIN … COMMIT: the fences read, the batches inserted, the sends bound, the claims handed over.
      expect(statements.map((s) => s.trim().split(/\s+/).slice(0, 2).join(" "))).toEqual([
        "BEGIN IMMEDIATE",
        "SELECT id,",
        "INSERT INTO",
        "UPDATE sends",
        "UPDATE enrollments",
        "COMMIT",
      ]);
      const bound = await store.db.selectFrom("sends").select(["batch_id", "template_version"]).where("batch_id", "is not", null).execute();
      expect(bound).toHaveLength(500);
      for (const [b, batch] of batches.entries())
        expect(bound.filter((r) => r.batch_id === batch.id).map((r) => r.template_version)).toEqual(Array.from({ length: 100 }, () => `t${b}`));
      const held = await store.db.selectFrom("enrollments").select(["lease_owner"]).where("lease_until", "=", Number.MAX_SAFE_INTEGER).execute();
      expect(held).toHaveLength(500);
    } finally {
      await store.close();
    }
  });
});
