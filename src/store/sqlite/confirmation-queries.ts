/**
 * Confirmation queries: double opt-in emails queued at signup, claimed under a lease by the
 * tick, then finished or retried. Each function is one operation on the caller's connection
 * or transaction (`q`); queueing and claiming run inside BEGIN IMMEDIATE.
 */
import { type Kysely, sql } from "kysely";
import type { DB } from "../schema.ts";
import type { PendingConfirmation } from "../types.ts";
import { subscribersById } from "./hydrate.ts";

export async function queueConfirmation(q: Kysely<DB>, subscriberId: string, now: Date, since: Date, max: number): Promise<boolean> {
  // Counted and inserted under the write lock: concurrent signups cannot both slip under the cap.
  const row = await q
    .selectFrom("confirmations")
    .select(sql<number>`count(*)`.as("n"))
    .where("subscriber_id", "=", subscriberId)
    .where("created_at", ">", since.getTime())
    .executeTakeFirst();
  if (Number(row?.n ?? 0) >= max) return false;
  await q.insertInto("confirmations").values({ subscriber_id: subscriberId, status: "pending", created_at: now.getTime(), lease_until: 0 }).execute();
  return true;
}

export async function claimConfirmations(q: Kysely<DB>, now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]> {
  const t = now.getTime();
  // One statement picks what is pending and not leased, and leases it.
  const rows = await q
    .updateTable("confirmations")
    .set({ lease_until: t + leaseMs })
    .where("id", "in", (sub) =>
      sub.selectFrom("confirmations").select("id").where("status", "=", "pending").where("lease_until", "<=", t).orderBy("lease_until").limit(limit),
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

export async function finishConfirmation(q: Kysely<DB>, id: number, status: "sent" | "failed", now: Date, reason?: string): Promise<void> {
  await q
    .updateTable("confirmations")
    .set({ status, sent_at: status === "sent" ? now.getTime() : null, reason: reason ?? null })
    .where("id", "=", id)
    .execute();
}

/** Lease it until `at`: the next claim after that tries again. */
export async function retryConfirmationLater(q: Kysely<DB>, id: number, at: Date, reason: string): Promise<void> {
  await q.updateTable("confirmations").set({ lease_until: at.getTime(), reason }).where("id", "=", id).execute();
}
