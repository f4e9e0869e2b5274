/**
 * Report queries: events (webhooks, bookings), provider-id lookups, per-step statistics,
 * sends listings and status counts. Reads and single-statement writes: each function is one
 * operation on the caller's connection or transaction (`q`).
 */
import { type Kysely, sql } from "kysely";
import type { DB } from "../schema.ts";
import { HELD_BY_BATCH, emailHash, toSend, zeroCounts } from "../shared.ts";
import type { EventInput, SendRecord, SendStatus, StatusCounts, StepStats, SubscriberStatus } from "../types.ts";

export async function recordEvent(q: Kysely<DB>, e: EventInput): Promise<boolean> {
  // The unique index on svix_id turns a replayed webhook into a no-op.
  const res = await q
    .insertInto("events")
    .values({
      subscriber_id: e.subscriberId,
      send_id: e.sendId,
      type: e.type,
      at: e.at.getTime(),
      data: e.data === undefined ? null : JSON.stringify(e.data),
      svix_id: e.svixId ?? null,
    })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findSendByProviderId(q: Kysely<DB>, id: string): Promise<SendRecord | null> {
  const row = await q.selectFrom("sends").selectAll().where("provider_message_id", "=", id).executeTakeFirst();
  return row ? toSend(row) : null;
}

export async function lastEngagedSend(q: Kysely<DB>, subscriberId: string): Promise<string | null> {
  for (const type of ["clicked", "opened"]) {
    const row = await q
      .selectFrom("events")
      .select("send_id")
      .where("subscriber_id", "=", subscriberId)
      .where("type", "=", type)
      .where("send_id", "is not", null)
      .orderBy("at", "desc")
      .limit(1)
      .executeTakeFirst();
    if (row?.send_id) return row.send_id;
  }
  return null;
}

export async function stepStats(q: Kysely<DB>, sequenceId?: string): Promise<StepStats[]> {
  // Each event counts once per send (a reader opening twice is one open).
  let sends = q
    .selectFrom("sends")
    .select(["sequence_id", "step_id", sql<number>`count(*)`.as("sent")])
    .where("status", "=", "sent")
    .groupBy(["sequence_id", "step_id"]);
  if (sequenceId) sends = sends.where("sequence_id", "=", sequenceId);
  let events = q
    .selectFrom("events")
    .innerJoin("sends", "sends.id", "events.send_id")
    .select(["sends.sequence_id", "sends.step_id", "events.type", sql<number>`count(distinct events.send_id)`.as("n")])
    .groupBy(["sends.sequence_id", "sends.step_id", "events.type"]);
  if (sequenceId) events = events.where("sends.sequence_id", "=", sequenceId);
  const out = new Map<string, StepStats>();
  const row = (seq: string, step: string) => {
    const key = `${seq}\u0000${step}`;
    let r = out.get(key);
    if (!r) {
      r = {
        sequenceId: seq,
        stepId: step,
        sent: 0,
        delivered: 0,
        opened: 0,
        clicked: 0,
        bounced: 0,
        complained: 0,
        unsubscribed: 0,
        booked: 0,
      };
      out.set(key, r);
    }
    return r;
  };
  for (const s of await sends.execute()) row(s.sequence_id, s.step_id).sent = Number(s.sent);
  for (const e of await events.execute()) {
    const r = row(e.sequence_id, e.step_id);
    if (e.type in r && e.type !== "sequenceId" && e.type !== "stepId" && e.type !== "sent") (r as unknown as Record<string, number>)[e.type] = Number(e.n);
  }
  return [...out.values()];
}

/** Statuses as they are now; an address on the suppression list counts as suppressed whatever its row says. */
export async function subscriberStatuses(q: Kysely<DB>, ids: readonly string[]): Promise<Map<string, SubscriberStatus>> {
  if (ids.length === 0) return new Map();
  const rows = await q.selectFrom("subscribers").select(["id", "status", "email"]).where("id", "in", ids).execute();
  const hashes = new Map(rows.map((r) => [emailHash(r.email), r.id]));
  const suppressed = await q
    .selectFrom("suppressions")
    .select("email_hash")
    .where("email_hash", "in", [...hashes.keys()])
    .execute();
  const out = new Map(rows.map((r) => [r.id, r.status as SubscriberStatus]));
  for (const s of suppressed) out.set(hashes.get(s.email_hash)!, "suppressed");
  return out;
}

export async function getSend(q: Kysely<DB>, id: string): Promise<SendRecord | null> {
  const row = await q.selectFrom("sends").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? toSend(row) : null;
}

export async function listSends(
  q: Kysely<DB>,
  filter: { subscriberId?: string; sequenceId?: string; statuses?: readonly SendStatus[]; limit?: number },
): Promise<SendRecord[]> {
  let query = q.selectFrom("sends").selectAll().orderBy("due_at").orderBy("id");
  if (filter.subscriberId) query = query.where("subscriber_id", "=", filter.subscriberId);
  if (filter.sequenceId) query = query.where("sequence_id", "=", filter.sequenceId);
  if (filter.statuses?.length) query = query.where("status", "in", filter.statuses);
  if (filter.limit) query = query.limit(filter.limit);
  return (await query.execute()).map(toSend);
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
  const next = await q
    .selectFrom("enrollments")
    // When something next comes due: an unclaimed step at its due time, a claimed one when
    // its lease runs out (a crashed worker); a step held by a pending batch is the batch's.
    .select(
      sql<number | null>`min(CASE WHEN lease_until IS NULL THEN next_due_at WHEN lease_until < ${HELD_BY_BATCH} THEN max(lease_until, next_due_at) END)`.as(
        "at",
      ),
    )
    .where("status", "=", "active")
    .executeTakeFirst();
  return {
    subscribers: fill(["pending", "active", "unsubscribed", "suppressed"] as const, await count("subscribers")),
    enrollments: fill(["active", "completed", "exited", "paused"] as const, await count("enrollments")),
    sends: fill(["claimed", "sent", "skipped", "failed", "in_doubt"] as const, await count("sends")),
    nextDueAt: next?.at != null ? new Date(Number(next.at)) : null,
  };
}
