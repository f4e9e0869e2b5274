/**
 * Sequence versions and live edits: recording what went live, reading enrollments'
 * positions for `drip plan`, and moving them for `drip apply`. Moves never touch a claim
 * (lease_until, lease_owner, fence): a claimed enrollment gets a deferred re-plan instead,
 * which the tick applies once the claim is released (the same machinery as a zone change).
 */
import { type Kysely, sql } from "kysely";
import type { DB, SequenceVersionsTable } from "../schema.ts";
import type { EnrollmentPosition, EnrollmentStatus, PositionMove, SequenceVersion, VersionedStepStats } from "../types.ts";

const toVersion = (r: Omit<SequenceVersionsTable, "id">): SequenceVersion => ({
  sequenceId: r.sequence_id,
  number: r.number,
  hash: r.hash,
  createdAt: new Date(r.created_at),
  snapshot: JSON.parse(r.snapshot),
  changes: JSON.parse(r.changes),
});

const COLUMNS = ["sequence_id", "number", "hash", "created_at", "snapshot", "changes"] as const;

export async function liveVersion(q: Kysely<DB>, sequenceId: string): Promise<SequenceVersion | null> {
  const row = await q
    .selectFrom("sequence_versions")
    .select(COLUMNS)
    .where("sequence_id", "=", sequenceId)
    .orderBy("number", "desc")
    .limit(1)
    .executeTakeFirst();
  return row ? toVersion(row) : null;
}

export async function listVersions(q: Kysely<DB>, sequenceId: string): Promise<SequenceVersion[]> {
  const rows = await q.selectFrom("sequence_versions").select(COLUMNS).where("sequence_id", "=", sequenceId).orderBy("number").execute();
  return rows.map(toVersion);
}

/** Runs under the write lock (BEGIN IMMEDIATE), so two writers cannot take the same number. */
export async function recordVersion(
  q: Kysely<DB>,
  v: { sequenceId: string; hash: string; snapshot: unknown; changes: unknown; at: Date },
): Promise<SequenceVersion> {
  const last = await q
    .selectFrom("sequence_versions")
    .select(sql<number>`coalesce(max(number), 0)`.as("n"))
    .where("sequence_id", "=", v.sequenceId)
    .executeTakeFirstOrThrow();
  const row = {
    sequence_id: v.sequenceId,
    number: Number(last.n) + 1,
    hash: v.hash,
    created_at: v.at.getTime(),
    snapshot: JSON.stringify(v.snapshot ?? null),
    changes: JSON.stringify(v.changes ?? null),
  };
  await q.insertInto("sequence_versions").values(row).execute();
  return toVersion(row);
}

export async function enrollmentPositions(q: Kysely<DB>, sequenceId: string): Promise<EnrollmentPosition[]> {
  const rows = await q
    .selectFrom("enrollments")
    .innerJoin("subscribers", "subscribers.id", "enrollments.subscriber_id")
    .select([
      "enrollments.id",
      "enrollments.subscriber_id",
      "subscribers.timezone",
      "enrollments.status",
      "enrollments.started_at",
      "enrollments.next_step_id",
      "enrollments.next_due_at",
      "enrollments.lease_until",
    ])
    .where("enrollments.sequence_id", "=", sequenceId)
    .where("enrollments.status", "in", ["active", "paused", "completed"])
    .orderBy("enrollments.id")
    .execute();
  // Sends of the current round only: a send id is "<enrollment>.<round>.<step>".
  const sends = await q
    .selectFrom("sends")
    .innerJoin("enrollments", "enrollments.id", "sends.enrollment_id")
    .select(["sends.enrollment_id", "sends.step_id", "sends.updated_at"])
    .where("enrollments.sequence_id", "=", sequenceId)
    .where("sends.status", "!=", "claimed")
    .where(sql<boolean>`sends.id LIKE enrollments.id || '.' || enrollments.round || '.%'`)
    .orderBy("sends.updated_at")
    .execute();
  const done = new Map<number, { steps: string[]; last: number }>();
  for (const s of sends) {
    const d = done.get(s.enrollment_id) ?? { steps: [], last: 0 };
    d.steps.push(s.step_id);
    d.last = Math.max(d.last, s.updated_at);
    done.set(s.enrollment_id, d);
  }
  return rows.map((r) => {
    const d = done.get(r.id);
    return {
      enrollmentId: r.id,
      subscriberId: r.subscriber_id,
      timezone: r.timezone,
      status: r.status as EnrollmentStatus,
      startedAt: new Date(r.started_at),
      nextStepId: r.next_step_id,
      nextDueAt: r.next_due_at === null ? null : new Date(r.next_due_at),
      done: d?.steps ?? [],
      lastDoneAt: d ? new Date(d.last) : null,
      claimed: r.lease_until !== null,
    };
  });
}

