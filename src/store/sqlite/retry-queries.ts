/**
 * A failed or in-doubt send put back in the queue by staff (`drip retry`, the dashboard's
 * Retry button). No second way to send: the send's enrollment is rewound to the step, due
 * now, and the ordinary tick claims it (lease, fence), re-checks it, renders it and sends it;
 * once recorded, the enrollment goes back where it was (`resume`), whatever the outcome.
 *
 * Never a double send:
 * - an in-doubt send (the provider may have it) goes out under the idempotency key it first
 *   went out under, its old batch id, so a provider that has it answers 409 and it is
 *   recorded as sent; the other in-doubt sends of that batch go with it (one key, one request:
 *   a second request under the key would be taken for the first);
 * - past the provider's key lifetime (24 h) nothing can dedupe it: refused;
 * - a claimed enrollment (a worker holds it) is never touched; the writes are guarded by the
 *   fence read here, so a claim taken meanwhile refuses the retry instead of racing it.
 * Runs inside the caller's transaction (BEGIN IMMEDIATE on SQLite; row locks on PostgreSQL).
 */
import type { Kysely } from "kysely";
import type { DB, SendsTable } from "../schema.ts";
import { emailHash, KEY_LIFETIME_MS, toSend } from "../shared.ts";
import type { KeyAnswer, RequeueResult } from "../types.ts";

type SendRow = Omit<SendsTable, "sequence_version" | "template_version" | "retry_key" | "retry_since"> & {
  sequence_version: string | null;
  template_version: string | null;
  retry_key: string | null;
  retry_since: number | null;
};

