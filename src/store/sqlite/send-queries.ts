/**
 * Scheduling queries: claiming due steps under a lease, recording outcomes, provider
 * batches and deferred re-plans. Each runs inside the caller's BEGIN IMMEDIATE transaction (`q`).
 *
 * The claim (lease_until, lease_owner, fence) is kept apart from the schedule (next_due_at),
 * as graphile-worker keeps locked_at apart from run_at: whoever moves a due time cannot
 * release a claim, and every write by a claim's owner is fenced by the token it claimed with.
 */
import { CompiledQuery, type Kysely, sql } from "kysely";
import type { DB } from "../schema.ts";
import { HELD_BY_BATCH, parsePassOver, sendId, toEnrollment } from "../shared.ts";
import type { ClaimedSend, Enrollment, NewBatch, OutcomeRecord, PendingBatch, ReplanFields, Subscriber } from "../types.ts";
import { subscribersById } from "./hydrate.ts";
import type { ResumePoint } from "./retry-queries.ts";

/** Rows per set-based statement (13 parameters at most each: well under SQLite's 32,766). */
const CHUNK = 200;

/** A claimed enrollment, as a claim's `UPDATE … RETURNING` gives it. Shared with the Postgres adapter. */
export interface ClaimRow {
  id: number;
  subscriber_id: string;
  sequence_id: string;
  round: number;
  next_step_id: string | null;
  next_due_at: number | null;
  started_at: number;
  fence: number;
  pass_over: string | null;
}

/**
 * One statement takes the claims: unclaimed due enrollments (the partial index
 * enrollments_due, so cost grows with what is due, not with subscribers) and claims whose
 * lease ran out (a crashed worker; enrollments_leased). Under SQLite's write lock no other
 * worker can read the same rows before this one writes them.
 */
export async function claimDue(q: Kysely<DB>, now: Date, limit: number, leaseMs: number, owner: string): Promise<ClaimedSend[]> {
  const t = now.getTime();
  const { course, newsletter } = await laneShares(q, t, limit);
  const { rows } = await sql<ClaimRow>`
    UPDATE enrollments SET lease_until = ${t + leaseMs}, lease_owner = ${owner}, fence = fence + 1
    WHERE id IN (
      SELECT id FROM (SELECT id FROM enrollments
        WHERE lane = 0 AND status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t}
        ORDER BY next_due_at LIMIT ${course})
      UNION ALL
      SELECT id FROM (SELECT id FROM enrollments
        WHERE lane = 1 AND status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t}
        ORDER BY next_due_at LIMIT ${newsletter})
      UNION ALL
      SELECT id FROM (SELECT id FROM enrollments
        WHERE lease_until IS NOT NULL AND lease_until <= ${t} AND status = 'active' AND replan = 0 AND next_due_at <= ${t}
        ORDER BY lease_until LIMIT ${limit})
    )
    RETURNING id, subscriber_id, sequence_id, round, next_step_id, next_due_at, started_at, fence, pass_over`.execute(q);
  if (rows.length === 0) return [];
  rows.sort((a, b) => (a.next_due_at ?? 0) - (b.next_due_at ?? 0) || a.id - b.id);
  const byId = await subscribersById(
    q,
    rows.map((d) => d.subscriber_id),
  );
  const live = rows.filter((d) => byId.has(d.subscriber_id) && d.next_step_id !== null && d.next_due_at !== null);
  const sends = await insertClaimedSendsNow(q, live, t);
  // An in-doubt batch queued again goes out whole under its first key: its sends are one unit.
  const page = await wholeRetryGroups(q, t, leaseMs, owner, live, sends, async (ids) => new Set(ids));
  if (page.added.length > 0)
    for (const [id, sub] of await subscribersById(
      q,
      page.added.map((d) => d.subscriber_id),
    ))
      byId.set(id, sub);
  const claims: ClaimedSend[] = [];
  for (const d of page.rows) {
    const subscriber = byId.get(d.subscriber_id);
    if (!subscriber) continue;
    const id = sendId(d.id, d.round, d.next_step_id!);
    const send = sends.get(id);
    if (!send) throw new Error(`claim of send ${id}: its row was not written`);
    if (send.batch_id) {
      // Bound to a batch already written (a row from before claims had their own columns):
      // only batch recovery may send it (same key, same bytes). Hand the claim to the batch.
      await q.updateTable("enrollments").set({ lease_until: HELD_BY_BATCH, lease_owner: send.batch_id }).where("id", "=", d.id).execute();
      continue;
    }
    // Already recorded but the enrollment did not advance: cannot happen (same transaction),
    // but never send twice if it ever does. The lease keeps it out of the way; staff see it.
    if (send.status !== "claimed") continue;
    claims.push({
      sendId: id,
      enrollmentId: d.id,
      sequenceId: d.sequence_id,
      stepId: d.next_step_id!,
      dueAt: new Date(send.due_at),
      startedAt: new Date(d.started_at),
      attempts: send.attempts,
      fence: d.fence,
      subscriber,
      ...(d.pass_over ? { passOver: parsePassOver(d.pass_over) } : {}),
      ...retryKeyOf(send),
    });
  }
  return claims;
}

