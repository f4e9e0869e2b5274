/**
 * Enrollment queries: enrolling (once per sequence, re-entry only after completion), reading
 * enrollments, status changes and leaving. Each function is one operation on the caller's
 * connection or transaction (`q`); enroll and leave run inside BEGIN IMMEDIATE.
 */
import { type Kysely, sql } from "kysely";
import type { DB } from "../schema.ts";
import { toEnrollment } from "../shared.ts";
import type { EnrollInput, EnrollResult, Enrollment, EnrollmentStatus } from "../types.ts";
import { recordEvent } from "./report-queries.ts";

export async function enroll(q: Kysely<DB>, input: EnrollInput): Promise<EnrollResult> {
  // Read, then insert or update: run under the write lock so two enrollments cannot both miss the row.
  const existing = await q
    .selectFrom("enrollments")
    .select(["id", "status", "round"])
    .where("subscriber_id", "=", input.subscriberId)
    .where("sequence_id", "=", input.sequenceId)
    .executeTakeFirst();
  const fresh = {
    started_at: input.startedAt.getTime(),
    cursor: null,
    next_step_id: input.firstStepId,
    next_due_at: input.firstDueAt.getTime(),
    status: "active",
    reason: null,
    updated_at: input.startedAt.getTime(),
  };
  if (!existing) {
    await q
      .insertInto("enrollments")
      .values({ subscriber_id: input.subscriberId, sequence_id: input.sequenceId, round: 1, ...fresh })
      .execute();
    return "created";
  }
  // Enrolling again never restarts a course in progress; only a finished one may start over.
  if (existing.status === "completed" && input.allowReentry) {
    await q
      .updateTable("enrollments")
      .set({ ...fresh, round: existing.round + 1, pass_over: null })
      .where("id", "=", existing.id)
      .execute();
    return "reentered";
  }
  return "exists";
}

export async function getEnrollment(q: Kysely<DB>, subscriberId: string, sequenceId: string): Promise<Enrollment | null> {
  const row = await q.selectFrom("enrollments").selectAll().where("subscriber_id", "=", subscriberId).where("sequence_id", "=", sequenceId).executeTakeFirst();
  return row ? toEnrollment(row) : null;
}

export async function listEnrollments(q: Kysely<DB>, subscriberId: string): Promise<Enrollment[]> {
  const rows = await q.selectFrom("enrollments").selectAll().where("subscriber_id", "=", subscriberId).orderBy("id").execute();
  return rows.map(toEnrollment);
}

export async function setEnrollmentStatus(q: Kysely<DB>, id: number, status: EnrollmentStatus, reason: string | null): Promise<void> {
  // Status only: the schedule moves through replanEnrollment, and no write here touches a claim.
  await q.updateTable("enrollments").set({ status, reason }).where("id", "=", id).execute();
}

export async function exitEnrollments(q: Kysely<DB>, subscriberId: string, reason: string): Promise<void> {
  await q
    .updateTable("enrollments")
    .set({ status: "exited", reason, next_due_at: null })
    .where("subscriber_id", "=", subscriberId)
    .where("status", "in", ["active", "paused"])
    .execute();
}

/** The subscriber's most recently sent email (the one an unsubscribe or complaint is credited to). */
export async function lastSentSend(q: Kysely<DB>, subscriberId: string): Promise<string | null> {
  const row = await q
    .selectFrom("sends")
    .select("id")
    .where("subscriber_id", "=", subscriberId)
    // `status || ''`, not `status`: SQLite would otherwise pick the sends_status index and read
    // every sent email of everyone; this way it reads this subscriber's sends only (sends_subscriber).
    .where(sql<string>`${sql.ref("status")} || ''`, "=", "sent")
    .orderBy("sent_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.id ?? null;
}

/**
 * A subscriber leaves: their status, every open enrollment exited, and the event (credited to
 * the last email sent). Run in one BEGIN IMMEDIATE transaction: all of it or none.
 * `ifNotLeft`: only a subscriber who has not left already (neither unsubscribed nor suppressed);
 * otherwise nothing is written. Returns whether the subscriber left.
 */
export async function leave(
  q: Kysely<DB>,
  subscriberId: string,
  status: "unsubscribed" | "suppressed",
  reason: string,
  now: Date,
  event?: { type: string; data?: unknown },
  opts: { ifNotLeft?: boolean } = {},
): Promise<boolean> {
  const t = now.getTime();
  let update = q.updateTable("subscribers").set({ status, updated_at: t, unsubscribed_at: t }).where("id", "=", subscriberId);
  if (opts.ifNotLeft) update = update.where("status", "not in", ["unsubscribed", "suppressed"]);
  const res = await update.executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) return false;
  await exitEnrollments(q, subscriberId, reason);
  if (event) {
    const sendId = await lastSentSend(q, subscriberId);
    await recordEvent(q, { subscriberId, sendId, type: event.type, at: now, data: event.data });
  }
  return true;
}
