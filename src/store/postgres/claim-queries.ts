/**
 * The PostgreSQL versions of the queries whose SQL differs from SQLite's: every claim takes
 * its rows with `FOR UPDATE SKIP LOCKED` inside one `UPDATE … RETURNING` (two workers never
 * wait on, or take, the same row), read-then-write operations lock the rows they read first,
 * and the few expressions SQLite spells its own way (scalar max, boolean arithmetic).
 * Everything else is the portable Kysely in src/store/sqlite/*-queries.ts, run here as is.
 *
 * LOCK ORDER. Every transaction that waits for row locks takes them in one order, so two
 * workers (or a worker and its own heartbeat) never wait on each other in a cycle (40P01):
 *   1. the subscriber's row (door operations, enroll, the confirmation cap);
 *   2. batches rows (completeBatch, recovery, forgetting), by id;
 *   3. enrollments rows, by id (`ORDER BY id FOR UPDATE` before any UPDATE of several rows);
 *   4. sends rows (only ever written after their enrollment is held).
 * Claims never wait: they take rows with SKIP LOCKED. The heartbeat waits, in id order (a skipped row would not be renewed).
 */
import { type Kysely, sql } from "kysely";
import { type ClaimRow, laneShares } from "../sqlite/send-queries.ts";
import type { DB } from "../schema.ts";
import { HELD_BY_BATCH, parsePassOver, sendId, zeroCounts } from "../shared.ts";
import type {
  ClaimedSend,
  EnrollInput,
  EnrollResult,
  KeyAnswer,
  OutcomeRecord,
  PendingBatch,
  PendingConfirmation,
  RequeueResult,
  StatusCounts,
} from "../types.ts";
import * as sqliteConfirmations from "../sqlite/confirmation-queries.ts";
import * as sqliteEnrollments from "../sqlite/enrollment-queries.ts";
import { subscribersById } from "../sqlite/hydrate.ts";
import * as sqliteSends from "../sqlite/send-queries.ts";
import * as sqliteRetries from "../sqlite/retry-queries.ts";

/**
 * One statement takes the claims: unclaimed due enrollments (partial index enrollments_due)
 * and lapsed leases (enrollments_leased), each picked `FOR UPDATE SKIP LOCKED`, leased to
 * `owner` with the fence grown by one. Then one statement creates (or re-counts) their send rows.
 */