/** A claimed send's row, as the claim's upsert returns it. Shared with the Postgres adapter. */
/**
 * The send rows of claimed enrollments (each with its next step and due time), on both
 * backends: born on first claim, one statement per chunk; a re-claim after a crash finds its
 * row and counts an attempt.
 */
export async function insertClaimedSends(q: Kysely<DB>, live: readonly ClaimRow[], t: number): Promise<Map<string, ClaimedSendRow>> {
  const sends = new Map<string, ClaimedSendRow>();
  for (let i = 0; i < live.length; i += CHUNK) {
    const inserted = await q
      .insertInto("sends")
      .values(
        live.slice(i, i + CHUNK).map((d) => ({
          id: sendId(d.id, d.round, d.next_step_id!),
          enrollment_id: d.id,
          subscriber_id: d.subscriber_id,
          sequence_id: d.sequence_id,
          step_id: d.next_step_id!,
          status: "claimed",
          attempts: 1,
          due_at: d.next_due_at!,
          claimed_at: t,
          sent_at: null,
          provider_message_id: null,
          reason: null,
          updated_at: t,
        })),
      )
      .onConflict((oc) =>
        oc.column("id").doUpdateSet({ attempts: sql`sends.attempts + 1`, claimed_at: sql`excluded.claimed_at`, updated_at: sql`excluded.updated_at` }),
      )
      .returning(["id", "attempts", "due_at", "status", "batch_id", "retry_key", "retry_since"])
      .execute();
    for (const r of inserted) sends.set(r.id, r);
  }
  return sends;
}

/**
 * insertClaimedSends on SQLite: the same statement as SQL text (./hot-statements.ts explains
 * why: building a 200-row INSERT through the query builder costs more than running it).
 */
async function insertClaimedSendsNow(q: Kysely<DB>, live: readonly ClaimRow[], t: number): Promise<Map<string, ClaimedSendRow>> {
  const sends = new Map<string, ClaimedSendRow>();
  for (let i = 0; i < live.length; i += CHUNK) {
    const part = live.slice(i, i + CHUNK);
    const values: unknown[] = [];
    for (const d of part) values.push(sendId(d.id, d.round, d.next_step_id!), d.id, d.subscriber_id, d.sequence_id, d.next_step_id, d.next_due_at, t, t);
    const inserted = await run<ClaimedSendRow>(
      q,
      `INSERT INTO sends (id, enrollment_id, subscriber_id, sequence_id, step_id, status, attempts, due_at, claimed_at, sent_at, provider_message_id, reason, updated_at)
      VALUES ${part.map(() => "(?, ?, ?, ?, ?, 'claimed', 1, ?, ?, NULL, NULL, NULL, ?)").join(", ")}
      ON CONFLICT (id) DO UPDATE SET attempts = sends.attempts + 1, claimed_at = excluded.claimed_at, updated_at = excluded.updated_at
      RETURNING id, attempts, due_at, status, batch_id, retry_key, retry_since`,
      values,
    );
    for (const r of inserted) sends.set(r.id, r);
  }
  return sends;
}

export interface ClaimedSendRow {
  id: string;
  attempts: number;
  due_at: number;
  status: string;
  batch_id: string | null;
  retry_key: string | null;
  retry_since: number | null;
}

/**
 * An in-doubt batch queued again by staff goes out under its first idempotency key, so it must
 * go out whole, in one request: a first request under the key with part of the emails would
 * be taken fresh (if the provider never had the batch), and the rest, sent under the same key
 * later, would draw 409 and be recorded as sent without ever going out. So the sends of one
 * retry key are one unit for a claim: a page that took some of them takes the rest too (it
 * runs over its size), or, when one of the rest cannot be claimed now (due later, held by a
 * live claim, `locked` by another worker's transaction on PostgreSQL), gives back the ones it
 * took, and the key's sends wait, whole, for a later claim.
 *
 * A member is a queued send (status `claimed`) with the key that is its enrollment's current
 * step while the enrollment is active: one that ended (unsubscribed) or was paused since the
 * retry will not go out now and holds nobody back; the provider's answer to the group settles
 * it (settleLeftBehind in ./retry-queries.ts: a new key, sent, or in doubt). Cheap when no retry is queued: nothing
 * is read unless one of the claimed sends carries a key (then `sends_status` finds the
 * few queued and in-flight sends).
 *
 * `rows` and `sends` are the claim's enrollments and send rows (upserted, attempts counted);
 * `lockFree(ids)` takes row locks on the enrollments still to claim without waiting and
 * returns those it got (SQLite's write lock is held already: all of them). Returns the page's
 * rows (given back ones removed, added ones in due order), with `sends` updated in place.
 */
