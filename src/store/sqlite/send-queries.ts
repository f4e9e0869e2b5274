/**
 * Scheduling queries: claiming due steps under a lease, recording outcomes, and provider
 * batches. Each runs inside the caller's BEGIN IMMEDIATE transaction (`q`).
 */
import type { Kysely } from "kysely";
import type { DB } from "../schema.ts";
import { sendId } from "../shared.ts";
import type { ClaimedSend, OutcomeRecord, PendingBatch } from "../types.ts";
import { subscribersById } from "./hydrate.ts";

export async function claimDue(q: Kysely<DB>, now: Date, limit: number, leaseMs: number): Promise<ClaimedSend[]> {
  const t = now.getTime();
  // Uses the partial index enrollments_due: cost grows with what is due, not with subscribers.
  const due = await q
    .selectFrom("enrollments")
    .select(["id", "subscriber_id", "sequence_id", "round", "next_step_id", "next_due_at", "started_at"])
    .where("status", "=", "active")
    .where("next_due_at", "<=", t)
    .orderBy("next_due_at")
    .limit(limit)
    .execute();
  if (due.length === 0) return [];
  // The lease: push next_due_at past the lease, so a crashed worker's claim comes due again.
  await q
    .updateTable("enrollments")
    .set({ next_due_at: t + leaseMs })
    .where(
      "id",
      "in",
      due.map((d) => d.id),
    )
    .execute();
  const claims: ClaimedSend[] = [];
  const byId = await subscribersById(
    q,
    due.map((d) => d.subscriber_id),
  );
  for (const d of due) {
    const subscriber = byId.get(d.subscriber_id);
    if (!subscriber || d.next_step_id === null || d.next_due_at === null) continue;
    const id = sendId(d.id, d.round, d.next_step_id);
    // The send row is born on first claim; a re-claim after a crash finds it and counts an attempt.
    const existing = await q
      .selectFrom("sends")
      .select(["attempts", "due_at", "status", "batch_id"])
      .where("id", "=", id)
      .executeTakeFirst();
    // Bound to a batch already written: only batch recovery may re-send it (same key, same bytes).
    if (existing?.batch_id) continue;
    if (existing && existing.status !== "claimed") {
      // Already recorded but the enrollment did not advance: cannot happen (same transaction),
      // but never send twice if it ever does. Leave it for staff to see.
      continue;
    }
    if (!existing) {
      await q
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
        .execute();
    } else {
      await q
        .updateTable("sends")
        .set({ attempts: existing.attempts + 1, claimed_at: t, updated_at: t })
        .where("id", "=", id)
        .execute();
    }
    claims.push({
      sendId: id,
      enrollmentId: d.id,
      sequenceId: d.sequence_id,
      stepId: d.next_step_id,
      dueAt: new Date(existing?.due_at ?? d.next_due_at),
      startedAt: new Date(d.started_at),
      attempts: (existing?.attempts ?? 0) + 1,
      subscriber,
    });
  }
  return claims;
}

export async function record(q: Kysely<DB>, { claim, outcome, advance }: OutcomeRecord): Promise<void> {
  const t = outcome.at.getTime();
  await q
    .updateTable("sends")
    .set({
      status: outcome.status,
      sent_at: outcome.status === "sent" ? t : null,
      provider_message_id: outcome.providerMessageId ?? null,
      reason: outcome.reason ?? null,
      updated_at: t,
    })
    .where("id", "=", claim.sendId)
    .execute();
  const set =
    advance.kind === "next"
      ? {
          cursor: claim.stepId,
          next_step_id: advance.stepId,
          next_due_at: advance.dueAt.getTime(),
          updated_at: t,
          ...(advance.startedAt ? { started_at: advance.startedAt.getTime() } : {}),
        }
      : advance.kind === "completed"
        ? { cursor: claim.stepId, next_step_id: null, next_due_at: null, status: "completed", updated_at: t }
        : { cursor: claim.stepId, next_step_id: null, next_due_at: null, status: "exited", reason: advance.reason, updated_at: t };
  // An enrollment ended meanwhile (unsubscribe) stays ended: only its cursor moves.
  await q.updateTable("enrollments").set(set).where("id", "=", claim.enrollmentId).where("status", "in", ["active", "paused"]).execute();
  await q.updateTable("enrollments").set({ cursor: claim.stepId }).where("id", "=", claim.enrollmentId).execute();
}

export async function createBatch(
  q: Kysely<DB>,
  batch: { id: string; payload: string; claims: readonly ClaimedSend[]; leaseUntil: Date; now: Date },
): Promise<void> {
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
  await q
    .updateTable("sends")
    .set({ batch_id: batch.id })
    .where(
      "id",
      "in",
      batch.claims.map((c) => c.sendId),
    )
    .execute();
}

export async function claimStaleBatches(q: Kysely<DB>, now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]> {
  const t = now.getTime();
  // One statement picks the batches whose lease ran out and leases them again (a stale lease
  // is a crashed or failed attempt; a live one belongs to a worker still sending it).
  const rows = await q
    .updateTable("batches")
    .set({ lease_until: t + leaseMs })
    .where("id", "in", (sub) =>
      sub
        .selectFrom("batches")
        .select("id")
        .where("status", "=", "pending")
        .where("lease_until", "<=", t)
        .orderBy("lease_until")
        .limit(limit),
    )
    .returning(["id", "payload", "attempts", "created_at"])
    .execute();
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
    ])
    .where(
      "sends.batch_id",
      "in",
      rows.map((r) => r.id),
    )
    .execute();
  const byId = await subscribersById(
    q,
    sends.map((s) => s.subscriber_id),
  );
  return rows.map((r) => {
    const payload = r.payload ?? '{"sendIds":[],"emails":[]}';
    // Keep the payload's order: the provider answers per index.
    const order = new Map((JSON.parse(payload) as { sendIds: string[] }).sendIds.map((id, i) => [id, i]));
    const claims = sends
      .filter((s) => s.batch_id === r.id)
      .sort((a, b) => order.get(a.id)! - order.get(b.id)!)
      .map((s): ClaimedSend => ({
        sendId: s.id,
        enrollmentId: s.enrollment_id,
        sequenceId: s.sequence_id,
        stepId: s.step_id,
        dueAt: new Date(s.due_at),
        startedAt: new Date(s.started_at),
        attempts: s.attempts,
        subscriber: byId.get(s.subscriber_id)!,
      }));
    return { id: r.id, payload, attempts: r.attempts, createdAt: new Date(r.created_at), claims };
  });
}

export async function completeBatch(q: Kysely<DB>, batchId: string, records: readonly OutcomeRecord[]): Promise<void> {
  for (const r of records) await record(q, r);
  await q.updateTable("batches").set({ status: "done", payload: null }).where("id", "=", batchId).execute();
}
