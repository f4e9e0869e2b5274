/**
 * Lifecycle queries (events, statistics, confirmations, erasure) for the SQLite store,
 * kept apart from the scheduling queries. Each function is one operation.
 */
import { type Kysely, sql } from "kysely";
import type { DB } from "../schema.ts";
import { emailHash, toSend } from "../shared.ts";
import type { EventInput, PendingConfirmation, SendRecord, StepStats, SubscriberStatus } from "../types.ts";
import { subscribersById } from "./hydrate.ts";

export async function recordEvent(db: Kysely<DB>, e: EventInput): Promise<boolean> {
  // The unique index on svix_id turns a replayed webhook into a no-op.
  const res = await db
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

export async function findSendByProviderId(db: Kysely<DB>, id: string): Promise<SendRecord | null> {
  const row = await db.selectFrom("sends").selectAll().where("provider_message_id", "=", id).executeTakeFirst();
  return row ? toSend(row) : null;
}

export async function lastEngagedSend(db: Kysely<DB>, subscriberId: string): Promise<string | null> {
  for (const type of ["clicked", "opened"]) {
    const row = await db
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

export async function lastSentSend(db: Kysely<DB>, subscriberId: string): Promise<string | null> {
  const row = await db
    .selectFrom("sends")
    .select("id")
    .where("subscriber_id", "=", subscriberId)
    .where("status", "=", "sent")
    .orderBy("sent_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.id ?? null;
}

export async function stepStats(db: Kysely<DB>, sequenceId?: string): Promise<StepStats[]> {
  // Each event counts once per send (a reader opening twice is one open).
  let sends = db
    .selectFrom("sends")
    .select(["sequence_id", "step_id", sql<number>`count(*)`.as("sent")])
    .where("status", "=", "sent")
    .groupBy(["sequence_id", "step_id"]);
  if (sequenceId) sends = sends.where("sequence_id", "=", sequenceId);
  let events = db
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
    if (e.type in r && e.type !== "sequenceId" && e.type !== "stepId" && e.type !== "sent")
      (r as unknown as Record<string, number>)[e.type] = Number(e.n);
  }
  return [...out.values()];
}

/** Statuses as they are now; an address on the suppression list counts as suppressed whatever its row says. */
export async function subscriberStatuses(db: Kysely<DB>, ids: readonly string[]): Promise<Map<string, SubscriberStatus>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom("subscribers").select(["id", "status", "email"]).where("id", "in", ids).execute();
  const hashes = new Map(rows.map((r) => [emailHash(r.email), r.id]));
  const suppressed = await db
    .selectFrom("suppressions")
    .select("email_hash")
    .where("email_hash", "in", [...hashes.keys()])
    .execute();
  const out = new Map(rows.map((r) => [r.id, r.status as SubscriberStatus]));
  for (const s of suppressed) out.set(hashes.get(s.email_hash)!, "suppressed");
  return out;
}

export async function queueConfirmation(q: Kysely<DB>, subscriberId: string, now: Date, since: Date, max: number): Promise<boolean> {
  // Counted and inserted under the write lock: concurrent signups cannot both slip under the cap.
  const row = await q
    .selectFrom("confirmations")
    .select(sql<number>`count(*)`.as("n"))
    .where("subscriber_id", "=", subscriberId)
    .where("created_at", ">", since.getTime())
    .executeTakeFirst();
  if (Number(row?.n ?? 0) >= max) return false;
  await q
    .insertInto("confirmations")
    .values({ subscriber_id: subscriberId, status: "pending", created_at: now.getTime(), lease_until: 0 })
    .execute();
  return true;
}

export async function claimConfirmations(q: Kysely<DB>, now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]> {
  const t = now.getTime();
  // One statement picks what is pending and not leased, and leases it.
  const rows = await q
    .updateTable("confirmations")
    .set({ lease_until: t + leaseMs })
    .where("id", "in", (sub) =>
      sub
        .selectFrom("confirmations")
        .select("id")
        .where("status", "=", "pending")
        .where("lease_until", "<=", t)
        .orderBy("lease_until")
        .limit(limit),
    )
    .returning(["id", "subscriber_id", "created_at"])
    .execute();
  const byId = await subscribersById(
    q,
    rows.map((r) => r.subscriber_id),
  );
  return rows.flatMap((r) => {
    const subscriber = byId.get(r.subscriber_id);
    return subscriber ? [{ id: r.id, subscriber, createdAt: new Date(r.created_at) }] : [];
  });
}