export async function wholeRetryGroups(
  q: Kysely<DB>,
  t: number,
  leaseMs: number,
  owner: string,
  rows: readonly ClaimRow[],
  sends: Map<string, ClaimedSendRow>,
  lockFree: (ids: number[]) => Promise<Set<number>>,
): Promise<{ rows: ClaimRow[]; added: ClaimRow[] }> {
  const keyOf = (d: ClaimRow) => (d.next_step_id === null ? undefined : sends.get(sendId(d.id, d.round, d.next_step_id)));
  const keys = new Set<string>();
  for (const d of rows) {
    const send = keyOf(d);
    if (send?.retry_key && send.status === "claimed" && !send.batch_id) keys.add(send.retry_key);
  }
  if (keys.size === 0) return { rows: [...rows], added: [] };
  const taken = new Set(rows.map((d) => d.id));
  const members = (
    await q
      .selectFrom("sends")
      .innerJoin("enrollments", "enrollments.id", "sends.enrollment_id")
      .select([
        "sends.id as send_id",
        "sends.retry_key",
        "enrollments.id",
        "enrollments.round",
        "enrollments.next_step_id",
        "enrollments.status",
        "enrollments.lease_until",
        "enrollments.replan",
        "enrollments.next_due_at",
      ])
      .where("sends.status", "=", "claimed")
      .where("sends.retry_key", "in", [...keys])
      .execute()
  ).filter((m) => m.status === "active" && m.next_step_id !== null && m.send_id === sendId(m.id, m.round, m.next_step_id));
  const claimable = (m: (typeof members)[number]) =>
    (m.lease_until === null || Number(m.lease_until) <= t) && Number(m.replan) === 0 && m.next_due_at !== null && Number(m.next_due_at) <= t;
  const rest = members.filter((m) => !taken.has(m.id));
  const got = await lockFree(
    rest
      .filter(claimable)
      .map((m) => m.id)
      .sort((a, b) => a - b),
  );
  const waiting = new Set(rest.filter((m) => !got.has(m.id)).map((m) => m.retry_key!));
  // Given back: the page's sends of a key that must wait (their attempt is not counted).
  const back = rows.filter((d) => {
    const key = keyOf(d)?.retry_key;
    return key != null && waiting.has(key);
  });
  if (back.length > 0) {
    await q
      .updateTable("enrollments")
      .set({ lease_until: null, lease_owner: null })
      .where(
        "id",
        "in",
        back.map((d) => d.id),
      )
      .execute();
    await q
      .updateTable("sends")
      .set({ attempts: sql`attempts - 1` })
      .where(
        "id",
        "in",
        back.map((d) => sendId(d.id, d.round, d.next_step_id!)),
      )
      .execute();
  }
  const more = rest.filter((m) => got.has(m.id) && !waiting.has(m.retry_key!)).map((m) => m.id);
  let added: ClaimRow[] = [];
  if (more.length > 0) {
    added = (
      await sql<ClaimRow>`
      UPDATE enrollments SET lease_until = ${t + leaseMs}, lease_owner = ${owner}, fence = fence + 1
      WHERE id IN (${sql.join(more)})
      RETURNING id, subscriber_id, sequence_id, round, next_step_id, next_due_at, started_at, fence, pass_over`.execute(q)
    ).rows;
    const counted = await q
      .updateTable("sends")
      .set({ attempts: sql`attempts + 1`, claimed_at: t, updated_at: t })
      .where(
        "id",
        "in",
        added.map((d) => sendId(d.id, d.round, d.next_step_id!)),
      )
      .returning(["id", "attempts", "due_at", "status", "batch_id", "retry_key", "retry_since"])
      .execute();
    for (const r of counted) sends.set(r.id, r);
  }
  const gone = new Set(back.map((d) => d.id));
  const page = [...rows.filter((d) => !gone.has(d.id)), ...added];
  page.sort((a, b) => (a.next_due_at ?? 0) - (b.next_due_at ?? 0) || a.id - b.id);
  return { rows: page, added };
}

/**
 * Fair sharing between course steps (lane 0) and newsletter deliveries (lane 1): when both
 * have work due, a page is at most half newsletter, so a 50,000-recipient issue due at 09:00
 * cannot push a course step due at 09:01 behind it; either lane takes the whole page when
 * the other has nothing due. The page then goes through the one rate limiter in order, so
 * course steps wait at most one page (seconds), never the whole newsletter. Both counts are
 * bounded (LIMIT) probes of the enrollments_due index.
 */
export async function laneShares(q: Kysely<DB>, t: number, limit: number): Promise<{ course: number; newsletter: number }> {
  const due = async (lane: number) =>
    (
      await sql<{ n: number }>`SELECT count(*) AS n FROM (SELECT id FROM enrollments
        WHERE lane = ${lane} AND status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t}
        ORDER BY next_due_at LIMIT ${limit}) AS d`.execute(q)
    ).rows[0]?.n ?? 0;
  // count(*) is a bigint on PostgreSQL (a string through pg): Number() for both backends.
  const newsletterDue = Number(await due(1));
  if (newsletterDue === 0) return { course: limit, newsletter: 0 };
  const courseDue = Number(await due(0));
  const newsletter = Math.min(newsletterDue, Math.max(limit - courseDue, Math.ceil(limit / 2)));
  return { course: limit - newsletter, newsletter };
}

/** An in-doubt send queued again goes out under its first key (src/store/sqlite/retry-queries.ts). Shared with the Postgres adapter. */
export const retryKeyOf = (send: { retry_key: string | null; retry_since: number | null }): Pick<ClaimedSend, "retryKey"> =>
  send.retry_key ? { retryKey: { key: send.retry_key, since: new Date(send.retry_since ?? 0) } } : {};

/**
 * Release a claim the caller still owns (fenced): the enrollment's resume point (a staff
 * retry's), or null when another claim took over and nothing was written.
 */
