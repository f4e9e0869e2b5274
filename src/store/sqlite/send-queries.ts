/**
 * Scheduling queries: claiming due steps under a lease, recording outcomes, provider
 * batches and deferred re-plans. Each runs inside the caller's BEGIN IMMEDIATE transaction (`q`).
 *
 * The claim (lease_until, lease_owner, fence) is kept apart from the schedule (next_due_at),
 * as graphile-worker keeps locked_at apart from run_at: whoever moves a due time cannot
 * release a claim, and every write by a claim's owner is fenced by the token it claimed with.
 */
import { type Kysely, sql } from "kysely";
import type { DB } from "../schema.ts";
import { HELD_BY_BATCH, parsePassOver, sendId, toEnrollment } from "../shared.ts";
import type { ClaimedSend, Enrollment, OutcomeRecord, PendingBatch, ReplanFields, Subscriber } from "../types.ts";
import { subscribersById } from "./hydrate.ts";

interface ClaimRow {
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
  const claims: ClaimedSend[] = [];
  for (const d of rows) {
    const subscriber = byId.get(d.subscriber_id);
    if (!subscriber || d.next_step_id === null || d.next_due_at === null) continue;
    const id = sendId(d.id, d.round, d.next_step_id);
    // The send row is born on first claim; a re-claim after a crash finds it and counts an attempt.
    const send = await q
      .insertInto("sends")
      .values({
        id,
        enrollment_id: d.id,
        subscriber_id: d.subscriber_id,
        sequence_id: d.sequence_id,
        step_id: d.next_step_id,
        status: "claimed",
        attempts: 1,
        due_at: d.next_due_at,
        claimed_at: t,
        sent_at: null,
        provider_message_id: null,
        reason: null,
        updated_at: t,
      })
      .onConflict((oc) =>
        oc.column("id").doUpdateSet({ attempts: sql`attempts + 1`, claimed_at: sql`excluded.claimed_at`, updated_at: sql`excluded.updated_at` }),
      )
      .returning(["attempts", "due_at", "status", "batch_id"])
      .executeTakeFirstOrThrow();
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
      stepId: d.next_step_id,
      dueAt: new Date(send.due_at),
      startedAt: new Date(d.started_at),
      attempts: send.attempts,
      fence: d.fence,
      subscriber,
      ...(d.pass_over ? { passOver: parsePassOver(d.pass_over) } : {}),
    });
  }
  return claims;
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

/** Release a claim the caller still owns (fenced); false when another claim took over. */
async function releaseOwned(q: Kysely<DB>, claim: ClaimedSend, set: { cursor?: string; next_due_at?: number; updated_at?: number }): Promise<boolean> {
  const res = await q
    .updateTable("enrollments")
    .set({ ...set, lease_until: null, lease_owner: null })
    .where("id", "=", claim.enrollmentId)
    .where("fence", "=", claim.fence)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * Record a send's outcome and advance its enrollment. Refused (false, nothing written) when
 * the claim is stale: its lease ran out and another worker claimed the step since.
 */
export async function record(q: Kysely<DB>, { claim, outcome, advance }: OutcomeRecord): Promise<boolean> {
  const t = outcome.at.getTime();
  if (!(await releaseOwned(q, claim, { cursor: claim.stepId, updated_at: t }))) return false;
  await q
    .updateTable("sends")
    .set({
      status: outcome.status,
      sent_at: outcome.status === "sent" ? t : null,
      provider_message_id: outcome.providerMessageId ?? null,
      reason: outcome.reason ?? null,
      updated_at: t,
      ...(claim.version ? { sequence_version: claim.version.sequence, template_version: claim.version.template } : {}),
    })
    .where("id", "=", claim.sendId)
    .execute();
  const set =
    advance.kind === "next"
      ? {
          next_step_id: advance.stepId,
          next_due_at: advance.dueAt.getTime(),
          ...(advance.startedAt ? { started_at: advance.startedAt.getTime() } : {}),
        }
      : advance.kind === "completed"
        ? { next_step_id: null, next_due_at: null, status: "completed" }
        : { next_step_id: null, next_due_at: null, status: "exited", reason: advance.reason };
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
  batch: { id: string; payload: string; claims: readonly ClaimedSend[]; now: Date; leaseUntil: Date },
): Promise<{ lost: string[] }> {
  const ids = batch.claims.map((c) => c.enrollmentId);
  const fences = new Map((await q.selectFrom("enrollments").select(["id", "fence"]).where("id", "in", ids).execute()).map((r) => [r.id, r.fence]));
  const lost = batch.claims.filter((c) => fences.get(c.enrollmentId) !== c.fence).map((c) => c.sendId);
  if (lost.length > 0) return { lost };
  await q
    .insertInto("batches")
    .values({
      id: batch.id,
      payload: batch.payload,
      status: "pending",
      attempts: 0,
      created_at: batch.now.getTime(),
      lease_until: batch.leaseUntil.getTime(),
      reason: null,
    })
    .execute();
  const bound = await q
    .updateTable("sends")
    .set({ batch_id: batch.id })
    .where(
      "id",
      "in",
      batch.claims.map((c) => c.sendId),
    )
    .where("batch_id", "is", null)
    .where("status", "=", "claimed")
    .executeTakeFirst();
  if (Number(bound.numUpdatedRows) !== batch.claims.length) throw new Error(`batch ${batch.id}: a send is already bound to a batch or recorded`);
  // The version a batch's bytes were rendered from, recorded now (a recovered batch's claims no longer carry it).
  const byVersion = new Map<string, string[]>();
  for (const c of batch.claims) {
    if (!c.version) continue;
    const key = JSON.stringify([c.version.sequence, c.version.template]);
    byVersion.set(key, [...(byVersion.get(key) ?? []), c.sendId]);
  }
  for (const [key, ids] of byVersion) {
    const [sequence, template] = JSON.parse(key) as [string, string];
    await q.updateTable("sends").set({ sequence_version: sequence, template_version: template }).where("id", "in", ids).execute();
  }
  await q.updateTable("enrollments").set({ lease_until: HELD_BY_BATCH, lease_owner: batch.id }).where("id", "in", ids).execute();
  return { lost: [] };
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
        }),
      );
    return { id: r.id, payload, attempts: r.attempts, createdAt: new Date(r.created_at), claims };
  });
}

/**
 * Record a batch's sends and close it, unless every record was refused: the batch was
 * recovered by another worker (its fences grew), who records and closes it; a late owner
 * closing it would leave the recovered sends held by a batch nobody recovers again.
 */
export async function completeBatch(q: Kysely<DB>, batchId: string, records: readonly OutcomeRecord[]): Promise<void> {
  let recorded = records.length === 0;
  for (const r of records) recorded = (await record(q, r)) || recorded;
  if (recorded) await q.updateTable("batches").set({ status: "done", payload: null }).where("id", "=", batchId).execute();
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
    const payload = JSON.parse(row.payload) as { sendIds: string[]; emails: unknown[] };
    const keep = payload.sendIds.map((id) => !sendIds.has(id));
    const next = { ...payload, sendIds: payload.sendIds.filter((_s, i) => keep[i]), emails: payload.emails.filter((_e, i) => keep[i]) };
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
