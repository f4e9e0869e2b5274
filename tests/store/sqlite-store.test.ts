/**
 * The Store contract on the SQLite adapter: case-insensitive emails, idempotent imports,
 * tags, hashed suppression, claims that never hand one enrollment to two workers (in one
 * process; across processes on one file: claim-processes.soak.test.ts), harmless re-migration, status counts, and the
 * claim query using the enrollments_due index.
 */
import { CompiledQuery, sql } from "kysely";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { ClaimedSend } from "../../src/store/types.ts";
import { HOUR, MINUTE, at, cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

const T0 = at("2027-01-04T10:00:00Z");
const LEASE = 5 * MINUTE;
let store: SqliteStore;

beforeEach(async () => {
  store = new SqliteStore(":memory:");
  await store.migrate();
});
afterEach(async () => store.close());
afterAll(() => cleanupTempDirs());

async function enrolled(s: SqliteStore, email: string, dueAt: Date, status: "active" | "pending" = "active") {
  const { subscriber } = await s.upsertSubscriber({ email, status, timezone: "Europe/London" }, T0);
  await s.enroll({ subscriberId: subscriber.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: dueAt, allowReentry: false });
  return subscriber;
}

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
    const rows = await store.db.selectFrom("suppressions").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows).toLowerCase()).not.toContain("ana");
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
    await store.recordOutcome(claim!, { status: "sent", at: T0, providerMessageId: "m-1" }, { kind: "next", stepId: "two", dueAt: new Date(T0.getTime() + HOUR) });
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

  it("two SqliteStore instances on one file in the same process can claim in parallel without 'database is locked'", async () => {
    const dir = tempDir("drip-claims-");
    const one = new SqliteStore(`file:${dir}/drip.db`);
    await one.migrate();
    const two = new SqliteStore(`file:${dir}/drip.db`);
    try {
      for (let i = 0; i < 40; i++) await enrolled(one, `q${i}@example.com`, T0);
      const [a, b] = await Promise.all([one.claimDue(T0, 25, LEASE), two.claimDue(T0, 25, LEASE)]);
      const ids = [...a, ...b].map((c) => c.enrollmentId);
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    } finally {
      await one.close();
      await two.close();
    }
  }, 20_000);

  it("the claim query uses the enrollments_due index (EXPLAIN QUERY PLAN of the exact statement claimDue runs)", async () => {
    for (let i = 0; i < 50; i++) await enrolled(store, `e${i}@example.com`, new Date(T0.getTime() + i * HOUR));
    // Capture the statements claimDue prepares, with their parameters.
    const raw = store["raw"];
    const prepare = raw.prepare.bind(raw);
    const seen: { sql: string; params: unknown[] }[] = [];
    raw.prepare = ((text: string) => {
      const stmt = prepare(text);
      const all = stmt.all.bind(stmt);
      if (stmt.reader) stmt.all = ((...params: unknown[]) => (seen.push({ sql: text, params: params.flat() }), all(...(params as [])))) as typeof stmt.all;
      return stmt;
    }) as typeof raw.prepare;
    try {
      await store.claimDue(T0, 100, LEASE);
    } finally {
      raw.prepare = prepare;
    }
    const claim = seen.find((s) => /from\s+"?enrollments"?/i.test(s.sql) && /next_due_at/.test(s.sql));
    expect(claim, "claimDue reads due enrollments").toBeDefined();
    const plan = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${claim!.sql}`, claim!.params));
    const details = plan.rows.map((r) => r.detail).join(" | ");
    expect(details).toMatch(/USING (COVERING )?INDEX enrollments_due/);
    expect(details).not.toMatch(/SCAN enrollments(?! USING)/);
    expect(details).not.toMatch(/TEMP B-TREE/); // ordered by the index, no sort of every active row
  });
});

describe("migrations and status", () => {
  it("migrate() twice is harmless: no error, data kept, each migration recorded once", async () => {
    await store.upsertSubscriber({ email: "keep@example.com", status: "active" }, T0);
    await store.migrate();
    await store.migrate();
    expect(await store.findSubscriberByEmail("keep@example.com")).not.toBeNull();
    const rows = await sql<{ id: number }>`SELECT id FROM drip_migrations ORDER BY id`.execute(store.db);
    expect(rows.rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
  });

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
    await store.recordOutcome(c3!, { status: "skipped", at: T0, reason: "tag" }, { kind: "next", stepId: "two", dueAt: new Date(T0.getTime() + 48 * HOUR) });
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