async function releaseOwned(
  q: Kysely<DB>,
  claim: ClaimedSend,
  set: { cursor?: string; next_due_at?: number; updated_at?: number },
): Promise<{ resume: string | null } | null> {
  const row = await q
    .updateTable("enrollments")
    .set({ ...set, lease_until: null, lease_owner: null })
    .where("id", "=", claim.enrollmentId)
    .where("fence", "=", claim.fence)
    .returning("resume")
    .executeTakeFirst();
  return row ? { resume: row.resume } : null;
}

/**
 * Record a send's outcome and advance its enrollment. Refused (false, nothing written) when
 * the claim is stale: its lease ran out and another worker claimed the step since.
 */
export async function record(q: Kysely<DB>, { claim, outcome, advance }: OutcomeRecord): Promise<boolean> {
  const t = outcome.at.getTime();
  const released = await releaseOwned(q, claim, { cursor: claim.stepId, updated_at: t });
  if (!released) return false;
  await q
    .updateTable("sends")
    .set({
      status: outcome.status,
      sent_at: outcome.status === "sent" ? t : null,
      provider_message_id: outcome.providerMessageId ?? null,
      reason: outcome.reason ?? null,
      updated_at: t,
      retry_key: null,
      retry_since: null,
      ...(claim.version ? { sequence_version: claim.version.sequence, template_version: claim.version.template } : {}),
    })
    .where("id", "=", claim.sendId)
    .execute();
  // A staff retry rewound the enrollment to this step: it goes back where it was (an exit still
  // exits, and a pause made while the retried step was out is kept).
  const resume = released.resume ? (JSON.parse(released.resume) as ResumePoint) : null;
  const set =
    resume && advance.kind !== "exited"
      ? {
          next_step_id: resume.stepId,
          next_due_at: resume.dueAt,
          status: resume.status === "active" ? sql<string>`CASE WHEN status = 'paused' THEN 'paused' ELSE 'active' END` : resume.status,
          resume: null,
        }
      : advance.kind === "next"
        ? {
            next_step_id: advance.stepId,
            next_due_at: advance.dueAt.getTime(),
            ...(advance.startedAt ? { started_at: advance.startedAt.getTime() } : {}),
          }
        : advance.kind === "completed"
          ? { next_step_id: null, next_due_at: null, status: "completed" }
          : { next_step_id: null, next_due_at: null, status: "exited", reason: advance.reason, resume: null };
  // An enrollment ended meanwhile (unsubscribe) stays ended: only its cursor moved above.
  // A re-plan asked for during the claim (replan = 1) is applied by the next tick.
  await q.updateTable("enrollments").set(set).where("id", "=", claim.enrollmentId).where("status", "in", ["active", "paused"]).execute();
  return true;
}

/** Move a late step to a new due time (it becomes the step's due time) and release the claim. */
export async function defer(q: Kysely<DB>, claim: ClaimedSend, dueAt: Date): Promise<boolean> {
  if (!(await releaseOwned(q, claim, { next_due_at: dueAt.getTime() }))) return false;
  await q.updateTable("sends").set({ due_at: dueAt.getTime(), reason: "deferred to the next send window" }).where("id", "=", claim.sendId).execute();
  return true;
}

/** Try the same send again at `at` (its attempts and due time kept), releasing the claim. */
export async function retryLater(q: Kysely<DB>, claim: ClaimedSend, at: Date, reason: string): Promise<boolean> {
  if (!(await releaseOwned(q, claim, { next_due_at: at.getTime() }))) return false;
  await q.updateTable("sends").set({ reason }).where("id", "=", claim.sendId).execute();
  return true;
}

/**
 * Write a batch before its request and hand its sends' claims to it. All or nothing: if any
 * claim was lost (its lease ran out and another worker claimed the step), nothing is
 * written and the lost send ids are returned, so the caller re-composes the batch without
 * them. A send already bound to a batch is never bound to a second one.
 */