export async function claimDue(q: Kysely<DB>, now: Date, limit: number, leaseMs: number, owner: string): Promise<ClaimedSend[]> {
  const t = now.getTime();
  // Courses (lane 0) and newsletter deliveries (lane 1) share each page fairly (laneShares).
  const { course, newsletter } = await laneShares(q, t, limit);
  const { rows } = await sql<ClaimRow>`
    WITH due AS (
      SELECT id FROM enrollments
      WHERE lane = 0 AND status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t}
      ORDER BY next_due_at LIMIT ${course}
      FOR UPDATE SKIP LOCKED
    ), news AS (
      SELECT id FROM enrollments
      WHERE lane = 1 AND status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t}
      ORDER BY next_due_at LIMIT ${newsletter}
      FOR UPDATE SKIP LOCKED
    ), lapsed AS (
      SELECT id FROM enrollments
      WHERE lease_until IS NOT NULL AND lease_until <= ${t} AND status = 'active' AND replan = 0 AND next_due_at <= ${t}
      ORDER BY lease_until LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE enrollments SET lease_until = ${t + leaseMs}, lease_owner = ${owner}, fence = fence + 1
    WHERE id IN (SELECT id FROM due UNION ALL SELECT id FROM news UNION ALL SELECT id FROM lapsed)
    RETURNING id, subscriber_id, sequence_id, round, next_step_id, next_due_at, started_at, fence, pass_over`.execute(q);
  if (rows.length === 0) return [];
  rows.sort((a, b) => (a.next_due_at ?? 0) - (b.next_due_at ?? 0) || a.id - b.id);
  const byId = await subscribersById(
    q,
    rows.map((d) => d.subscriber_id),
  );
  const ready = rows.filter((d) => byId.has(d.subscriber_id) && d.next_step_id !== null && d.next_due_at !== null);
  if (ready.length === 0) return [];
  const sendById = await sqliteSends.insertClaimedSends(q, ready, t);
  // An in-doubt batch queued again goes out whole under its first key: its sends are one unit
  // (sqliteSends.wholeRetryGroups). The rest of a key's sends are locked without waiting, in id
  // order: one held by another transaction makes the key wait for a later claim, whole.
  const page = await sqliteSends.wholeRetryGroups(q, t, leaseMs, owner, ready, sendById, async (ids) => {
    if (ids.length === 0) return new Set();
    const { rows: locked } = await sql<{ id: number }>`
      SELECT id FROM enrollments
      WHERE id IN (${sql.join(ids)}) AND status = 'active' AND replan = 0 AND next_due_at <= ${t} AND (lease_until IS NULL OR lease_until <= ${t})
      ORDER BY id FOR UPDATE SKIP LOCKED`.execute(q);
    return new Set(locked.map((r) => Number(r.id)));
  });
  if (page.added.length > 0)
    for (const [id, sub] of await subscribersById(
      q,
      page.added.map((d) => d.subscriber_id),
    ))
      byId.set(id, sub);
  const claims: ClaimedSend[] = [];
  for (const d of page.rows) {
    if (!byId.has(d.subscriber_id)) continue;
    const id = sendId(d.id, d.round, d.next_step_id!);
    const send = sendById.get(id)!;
    if (send.batch_id) {
      // Bound to a batch already written: only batch recovery may send it (same key, same bytes).
      await q.updateTable("enrollments").set({ lease_until: HELD_BY_BATCH, lease_owner: send.batch_id }).where("id", "=", d.id).execute();
      continue;
    }
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
      subscriber: byId.get(d.subscriber_id)!,
      ...(d.pass_over ? { passOver: parsePassOver(d.pass_over) } : {}),
      ...sqliteSends.retryKeyOf(send),
    });
  }
  return claims;
}

/**
 * Is anything claimable now? One autocommit statement over the partial indexes (enrollments_due,
 * enrollments_leased, batches_pending, confirmations_pending): the idle tick asks this instead of
 * opening three claim transactions that find nothing (each BEGIN … COMMIT is round trips).
 */