/** Where a rewound enrollment goes back to once its retried step is recorded. */
export interface ResumePoint {
  stepId: string | null;
  dueAt: number | null;
  status: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The round a send belongs to (its id is `<enrollment>.<round>.<step>`). */
const roundOf = (sendId: string) => Number(sendId.split(".")[1]);

/** Why this send cannot go back in the queue now, or null when it can. */
async function refusal(q: Kysely<DB>, send: SendRow): Promise<string | null> {
  const e = await q.selectFrom("enrollments").selectAll().where("id", "=", send.enrollment_id).executeTakeFirst();
  if (!e) return "its enrollment is gone";
  const sub = await q.selectFrom("subscribers").select(["email", "status", "unsubscribed_at"]).where("id", "=", send.subscriber_id).executeTakeFirst();
  if (!sub) return "the subscriber is gone";
  const suppression = await q.selectFrom("suppressions").select(["reason", "created_at"]).where("email_hash", "=", emailHash(sub.email)).executeTakeFirst();
  if (sub.status === "suppressed" || suppression)
    return `${sub.email} is suppressed${suppression ? ` (${suppression.reason}, ${iso(suppression.created_at)})` : ""}: nothing more is sent to it`;
  if (sub.status === "unsubscribed")
    return `${sub.email} unsubscribed${sub.unsubscribed_at ? ` on ${iso(sub.unsubscribed_at)}` : ""}${e.reason ? ` (${e.reason})` : ""}: nothing more is sent to it`;
  if (sub.status !== "active") return `${sub.email} is ${sub.status}: it has not confirmed`;
  if (e.lease_until !== null) return "its enrollment is claimed by a worker now (a step is being sent): try again after the tick";
  if (e.round !== roundOf(send.id)) return `${e.sequence_id} has started again since (round ${e.round})`;
  if (e.status === "exited") return `its enrollment has ended${e.reason ? ` (${e.reason})` : ""}`;
  if (e.status === "paused") return "its enrollment is paused: resume it first (drip resume <email>)";
  if (e.resume !== null) return "another send of this enrollment is already queued again";
  return null;
}

/** Rewind the enrollment to the send's step (due now) and mark the send queued; false when a claim took the enrollment meanwhile. */
async function requeueOne(q: Kysely<DB>, send: SendRow, now: Date, key: { key: string; since: number } | null): Promise<boolean> {
  const e = await q
    .selectFrom("enrollments")
    .select(["next_step_id", "next_due_at", "status", "fence"])
    .where("id", "=", send.enrollment_id)
    .executeTakeFirstOrThrow();
  const resume: ResumePoint = { stepId: e.next_step_id, dueAt: e.next_due_at, status: e.status };
  const t = now.getTime();
  const moved = await q
    .updateTable("enrollments")
    .set({ resume: JSON.stringify(resume), next_step_id: send.step_id, next_due_at: t, status: "active", updated_at: t })
    .where("id", "=", send.enrollment_id)
    .where("fence", "=", e.fence)
    .where("lease_until", "is", null)
    .executeTakeFirst();
  if (Number(moved.numUpdatedRows) !== 1) return false;
  // "claimed" until the tick takes it: the claim's upsert finds the row and counts attempts from 0 again.
  await q
    .updateTable("sends")
    .set({
      status: "claimed",
      attempts: 0,
      reason: `queued again (was ${send.status}${send.attempts ? ` after ${send.attempts} attempt(s)` : ""}: ${send.reason ?? "no reason"})`,
      batch_id: null,
      retry_key: key?.key ?? null,
      retry_since: key?.since ?? null,
      updated_at: t,
    })
    .where("id", "=", send.id)
    .where("status", "=", send.status)
    .execute();
  return true;
}

export async function requeueSend(q: Kysely<DB>, sendId: string, now: Date): Promise<RequeueResult> {
  const row = (await q.selectFrom("sends").selectAll().where("id", "=", sendId).executeTakeFirst()) as SendRow | undefined;
  if (!row) return { kind: "refused", code: "not_found", reason: `no send ${sendId} (drip failures lists the failed ones)`, send: null };
  const refuse = (reason: string): RequeueResult => ({ kind: "refused", code: "conflict", reason, send: toSend(row) });
  if (row.status === "claimed") return refuse("it is queued or being sent now");
  if (row.status !== "failed" && row.status !== "in_doubt")
    return refuse(`it was ${row.status}${row.reason ? ` (${row.reason})` : ""}: only a failed or in-doubt send is retried`);

  let key: { key: string; since: number } | null = null;
  let group: SendRow[] = [row];
  if (row.status === "in_doubt") {
    // The provider may hold it: only its own key can keep it from going out twice.
    if (!row.batch_id) return refuse("its idempotency key is not recorded, so the provider could not tell a retry from a new email: check its logs");
    const batch = await q.selectFrom("batches").select(["status", "created_at"]).where("id", "=", row.batch_id).executeTakeFirst();
    if (!batch) return refuse("its provider batch is not recorded (another send of it may be queued again now): try again after the next tick");
    if (batch.status === "pending") return refuse("its provider batch is being sent now");
    if (now.getTime() - batch.created_at >= KEY_LIFETIME_MS)
      return refuse(
        `its outcome is unknown and the provider no longer keeps its idempotency key (24 h from ${iso(batch.created_at)}): a retry could send it twice; check the provider's logs, and if it never arrived, resolve it on the dashboard and send it by hand`,
      );
    key = { key: row.batch_id, since: batch.created_at };
    group = (await q
      .selectFrom("sends")
      .selectAll()
      .where("batch_id", "=", row.batch_id)
      .where("status", "=", "in_doubt")
      .orderBy("id")
      .execute()) as SendRow[];
  }
  const why = await refusal(q, row);
  if (why) return refuse(why);
  if (!(await requeueOne(q, row, now, key))) return refuse("its enrollment was claimed by a worker meanwhile: try again after the tick");
  const siblings: string[] = [];
  for (const s of group) {
    if (s.id === row.id || (await refusal(q, s))) continue;
    if (await requeueOne(q, s, now, key)) siblings.push(s.id);
  }
  // The done batch row gives way to the retry's batch under the same id (createBatch writes it again, with the key's age).
  if (key) await q.deleteFrom("batches").where("id", "=", key.key).where("status", "=", "done").execute();
  const after = (await q.selectFrom("sends").selectAll().where("id", "=", sendId).executeTakeFirstOrThrow()) as SendRow;
  return { kind: "queued", send: toSend(after), key: key?.key ?? null, siblings };
}

/**
 * The queued sends of a retried key that its retry's batch went without, settled by what the
 * provider's answers to that batch say about the key (KeyAnswer), in the batch's completing
 * transaction. A member left behind (its subscriber paused, or left, after the retry was
 * queued) was in the first batch, and the retry's request under the same key was not: sent
 * later under that key alone, it would draw 409 whenever the provider holds anything under the
 * key, and be recorded as sent without going out when what it holds is the retry's emails.
 * - `taken`: the provider never had the first batch: the send loses the key and goes out
 *   under a fresh one when its enrollment is claimed again (a course resumed); one whose
 *   enrollment has ended is skipped;
 * - `had`: the first batch was accepted, with this email in it: recorded as sent;
 * - `unknown`: nothing can tell: in doubt, with no key to retry under (staff check the logs);
 * - `untouched`: nothing changed at the provider: the send keeps the key.
 * A left-behind send whose enrollment a worker holds now is left alone. Returns how many were settled.
 */
export async function settleLeftBehind(q: Kysely<DB>, key: string, answer: KeyAnswer, now: Date): Promise<number> {
  if (answer === "untouched") return 0;
  const t = now.getTime();
  const left = await q
    .selectFrom("sends")
    .innerJoin("enrollments", "enrollments.id", "sends.enrollment_id")
    .select([
      "sends.id",
      "sends.step_id",
      "sends.enrollment_id",
      "enrollments.round",
      "enrollments.next_step_id",
      "enrollments.status as enrollment_status",
      "enrollments.resume",
      "enrollments.lease_until",
    ])
    .where("sends.retry_key", "=", key)
    .where("sends.status", "=", "claimed")
    .where("sends.batch_id", "is", null)
    .execute();
  let settled = 0;
  for (const s of left) {
    if (s.lease_until !== null) continue;
    const open = s.enrollment_status === "active" || s.enrollment_status === "paused";
    const rewound = open && s.next_step_id === s.step_id && Number(s.round) === roundOf(s.id);
    const unkeyed = { retry_key: null, retry_since: null, updated_at: t };
    if (answer === "taken" && rewound) {
      await q
        .updateTable("sends")
        .set({
          ...unkeyed,
          reason: `queued again; its batch's retry went without it and the provider had not had that batch (${key}): it goes under a new key`,
        })
        .where("id", "=", s.id)
        .execute();
    } else {
      const set =
        answer === "had"
          ? {
              status: "sent",
              sent_at: t,
              reason: `accepted with its first batch (${key}): the provider answered its retry with 409 invalid_idempotent_request`,
            }
          : answer === "taken"
            ? { status: "skipped", reason: `its enrollment ended before its retry went out, and the provider had not had its first batch (${key})` }
            : {
                status: "in_doubt",
                batch_id: null,
                reason: `its batch's retry went without it under the same key (${key}), and the provider's answers cannot tell whether it had the first batch: check the provider's logs`,
              };
      await q
        .updateTable("sends")
        .set({ ...unkeyed, ...set })
        .where("id", "=", s.id)
        .execute();
      // The enrollment goes back where it was before the retry rewound it (a pause or an end kept).
      if (s.resume !== null) {
        const back = JSON.parse(s.resume) as ResumePoint;
        await q
          .updateTable("enrollments")
          .set(
            rewound
              ? {
                  next_step_id: back.stepId,
                  next_due_at: back.dueAt,
                  status: s.enrollment_status === "paused" && back.status === "active" ? "paused" : back.status,
                  resume: null,
                  updated_at: t,
                }
              : { resume: null, updated_at: t },
          )
          .where("id", "=", s.enrollment_id)
          .where("lease_until", "is", null)
          .execute();
      }
    }
    settled++;
  }
  return settled;
}