export async function createBatch(
  q: Kysely<DB>,
  batch: { id: string; payload: string; claims: readonly ClaimedSend[]; now: Date; leaseUntil: Date; keyWindowFrom?: Date },
): Promise<{ lost: string[] }> {
  const ids = batch.claims.map((c) => c.enrollmentId);
  const fences = new Map((await q.selectFrom("enrollments").select(["id", "fence"]).where("id", "in", ids).execute()).map((r) => [r.id, r.fence]));
  const lost = batch.claims.filter((c) => fences.get(c.enrollmentId) !== c.fence).map((c) => c.sendId);
  if (lost.length > 0) return { lost };
  // A retry under an earlier key: that key's done batch gives way, and its age carries over.
  if (batch.keyWindowFrom) await q.deleteFrom("batches").where("id", "=", batch.id).where("status", "=", "done").execute();
  await q
    .insertInto("batches")
    .values({
      id: batch.id,
      payload: batch.payload,
      status: "pending",
      attempts: 0,
      created_at: (batch.keyWindowFrom ?? batch.now).getTime(),
      lease_until: batch.leaseUntil.getTime(),
      reason: null,
    })
    .execute();
  // The version a batch's bytes were rendered from, recorded now (a recovered batch's claims no
  // longer carry it): with the binding when the whole batch has one (one step's sends), else after it.
  const byVersion = new Map<string, string[]>();
  for (const c of batch.claims) {
    if (!c.version) continue;
    const key = JSON.stringify([c.version.sequence, c.version.template]);
    let ids = byVersion.get(key);
    if (!ids) byVersion.set(key, (ids = []));
    ids.push(c.sendId);
  }
  const [only] = byVersion.size === 1 && [...byVersion.values()][0]!.length === batch.claims.length ? [...byVersion.keys()] : [];
  const version = only ? (JSON.parse(only) as [string, string]) : null;
  const bound = await q
    .updateTable("sends")
    .set({ batch_id: batch.id, ...(version ? { sequence_version: version[0], template_version: version[1] } : {}) })
    .where(
      "id",
      "in",
      batch.claims.map((c) => c.sendId),
    )
    .where("batch_id", "is", null)
    .where("status", "=", "claimed")
    .executeTakeFirst();
  if (Number(bound.numUpdatedRows) !== batch.claims.length) throw new Error(`batch ${batch.id}: a send is already bound to a batch or recorded`);
  if (!version)
    for (const [key, ids] of byVersion) {
      const [sequence, template] = JSON.parse(key) as [string, string];
      await q.updateTable("sends").set({ sequence_version: sequence, template_version: template }).where("id", "in", ids).execute();
    }
  await q.updateTable("enrollments").set({ lease_until: HELD_BY_BATCH, lease_owner: batch.id }).where("id", "in", ids).execute();
  return { lost: [] };
}

/**
 * createBatch for several batches (a claimed page's), set-based (SQLite; the caller holds
 * BEGIN IMMEDIATE): the same checks and rows as createBatch per batch, in four statements
 * whatever their number: one read of the claims' fences, one INSERT of every batch written, one
 * UPDATE … FROM (VALUES …) binding every send to its batch (with the version its bytes were
 * rendered from) and one handing every enrollment's claim to its batch. A batch with a lost
 * claim is not written (its lost send ids come back at its index); the others are. A send
 * already bound to a batch or recorded fails the whole call (nothing is written).
 */
export async function createBatches(q: Kysely<DB>, batches: readonly NewBatch[]): Promise<{ lost: string[] }[]> {
  const ids = [...new Set(batches.flatMap((b) => b.claims.map((c) => c.enrollmentId)))];
  const fences = new Map<number, number>();
  for (let i = 0; i < ids.length; i += BIG_CHUNK) {
    const part = ids.slice(i, i + BIG_CHUNK);
    for (const r of await run<{ id: number; fence: number }>(q, `SELECT id, fence FROM enrollments WHERE id IN (${marks(part.length)})`, part))
      fences.set(r.id, r.fence);
  }
  const results = batches.map((b) => ({ lost: b.claims.filter((c) => fences.get(c.enrollmentId) !== c.fence).map((c) => c.sendId) }));
  const written = batches.filter((_b, i) => results[i]!.lost.length === 0);
  if (written.length === 0) return results;
  // A retry under an earlier key: that key's done batch gives way, and its age carries over.
  const rekeyed = written.filter((b) => b.keyWindowFrom).map((b) => b.id);
  if (rekeyed.length > 0) await run(q, `DELETE FROM batches WHERE id IN (${marks(rekeyed.length)}) AND status = 'done'`, rekeyed);
  for (let i = 0; i < written.length; i += BIG_CHUNK) {
    const part = written.slice(i, i + BIG_CHUNK);
    await run(
      q,
      `INSERT INTO batches (id, payload, status, attempts, created_at, lease_until, reason) VALUES ${part.map(() => "(?, ?, 'pending', 0, ?, ?, NULL)").join(", ")}`,
      part.flatMap((b) => [b.id, b.payload, (b.keyWindowFrom ?? b.now).getTime(), b.leaseUntil.getTime()]),
    );
  }
  // Every send bound to its batch, with the version its bytes were rendered from (a recovered
  // batch's claims no longer carry it); a claim without one keeps what its row has.
  const members = written.flatMap((b) => b.claims.map((c) => ({ batch: b.id, claim: c })));
  let bound = 0;
  for (let i = 0; i < members.length; i += BIG_CHUNK) {
    const part = members.slice(i, i + BIG_CHUNK);
    const values: unknown[] = [];
    for (const { batch, claim } of part) values.push(claim.sendId, batch, claim.version?.sequence ?? null, claim.version?.template ?? null);
    bound += await change(
      q,
      `UPDATE sends SET batch_id = v.column2, sequence_version = coalesce(v.column3, sends.sequence_version),
        template_version = coalesce(v.column4, sends.template_version)
      FROM (VALUES ${rowMarks(part.length, 4)}) AS v
      WHERE sends.id = v.column1 AND sends.batch_id IS NULL AND sends.status = 'claimed'`,
      values,
    );
  }
  if (bound !== members.length) throw new Error(`batches ${written.map((b) => b.id).join(", ")}: a send is already bound to a batch or recorded`);
  for (let i = 0; i < members.length; i += BIG_CHUNK) {
    const part = members.slice(i, i + BIG_CHUNK);
    const values: unknown[] = [];
    for (const { batch, claim } of part) values.push(claim.enrollmentId, batch);
    await run(
      q,
      `UPDATE enrollments SET lease_until = ${HELD_BY_BATCH}, lease_owner = v.column2 FROM (VALUES ${rowMarks(part.length, 2)}) AS v WHERE enrollments.id = v.column1`,
      values,
    );
  }
  return results;
}