/** One statement per enrollment decides by its lease, as `replan` does: the claim itself is never written. */
export async function moveEnrollments(q: Kysely<DB>, moves: readonly PositionMove[]): Promise<{ planned: number; deferred: number }> {
  let planned = 0;
  let deferred = 0;
  for (const m of moves) {
    const passOver = m.passOver.length > 0 ? JSON.stringify(m.passOver) : null;
    const row = await q
      .updateTable("enrollments")
      .set({
        next_step_id: sql`CASE WHEN lease_until IS NULL THEN ${m.stepId} ELSE next_step_id END`,
        next_due_at: sql`CASE WHEN lease_until IS NULL THEN ${m.dueAt?.getTime() ?? null} ELSE next_due_at END`,
        status: sql`CASE WHEN lease_until IS NULL THEN ${m.status} ELSE status END`,
        pass_over: passOver,
        replan: sql`CASE WHEN lease_until IS NULL THEN 0 ELSE 1 END`,
      })
      .where("id", "=", m.enrollmentId)
      .returning("replan")
      .executeTakeFirst();
    if (!row) continue;
    if (row.replan) deferred++;
    else planned++;
  }
  return { planned, deferred };
}

export async function renameStep(q: Kysely<DB>, sequenceId: string, from: string, to: string): Promise<void> {
  await q.updateTable("sends").set({ step_id: to }).where("sequence_id", "=", sequenceId).where("step_id", "=", from).execute();
  await q.updateTable("enrollments").set({ cursor: to }).where("sequence_id", "=", sequenceId).where("cursor", "=", from).execute();
  // A claimed one keeps its step: the claim's send row is keyed on the old id (the engine finds it through `formerly`).
  await q
    .updateTable("enrollments")
    .set({ next_step_id: to })
    .where("sequence_id", "=", sequenceId)
    .where("next_step_id", "=", from)
    .where("lease_until", "is", null)
    .execute();
}

export async function stepStatsByVersion(q: Kysely<DB>, sequenceId?: string): Promise<VersionedStepStats[]> {
  let sends = q
    .selectFrom("sends")
    .select(["sequence_id", "step_id", "sequence_version", sql<number>`count(*)`.as("sent")])
    .where("status", "=", "sent")
    .groupBy(["sequence_id", "step_id", "sequence_version"]);
  if (sequenceId) sends = sends.where("sequence_id", "=", sequenceId);
  // Each event counts once per send (a reader opening twice is one open).
  let events = q
    .selectFrom("events")
    .innerJoin("sends", "sends.id", "events.send_id")
    .select(["sends.sequence_id", "sends.step_id", "sends.sequence_version", "events.type", sql<number>`count(distinct events.send_id)`.as("n")])
    .groupBy(["sends.sequence_id", "sends.step_id", "sends.sequence_version", "events.type"]);
  if (sequenceId) events = events.where("sends.sequence_id", "=", sequenceId);
  const out = new Map<string, VersionedStepStats>();
  const row = (seq: string, step: string, version: string | null) => {
    const key = `${seq}\u0000${step}\u0000${version ?? ""}`;
    let r = out.get(key);
    if (!r) {
      r = { sequenceId: seq, stepId: step, version, sent: 0, delivered: 0, opened: 0, clicked: 0, bounced: 0, complained: 0, unsubscribed: 0, booked: 0 };
      out.set(key, r);
    }
    return r;
  };
  const counted = new Set(["delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "booked"]);
  for (const s of await sends.execute()) row(s.sequence_id, s.step_id, s.sequence_version).sent = Number(s.sent);
  for (const e of await events.execute()) {
    if (counted.has(e.type)) (row(e.sequence_id, e.step_id, e.sequence_version) as unknown as Record<string, number>)[e.type] = Number(e.n);
  }
  return [...out.values()];
}