export async function claimable(q: Kysely<DB>, now: Date, what: "due" | "batches" | "confirmations"): Promise<boolean> {
  const t = now.getTime();
  const probe =
    what === "due"
      ? sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM enrollments WHERE status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t})
          OR EXISTS (SELECT 1 FROM enrollments WHERE lease_until IS NOT NULL AND lease_until <= ${t} AND status = 'active' AND replan = 0 AND next_due_at <= ${t}) AS any`
      : what === "batches"
        ? sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM batches WHERE status = 'pending' AND lease_until <= ${t}) AS any`
        : sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM confirmations WHERE status = 'pending' AND lease_until <= ${t}) AS any`;
  return (await probe.execute(q)).rows[0]?.any === true;
}

/**
 * Is there nothing for a tick at `now`? One autocommit statement, each EXISTS on its partial
 * index: due steps by lane and lapsed leases (enrollments_due, enrollments_leased), stale
 * batches (batches_pending), queued confirmations (confirmations_pending), waiting re-plans
 * (enrollments_replan) and completions (enrollments_completion), and any recorded delivery
 * pause (the meta key; the tick lifts or honours it). Every condition is at least as wide as
 * the claim it stands for, so "idle" never hides work.
 */
export async function idle(q: Kysely<DB>, now: Date, pauseKey: string): Promise<boolean> {
  const t = now.getTime();
  const { rows } = await sql<{ busy: boolean }>`SELECT
    EXISTS (SELECT 1 FROM enrollments WHERE lane = 0 AND status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t})
    OR EXISTS (SELECT 1 FROM enrollments WHERE lane = 1 AND status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ${t})
    OR EXISTS (SELECT 1 FROM enrollments WHERE lease_until IS NOT NULL AND lease_until <= ${t} AND status = 'active' AND replan = 0 AND next_due_at <= ${t})
    OR EXISTS (SELECT 1 FROM batches WHERE status = 'pending' AND lease_until <= ${t})
    OR EXISTS (SELECT 1 FROM confirmations WHERE status = 'pending' AND lease_until <= ${t})
    OR EXISTS (SELECT 1 FROM enrollments WHERE replan = 1)
    OR EXISTS (SELECT 1 FROM enrollments WHERE status = 'completed' AND fired_round < round)
    OR EXISTS (SELECT 1 FROM meta WHERE key = ${pauseKey}) AS busy`.execute(q);
  return rows[0]?.busy === false;
}

/** Pending batches whose lease ran out, re-leased to this caller (SKIP LOCKED: never one two workers both take). */
export async function claimStaleBatches(q: Kysely<DB>, now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]> {
  const t = now.getTime();
  const { rows } = await sql<{ id: string; payload: string | null; attempts: number; created_at: number }>`
    UPDATE batches SET lease_until = ${t + leaseMs}
    WHERE id IN (
      SELECT id FROM batches WHERE status = 'pending' AND lease_until <= ${t}
      ORDER BY lease_until LIMIT ${limit} FOR UPDATE SKIP LOCKED
    )
    RETURNING id, payload, attempts, created_at`.execute(q);
  if (rows.length === 0) return [];
  rows.sort((a, b) => a.id.localeCompare(b.id));
  // Recovering a batch is a new claim on its sends: the fence grows, so the attempt that lost
  // the batch's lease (a worker frozen past it) can no longer record over this one.
  // Locked in id order first (the one order every path takes enrollments in; see LOCK ORDER above).
  await sql`UPDATE enrollments SET fence = fence + 1 WHERE id IN (
    SELECT id FROM enrollments WHERE lease_until = ${HELD_BY_BATCH} AND lease_owner IN (${sql.join(rows.map((r) => r.id))}) ORDER BY id FOR UPDATE)`.execute(q);
  // The rows are ours now (leased past `now`): the portable reader hydrates exactly these.
  return sqliteSends.readBatches(q, rows);
}

export async function claimConfirmations(q: Kysely<DB>, now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]> {
  const t = now.getTime();
  const { rows } = await sql<{ id: number; subscriber_id: string; created_at: number }>`
    UPDATE confirmations SET lease_until = ${t + leaseMs}
    WHERE id IN (
      SELECT id FROM confirmations WHERE status = 'pending' AND lease_until <= ${t}
      ORDER BY lease_until LIMIT ${limit} FOR UPDATE SKIP LOCKED
    )
    RETURNING id, subscriber_id, created_at`.execute(q);
  rows.sort((a, b) => a.id - b.id);
  const byId = await subscribersById(
    q,
    rows.map((r) => r.subscriber_id),
  );
  return rows.flatMap((r) => {
    const subscriber = byId.get(r.subscriber_id);
    return subscriber ? [{ id: r.id, subscriber, createdAt: new Date(r.created_at) }] : [];
  });
}

/** Lock the subscriber's row: what follows reads then writes on their behalf (enroll, the confirmation cap). */
export async function lockSubscriber(q: Kysely<DB>, subscriberId: string): Promise<void> {
  await sql`SELECT 1 FROM subscribers WHERE id = ${subscriberId} FOR UPDATE`.execute(q);
}

export async function enroll(q: Kysely<DB>, input: EnrollInput): Promise<EnrollResult> {
  await lockSubscriber(q, input.subscriberId);
  return sqliteEnrollments.enroll(q, input);
}

export async function queueConfirmation(q: Kysely<DB>, subscriberId: string, now: Date, since: Date, max: number): Promise<boolean> {
  await lockSubscriber(q, subscriberId);
  return sqliteConfirmations.queueConfirmation(q, subscriberId, now, since, max);
}

/** Lock enrollments in id order (FOR UPDATE) before a statement that writes several of them. */
export async function lockEnrollments(q: Kysely<DB>, ids: readonly number[]): Promise<void> {
  if (ids.length > 0) await sql`SELECT 1 FROM enrollments WHERE id IN (${sql.join([...new Set(ids)])}) ORDER BY id FOR UPDATE`.execute(q);
}

/** Lock a subscriber's enrollments in id order (a door operation writing several of them). */
export async function lockEnrollmentsOf(q: Kysely<DB>, subscriberId: string): Promise<void> {
  await sql`SELECT 1 FROM enrollments WHERE subscriber_id = ${subscriberId} ORDER BY id FOR UPDATE`.execute(q);
}

/** Lock the claims' enrollments (their fences are read, then the claims handed to the batch). */
export async function createBatch(
  q: Kysely<DB>,
  batch: { id: string; payload: string; claims: readonly ClaimedSend[]; now: Date; leaseUntil: Date; keyWindowFrom?: Date },
): Promise<{ lost: string[] }> {
  await lockEnrollments(
    q,
    batch.claims.map((c) => c.enrollmentId),
  );
  return sqliteSends.createBatch(q, batch);
}

/** Apply a deferred re-plan (null: keep the due time); a lapsed claim is fenced off. */
export async function applyReplan(q: Kysely<DB>, enrollmentId: number, at: Date | null, now: Date): Promise<void> {
  await q
    .updateTable("enrollments")
    .set({
      ...(at ? { next_due_at: at.getTime() } : {}),
      replan: 0,
      fence: sql`fence + CASE WHEN lease_until IS NULL THEN 0 ELSE 1 END`,
      lease_until: null,
      lease_owner: null,
    })
    .where("id", "=", enrollmentId)
    .where("replan", "=", 1)
    .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", now.getTime())]))
    .execute();
}

export async function status(q: Kysely<DB>): Promise<StatusCounts> {
  const count = async (table: "subscribers" | "enrollments" | "sends") =>
    q
      .selectFrom(table)
      .select(["status", sql<number>`count(*)`.as("n")])
      .groupBy("status")
      .execute();
  const fill = <K extends string>(keys: readonly K[], rows: { status: string; n: number }[]) => {
    const out = zeroCounts(keys);
    for (const r of rows) if (r.status in out) out[r.status as K] = Number(r.n);
    return out;
  };
  // The first entry of enrollments_next_due, and the few leased rows (see the SQLite status()).
  const free = await q
    .selectFrom("enrollments")
    .select(sql<number | null>`min(next_due_at)`.as("at"))
    .where("status", "=", "active")
    .where("lease_until", "is", null)
    .executeTakeFirst();
  const leased = await q
    .selectFrom("enrollments")
    .select(sql<number | null>`min(greatest(lease_until, next_due_at))`.as("at"))
    .where("status", "=", "active")
    .where("lease_until", "is not", null)
    .where("lease_until", "<", HELD_BY_BATCH)
    .executeTakeFirst();
  const times = [free?.at, leased?.at].filter((t) => t != null).map(Number);
  const next = { at: times.length ? Math.min(...times) : null };
  return {
    subscribers: fill(["pending", "active", "unsubscribed", "suppressed"] as const, await count("subscribers")),
    enrollments: fill(["active", "completed", "exited", "paused"] as const, await count("enrollments")),
    sends: fill(["claimed", "sent", "skipped", "failed", "in_doubt"] as const, await count("sends")),
    nextDueAt: next?.at != null ? new Date(Number(next.at)) : null,
  };
}

/**
 * Record a batch's sends and close it, unless every record was refused (the batch was recovered
 * by another worker, who closes it). Set-based: two locking reads and one statement
 * (recordMany) whatever the batch's size; only enrollments a staff retry rewound (a resume
 * point) are recorded one by one by record(), which restores it.
 */
export async function completeBatch(q: Kysely<DB>, batchId: string, records: readonly OutcomeRecord[]): Promise<void> {
  // The batch row first, then its enrollments in id order (LOCK ORDER above): recovery by another
  // worker takes the same rows in the same order, so one waits for the other. The enrollments'
  // lock reads which of them carry a resume point in the same statement.
  await sql`SELECT 1 FROM batches WHERE id = ${batchId} FOR UPDATE`.execute(q);
  const ids = [...new Set(records.map((r) => r.claim.enrollmentId))];
  const resuming = new Set<number>();
  if (ids.length > 0) {
    const { rows } = await sql<{ id: number; resuming: boolean }>`
      SELECT id, resume IS NOT NULL AS resuming FROM enrollments WHERE id = ANY(${ids}::bigint[]) ORDER BY id FOR UPDATE`.execute(q);
    for (const r of rows) if (r.resuming) resuming.add(r.id);
  }
  let recorded = records.length === 0;
  for (const r of records) if (resuming.has(r.claim.enrollmentId)) recorded = (await sqliteSends.record(q, r)) || recorded;
  await recordMany(
    q,
    records.filter((r) => !resuming.has(r.claim.enrollmentId)),
    { batchId, recorded },
  );
}

/**
 * `record` (../sqlite/send-queries.ts) for many sends in one statement, with the same effect as
 * recording each in turn (tests/store/batch-record.test.ts holds it to that): the records travel
 * as arrays (unnest), the fenced release and the advance are one UPDATE of enrollments (an
 * enrollment ended meanwhile keeps its end, only its cursor moves), its RETURNING says which
 * claims were still current, and only their sends are written. With `close`, the batch is closed
 * in the same statement when anything was recorded (or `close.recorded` says something was).
 * The caller holds the enrollments' row locks (taken in id order). Returns which were recorded.
 */
export async function recordMany(q: Kysely<DB>, records: readonly OutcomeRecord[], close?: { batchId: string; recorded: boolean }): Promise<boolean[]> {
  if (records.length === 0 && !close) return [];
  const col = <V>(f: (r: OutcomeRecord) => V): V[] => records.map(f);
  const next = (r: OutcomeRecord) => (r.advance.kind === "next" ? r.advance : null);
  const closing = close
    ? sql`, closed AS (
        UPDATE batches SET status = 'done', payload = NULL
        WHERE id = ${close.batchId} AND (${close.recorded}::boolean OR EXISTS (SELECT 1 FROM released)))`
    : sql``;
  const { rows } = await sql<{ id: number }>`
    WITH v AS (
      SELECT * FROM unnest(
        ${col((r) => r.claim.enrollmentId)}::bigint[], ${col((r) => r.claim.fence)}::bigint[], ${col((r) => r.claim.stepId)}::text[],
        ${col((r) => r.outcome.at.getTime())}::bigint[], ${col((r) => r.claim.sendId)}::text[], ${col((r) => r.outcome.status)}::text[],
        ${col((r) => r.outcome.providerMessageId ?? null)}::text[], ${col((r) => r.outcome.reason ?? null)}::text[],
        ${col((r) => r.claim.version?.sequence ?? null)}::text[], ${col((r) => r.claim.version?.template ?? null)}::text[],
        ${col((r) => r.advance.kind)}::text[], ${col((r) => next(r)?.stepId ?? null)}::text[], ${col((r) => next(r)?.dueAt.getTime() ?? null)}::bigint[],
        ${col((r) => next(r)?.startedAt?.getTime() ?? null)}::bigint[], ${col((r) => (r.advance.kind === "exited" ? r.advance.reason : null))}::text[]
      ) AS v(eid, fence, step, at, send_id, status, message_id, reason, seq_version, tpl_version, kind, next_step, next_due, started, exit_reason)
    ), released AS (
      UPDATE enrollments e SET
        cursor = v.step, updated_at = v.at, lease_until = NULL, lease_owner = NULL,
        next_step_id = CASE WHEN e.status NOT IN ('active', 'paused') THEN e.next_step_id WHEN v.kind = 'next' THEN v.next_step ELSE NULL END,
        next_due_at = CASE WHEN e.status NOT IN ('active', 'paused') THEN e.next_due_at WHEN v.kind = 'next' THEN v.next_due ELSE NULL END,
        started_at = CASE WHEN e.status IN ('active', 'paused') AND v.started IS NOT NULL THEN v.started ELSE e.started_at END,
        status = CASE WHEN e.status NOT IN ('active', 'paused') OR v.kind = 'next' THEN e.status ELSE v.kind END,
        reason = CASE WHEN e.status IN ('active', 'paused') AND v.kind = 'exited' THEN v.exit_reason ELSE e.reason END,
        resume = CASE WHEN e.status IN ('active', 'paused') AND v.kind = 'exited' THEN NULL ELSE e.resume END
      FROM v WHERE e.id = v.eid AND e.fence = v.fence
      RETURNING e.id
    ), written AS (
      UPDATE sends s SET
        status = v.status, sent_at = CASE WHEN v.status = 'sent' THEN v.at END, provider_message_id = v.message_id,
        reason = v.reason, updated_at = v.at, retry_key = NULL, retry_since = NULL,
        sequence_version = CASE WHEN v.seq_version IS NULL THEN s.sequence_version ELSE v.seq_version END,
        template_version = CASE WHEN v.seq_version IS NULL THEN s.template_version ELSE v.tpl_version END
      FROM v WHERE s.id = v.send_id AND v.eid IN (SELECT id FROM released)
    )${closing}
    SELECT id FROM released`.execute(q);
  const owned = new Set(rows.map((r) => Number(r.id)));
  return records.map((r) => owned.has(r.claim.enrollmentId));
}

/**
 * Lock what the portable requeue reads and then writes, in the LOCK ORDER above: the
 * subscribers of the send and (in doubt) of its batch's other in-doubt sends, which go with it,
 * by id (as Store.lockSubscriber, all at once: two staff retries of one batch, or a retry and
 * an unsubscribe, wait for each other instead of one reading what the other is changing);
 * then their batch; then their enrollments, by id.
 */
export async function requeueSend(q: Kysely<DB>, sendId: string, now: Date): Promise<RequeueResult> {
  const { rows: group } = await sql<{ subscriber_id: string; enrollment_id: number; batch_id: string | null }>`
    SELECT subscriber_id, enrollment_id, batch_id FROM sends
    WHERE id = ${sendId} OR (status = 'in_doubt' AND batch_id = (SELECT batch_id FROM sends WHERE id = ${sendId} AND status = 'in_doubt'))`.execute(q);
  if (group.length === 0) return sqliteRetries.requeueSend(q, sendId, now);
  await sql`SELECT 1 FROM subscribers WHERE id IN (${sql.join([...new Set(group.map((g) => g.subscriber_id))])}) ORDER BY id FOR UPDATE`.execute(q);
  const batches = [...new Set(group.flatMap((g) => (g.batch_id ? [g.batch_id] : [])))];
  if (batches.length > 0) await sql`SELECT 1 FROM batches WHERE id IN (${sql.join(batches)}) ORDER BY id FOR UPDATE`.execute(q);
  await lockEnrollments(
    q,
    group.map((g) => g.enrollment_id),
  );
  return sqliteRetries.requeueSend(q, sendId, now);
}

/**
 * The portable settleLeftBehind (../sqlite/retry-queries.ts), in a completing batch's
 * transaction: the left-behind sends' enrollments are locked first, by id (the batch and its
 * own enrollments are locked already), so a claim or a door operation on one waits for it.
 */
export async function settleLeftBehind(q: Kysely<DB>, key: string, answer: KeyAnswer, now: Date): Promise<number> {
  if (answer === "untouched") return 0;
  const { rows } = await sql<{ enrollment_id: number }>`
    SELECT enrollment_id FROM sends WHERE retry_key = ${key} AND status = 'claimed' AND batch_id IS NULL`.execute(q);
  if (rows.length === 0) return 0;
  await lockEnrollments(
    q,
    rows.map((r) => Number(r.enrollment_id)),
  );
  return sqliteRetries.settleLeftBehind(q, key, answer, now);
}