export async function claimStaleBatches(q: Kysely<DB>, now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]> {
  const t = now.getTime();
  // One statement picks the batches whose lease ran out and leases them again (a stale lease
  // is a crashed or failed attempt; a live one belongs to a worker still sending it).
  const rows = await q
    .updateTable("batches")
    .set({ lease_until: t + leaseMs })
    .where("id", "in", (sub) =>
      sub.selectFrom("batches").select("id").where("status", "=", "pending").where("lease_until", "<=", t).orderBy("lease_until").limit(limit),
    )
    .returning(["id", "payload", "attempts", "created_at"])
    .execute();
  if (rows.length === 0) return [];
  // Recovering a batch is a new claim on its sends: the fence grows, so the attempt that lost
  // the batch's lease (a process frozen past it, then resumed) can no longer record over this one.
  await q
    .updateTable("enrollments")
    .set({ fence: sql`fence + 1` })
    .where("lease_until", "=", HELD_BY_BATCH)
    .where(
      "lease_owner",
      "in",
      rows.map((r) => r.id),
    )
    .execute();
  return readBatches(q, rows);
}

/** Batches (rows just leased by the caller) with their still-claimed sends, in payload order. Shared with the Postgres adapter. */
export async function readBatches(
  q: Kysely<DB>,
  rows: readonly { id: string; payload: string | null; attempts: number; created_at: number }[],
): Promise<PendingBatch[]> {
  if (rows.length === 0) return [];
  const sends = await q
    .selectFrom("sends")
    .innerJoin("enrollments", "enrollments.id", "sends.enrollment_id")
    .select([
      "sends.id",
      "sends.batch_id",
      "sends.enrollment_id",
      "sends.sequence_id",
      "sends.step_id",
      "sends.due_at",
      "sends.attempts",
      "sends.subscriber_id",
      "sends.retry_key",
      "sends.retry_since",
      "enrollments.started_at",
      "enrollments.fence",
      "enrollments.pass_over",
    ])
    .where(
      "sends.batch_id",
      "in",
      rows.map((r) => r.id),
    )
    .where("sends.status", "=", "claimed")
    .execute();
  const byId = await subscribersById(
    q,
    sends.map((s) => s.subscriber_id),
  );
  return rows.map((r) => {
    const payload = r.payload ?? '{"sendIds":[],"emails":[]}';
    // Claims in payload order (the delivery matches them to the payload by send id, not by position).
    const order = new Map(payloadSendIds(payload).map((id, i) => [id, i]));
    const claims = sends
      .filter((s) => s.batch_id === r.id && byId.has(s.subscriber_id))
      .sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0))
      .map(
        (s): ClaimedSend => ({
          sendId: s.id,
          enrollmentId: s.enrollment_id,
          sequenceId: s.sequence_id,
          stepId: s.step_id,
          dueAt: new Date(s.due_at),
          startedAt: new Date(s.started_at),
          attempts: s.attempts,
          fence: s.fence,
          subscriber: byId.get(s.subscriber_id)!,
          ...(s.pass_over ? { passOver: parsePassOver(s.pass_over) } : {}),
          ...retryKeyOf(s),
        }),
      );
    return { id: r.id, payload, attempts: r.attempts, createdAt: new Date(r.created_at), claims };
  });
}

/**
 * Record a batch's sends and close it, unless every record was refused: the batch was
 * recovered by another worker (its fences grew), who records and closes it; a late owner
 * closing it would leave the recovered sends held by a batch nobody recovers again.
 *
 * Set-based (SQLite): per chunk of 200 sends, one UPDATE of enrollments that releases the
 * claims still owned (fenced) and advances them at once (recordOwned), and one UPDATE of their
 * sends; then the batch is closed. An enrollment a staff retry rewound (a resume point) is left
 * to record(), which restores it: the set-based release skips it, and only when some records
 * were not released is one more statement run to find those.
 */
export async function completeBatch(q: Kysely<DB>, batchId: string, records: readonly OutcomeRecord[]): Promise<void> {
  const released = await recordOwned(q, records);
  let recorded = records.length === 0 || released.some(Boolean);
  const left = records.filter((_r, i) => !released[i]);
  if (left.length > 0) {
    // Not released: stale (another worker's claim now) or resuming; record() refuses the stale ones.
    const resuming = new Set(
      (
        await run<{ id: number }>(
          q,
          `SELECT id FROM enrollments WHERE id IN (${marks(left.length)}) AND resume IS NOT NULL`,
          left.map((r) => r.claim.enrollmentId),
        )
      ).map((r) => r.id),
    );
    for (const r of left) if (resuming.has(r.claim.enrollmentId)) recorded = (await record(q, r)) || recorded;
  }
  if (recorded) await run(q, `UPDATE batches SET status = 'done', payload = NULL WHERE id = ?`, [batchId]);
}

/** Run SQL text with `?` parameters as it is (SQLite): the hot statements skip Kysely's query building. */
async function run<R>(q: Kysely<DB>, text: string, parameters: readonly unknown[]): Promise<R[]> {
  return (await q.executeQuery<R>(CompiledQuery.raw(text, [...parameters]))).rows;
}

