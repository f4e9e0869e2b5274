/**
 * Why a subscriber is unsubscribed or suppressed, in words (`drip show`, `drip export`): the
 * suppression list's reason (hard bounce, complaint, a staff reason, forgotten on request) or
 * the way they unsubscribed (one-click, the preferences page, staff on the dashboard or CLI).
 * Three indexed reads per page of subscribers, never one per row.
 */
import type { Kysely } from "kysely";
import type { DB } from "../schema.ts";
import { emailHash } from "../shared.ts";
import type { StatusReason } from "../types.ts";

export async function statusReasons(q: Kysely<DB>, subscriberIds: readonly string[]): Promise<Map<string, StatusReason>> {
  const out = new Map<string, StatusReason>();
  if (subscriberIds.length === 0) return out;
  const subs = await q
    .selectFrom("subscribers")
    .select(["id", "email", "status", "unsubscribed_at"])
    .where("id", "in", [...subscriberIds])
    .where("status", "in", ["unsubscribed", "suppressed"])
    .execute();
  if (subs.length === 0) return out;
  const hashes = new Map(subs.map((s) => [emailHash(s.email), s.id]));
  const suppressed = await q
    .selectFrom("suppressions")
    .select(["email_hash", "reason", "created_at"])
    .where("email_hash", "in", [...hashes.keys()])
    .execute();
  const bySub = new Map(suppressed.map((r) => [hashes.get(r.email_hash)!, r]));
  const events = await q
    .selectFrom("events")
    .select(["subscriber_id", "data", "at"])
    .where(
      "subscriber_id",
      "in",
      subs.map((s) => s.id),
    )
    .where("type", "=", "unsubscribed")
    .orderBy("id")
    .execute();
  // The last whole-list unsubscribe (leaving one topic records a `topic` too, and is not this).
  const via = new Map<string, { via: string; at: number }>();
  for (const e of events) {
    let data: { via?: unknown; topic?: unknown } = {};
    try {
      data = e.data ? (JSON.parse(e.data) as typeof data) : {};
    } catch {
      // stored events hold JSON; anything else says nothing about the way
    }
    if (data.topic === undefined) via.set(e.subscriber_id!, { via: typeof data.via === "string" ? data.via : "unknown", at: Number(e.at) });
  }
  for (const s of subs) {
    const supp = bySub.get(s.id);
    const unsub = via.get(s.id);
    if (supp) out.set(s.id, { reason: supp.reason, via: unsub?.via ?? null, at: new Date(Number(supp.created_at)) });
    else if (unsub) out.set(s.id, { reason: `unsubscribed via ${unsub.via}`, via: unsub.via, at: new Date(unsub.at) });
    else out.set(s.id, { reason: s.status, via: null, at: s.unsubscribed_at === null ? null : new Date(Number(s.unsubscribed_at)) });
  }
  return out;
}