/** Run SQL text with `?` parameters (SQLite): the number of rows it changed. */
async function change(q: Kysely<DB>, text: string, parameters: readonly unknown[]): Promise<number> {
  return Number((await q.executeQuery(CompiledQuery.raw(text, [...parameters]))).numAffectedRows ?? 0);
}

/** Rows per statement of createBatches (4 parameters at most each: a claimed page in one). */
const BIG_CHUNK = 1000;

/** `?, ?, …` (n marks). */
const marks = (n: number) => Array.from({ length: n }, () => "?").join(", ");
/** `(?, …), (?, …), …`: `rows` rows of `width` marks. */
const rowMarks = (rows: number, width: number) => {
  const one = `(${marks(width)})`;
  return Array.from({ length: rows }, () => one).join(", ");
};

/**
 * The set-based record of sends whose enrollment has no resume point, with the same effect as
 * record() for each (tests/store/batch-record.test.ts holds it to that): the fenced release and
 * the advance are one UPDATE … FROM (VALUES …) of enrollments (an enrollment ended meanwhile
 * keeps its end, only its cursor moves; SQLite evaluates every SET expression on the row as it
 * was), its RETURNING says which claims were still current, and only their sends are written.
 * Returns which records were written.
 */
async function recordOwned(q: Kysely<DB>, records: readonly OutcomeRecord[]): Promise<boolean[]> {
  const owned = new Set<number>();
  for (let i = 0; i < records.length; i += CHUNK) {
    const chunk = records.slice(i, i + CHUNK);
    const values: unknown[] = [];
    for (const r of chunk) {
      const a = r.advance;
      values.push(
        r.claim.enrollmentId,
        r.claim.fence,
        r.claim.stepId,
        r.outcome.at.getTime(),
        a.kind,
        a.kind === "next" ? a.stepId : null,
        a.kind === "next" ? a.dueAt.getTime() : null,
        a.kind === "next" && a.startedAt ? a.startedAt.getTime() : null,
        a.kind === "exited" ? a.reason : null,
      );
    }
    // VALUES columns: 1 id, 2 fence, 3 cursor, 4 at, 5 kind, 6 next step, 7 next due, 8 started, 9 exit reason.
    const released = await run<{ id: number }>(
      q,
      `UPDATE enrollments SET cursor = v.column3, updated_at = v.column4, lease_until = NULL, lease_owner = NULL,
        next_step_id = CASE WHEN status NOT IN ('active', 'paused') THEN next_step_id WHEN v.column5 = 'next' THEN v.column6 ELSE NULL END,
        next_due_at = CASE WHEN status NOT IN ('active', 'paused') THEN next_due_at WHEN v.column5 = 'next' THEN v.column7 ELSE NULL END,
        started_at = CASE WHEN status IN ('active', 'paused') AND v.column8 IS NOT NULL THEN v.column8 ELSE started_at END,
        status = CASE WHEN status NOT IN ('active', 'paused') OR v.column5 = 'next' THEN status ELSE v.column5 END,
        reason = CASE WHEN status IN ('active', 'paused') AND v.column5 = 'exited' THEN v.column9 ELSE reason END,
        resume = CASE WHEN status IN ('active', 'paused') AND v.column5 = 'exited' THEN NULL ELSE resume END
      FROM (VALUES ${rowMarks(chunk.length, 9)}) AS v
      WHERE enrollments.id = v.column1 AND enrollments.fence = v.column2 AND enrollments.resume IS NULL
      RETURNING enrollments.id`,
      values,
    );
    if (released.length === 0) continue;
    const mine = new Set(released.map((r) => r.id));
    const rows: unknown[] = [];
    let n = 0;
    for (const r of chunk) {
      if (!mine.has(r.claim.enrollmentId)) continue;
      owned.add(r.claim.enrollmentId);
      const t = r.outcome.at.getTime();
      rows.push(
        r.claim.sendId,
        r.outcome.status,
        r.outcome.status === "sent" ? t : null,
        r.outcome.providerMessageId ?? null,
        r.outcome.reason ?? null,
        t,
        r.claim.version?.sequence ?? null,
        r.claim.version?.template ?? null,
      );
      n++;
    }
    // One row of values per send, joined by id (UPDATE … FROM): the provider's message ids
    // differ per send. VALUES columns: id, status, sent_at, provider_message_id, reason, updated_at, versions.
    await run(
      q,
      `UPDATE sends SET status = v.column2, sent_at = v.column3, provider_message_id = v.column4, reason = v.column5,
        updated_at = v.column6, sequence_version = coalesce(v.column7, sends.sequence_version),
        template_version = coalesce(v.column8, sends.template_version), retry_key = NULL, retry_since = NULL
      FROM (VALUES ${rowMarks(n, 8)}) AS v
      WHERE sends.id = v.column1`,
      rows,
    );
  }
  return records.map((r) => owned.has(r.claim.enrollmentId));
}

function payloadSendIds(payload: string): string[] {
  return (JSON.parse(payload) as { sendIds?: string[] }).sendIds ?? [];
}

/**
 * Take a subscriber out of every pending batch's stored payload (erasure): their address and
 * rendered email leave the database now, not when the batch resolves. The payload's other
 * entries keep their bytes; `sendIds` stays index-aligned with the emails.
 */
export async function scrubPendingBatches(q: Kysely<DB>, subscriberId: string): Promise<number> {
  const bound = await q
    .selectFrom("sends")
    .select(["id", "batch_id"])
    .where("subscriber_id", "=", subscriberId)
    .where("batch_id", "is not", null)
    .where("status", "=", "claimed")
    .execute();
  const byBatch = new Map<string, Set<string>>();
  for (const b of bound) {
    const set = byBatch.get(b.batch_id!) ?? new Set();
    set.add(b.id);
    byBatch.set(b.batch_id!, set);
  }
  let scrubbed = 0;
  for (const [batchId, sendIds] of byBatch) {
    const row = await q.selectFrom("batches").select("payload").where("id", "=", batchId).where("status", "=", "pending").executeTakeFirst();
    if (!row?.payload) continue;
    const payload = JSON.parse(row.payload) as { sendIds: string[]; emails: unknown[]; literals?: string[] };
    const keep = payload.sendIds.map((id) => !sendIds.has(id));
    const next = { ...payload, sendIds: payload.sendIds.filter((_s, i) => keep[i]), emails: payload.emails.filter((_e, i) => keep[i]) };
    // Literals shared by the batch's emails (src/engine/batch-payload.ts) that only the
    // removed entries used go too (emptied, so the others' indexes still hold).
    if (next.literals) next.literals = keepReferenced(next.literals, next.emails);
    scrubbed += payload.sendIds.length - next.sendIds.length;
    await q
      .updateTable("batches")
      .set({ payload: JSON.stringify(next) })
      .where("id", "=", batchId)
      .execute();
  }
  return scrubbed;
}

/**
 * `literals` with every entry no email names (by index: in its html or text, its from, subject,
 * header values or tags; src/engine/batch-payload.ts) emptied.
 */
function keepReferenced(literals: readonly string[], emails: readonly unknown[]): string[] {
  const used = new Set<number>();
  const note = (v: unknown) => {
    if (typeof v === "number") used.add(v);
  };
  for (const e of emails as { html?: unknown; text?: unknown; from?: unknown; subject?: unknown; headers?: unknown; tags?: unknown }[]) {
    for (const t of [e.html, e.text]) if (Array.isArray(t)) for (const p of t) note(p);
    note(e.from);
    note(e.subject);
    note(e.tags);
    if (e.headers && typeof e.headers === "object") for (const v of Object.values(e.headers)) note(v);
  }
  return literals.map((l, i) => (used.has(i) ? l : ""));
}

/**
 * Move an enrollment's due time (a re-plan: time zone, resume). An unclaimed enrollment gets
 * the new time now; a claimed one is flagged and re-planned by the tick once its claim is
 * released, so a re-plan can never make a claimed step claimable a second time.
 */
export async function replan(q: Kysely<DB>, enrollmentId: number, at: Date, set: ReplanFields = {}): Promise<"planned" | "deferred"> {
  const row = await q
    .updateTable("enrollments")
    .set({
      ...(set.status !== undefined ? { status: set.status } : {}),
      ...(set.reason !== undefined ? { reason: set.reason } : {}),
      ...(set.nextStepId !== undefined ? { next_step_id: sql`CASE WHEN lease_until IS NULL THEN ${set.nextStepId} ELSE next_step_id END` } : {}),
      ...(set.startedAt !== undefined ? { started_at: sql`CASE WHEN lease_until IS NULL THEN ${set.startedAt.getTime()} ELSE started_at END` } : {}),
      next_due_at: sql`CASE WHEN lease_until IS NULL THEN ${at.getTime()} ELSE next_due_at END`,
      replan: sql`CASE WHEN lease_until IS NULL THEN 0 ELSE 1 END`,
    })
    .where("id", "=", enrollmentId)
    .returning("replan")
    .executeTakeFirst();
  return row?.replan ? "deferred" : "planned";
}

/** Enrollments whose re-plan waited for a claim that is now released (or lapsed). */
export async function claimReplans(q: Kysely<DB>, now: Date, limit: number): Promise<{ enrollment: Enrollment; subscriber: Subscriber }[]> {
  const rows = await q
    .selectFrom("enrollments")
    .selectAll()
    .where("replan", "=", 1)
    .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", now.getTime())]))
    .orderBy("id")
    .limit(limit)
    .execute();
  const byId = await subscribersById(
    q,
    rows.map((r) => r.subscriber_id),
  );
  return rows.flatMap((r) => {
    const subscriber = byId.get(r.subscriber_id);
    return subscriber ? [{ enrollment: toEnrollment(r), subscriber }] : [];
  });
}

/** Apply a deferred re-plan (null: keep the due time); a lapsed claim is fenced off. */
export async function applyReplan(q: Kysely<DB>, enrollmentId: number, at: Date | null, now: Date): Promise<void> {
  await q
    .updateTable("enrollments")
    .set({
      ...(at ? { next_due_at: at.getTime() } : {}),
      replan: 0,
      fence: sql`fence + (lease_until IS NOT NULL)`,
      lease_until: null,
      lease_owner: null,
    })
    .where("id", "=", enrollmentId)
    .where("replan", "=", 1)
    .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", now.getTime())]))
    .execute();
}
