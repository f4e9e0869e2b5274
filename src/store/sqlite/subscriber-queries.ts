/**
 * Subscriber queries: subscribers, their tags, the suppression list, bulk import and
 * erasure. Each function is one operation on the caller's connection or transaction (`q`);
 * import and forgetting run inside BEGIN IMMEDIATE.
 */
import type { Kysely } from "kysely";
import type { DB, SubscribersTable } from "../schema.ts";
import { emailHash, emailKey, newSubscriberId, toSubscriber } from "../shared.ts";
import type { EnrollmentPlan, Subscriber, SubscriberInput, SubscriberStatus } from "../types.ts";
import { hydrate } from "./hydrate.ts";
import { scrubPendingBatches } from "./send-queries.ts";

function subscriberRow(input: SubscriberInput, now: Date): SubscribersTable {
  const t = now.getTime();
  return {
    id: newSubscriberId(),
    email: input.email.trim(),
    email_key: emailKey(input.email),
    name: input.name?.trim() ?? "",
    timezone: input.timezone?.trim() ?? "",
    status: input.status,
    consent_source: input.consentSource ?? null,
    consent_at: input.consentAt?.getTime() ?? null,
    consent_ip: input.consentIp ?? null,
    created_at: t,
    updated_at: t,
    unsubscribed_at: input.unsubscribedAt?.getTime() ?? null,
  };
}

/** Add the subscribers not already known (by email_key), with their tags, enrolling each as `enroll` plans. */
export async function importSubscribers(
  q: Kysely<DB>,
  rows: readonly SubscriberInput[],
  now: Date,
  enroll?: (subscriber: Subscriber) => EnrollmentPlan | null,
): Promise<{ created: Subscriber[]; existing: number; enrolled: number }> {
  const created: Subscriber[] = [];
  let enrolled = 0;
  // One statement per row inside one transaction: SQLite's fastest safe bulk path,
  // and the unique email_key makes a second import of the same file a no-op.
  for (const input of rows) {
    const row = subscriberRow(input, now);
    const res = await q
      .insertInto("subscribers")
      .values(row)
      .onConflict((oc) => oc.column("email_key").doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) continue;
    const tags = [...new Set(input.tags ?? [])];
    if (tags.length)
      await q
        .insertInto("tags")
        .values(tags.map((tag) => ({ subscriber_id: row.id, tag })))
        .execute();
    const subscriber = toSubscriber(row, tags.sort());
    created.push(subscriber);
    const plan = enroll?.(subscriber);
    if (plan) {
      const t = plan.startedAt.getTime();
      await q
        .insertInto("enrollments")
        .values({
          subscriber_id: row.id,
          sequence_id: plan.sequenceId,
          round: 1,
          started_at: t,
          cursor: null,
          next_step_id: plan.firstStepId,
          next_due_at: plan.firstDueAt.getTime(),
          status: "active",
          reason: null,
          updated_at: t,
        })
        .execute();
      enrolled++;
    }
  }
  return { created, existing: rows.length - created.length, enrolled };
}

export async function getSubscriber(q: Kysely<DB>, id: string): Promise<Subscriber | null> {
  const row = await q.selectFrom("subscribers").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? ((await hydrate(q, [row]))[0] ?? null) : null;
}

export async function findSubscriberByEmail(q: Kysely<DB>, email: string): Promise<Subscriber | null> {
  const row = await q.selectFrom("subscribers").selectAll().where("email_key", "=", emailKey(email)).executeTakeFirst();
  return row ? ((await hydrate(q, [row]))[0] ?? null) : null;
}

/** A page of subscribers in id order (keyset: the ones after `afterId`). */
export async function listSubscribers(q: Kysely<DB>, afterId: string | null, limit: number): Promise<Subscriber[]> {
  let query = q.selectFrom("subscribers").selectAll().orderBy("id").limit(limit);
  if (afterId !== null) query = query.where("id", ">", afterId);
  return hydrate(q, await query.execute());
}

export async function setSubscriberStatus(
  q: Kysely<DB>,
  id: string,
  status: SubscriberStatus,
  now: Date,
  consent?: { source: string; at: Date; ip: string | null },
): Promise<void> {
  const leaving = status === "unsubscribed" || status === "suppressed";
  await q
    .updateTable("subscribers")
    .set({
      status,
      updated_at: now.getTime(),
      ...(leaving ? { unsubscribed_at: now.getTime() } : {}),
      ...(consent ? { consent_source: consent.source, consent_at: consent.at.getTime(), consent_ip: consent.ip } : {}),
    })
    .where("id", "=", id)
    .execute();
}

export async function updateSubscriber(q: Kysely<DB>, id: string, fields: { name?: string; timezone?: string }): Promise<void> {
  const set: Partial<SubscribersTable> = {};
  if (fields.name !== undefined) set.name = fields.name;
  if (fields.timezone !== undefined) set.timezone = fields.timezone;
  if (Object.keys(set).length) await q.updateTable("subscribers").set(set).where("id", "=", id).execute();
}

export async function addTag(q: Kysely<DB>, id: string, tag: string): Promise<void> {
  await q
    .insertInto("tags")
    .values({ subscriber_id: id, tag })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export async function removeTag(q: Kysely<DB>, id: string, tag: string): Promise<void> {
  await q.deleteFrom("tags").where("subscriber_id", "=", id).where("tag", "=", tag).execute();
}

/** The given addresses that are on the suppression list (looked up by hash), as email keys. */
export async function suppressedAmong(q: Kysely<DB>, emails: readonly string[]): Promise<Set<string>> {
  if (emails.length === 0) return new Set();
  const byHash = new Map(emails.map((e) => [emailHash(e), emailKey(e)]));
  const rows = await q
    .selectFrom("suppressions")
    .select("email_hash")
    .where("email_hash", "in", [...byHash.keys()])
    .execute();
  return new Set(rows.map((r) => byHash.get(r.email_hash)!));
}

export async function isSuppressed(q: Kysely<DB>, email: string): Promise<boolean> {
  const row = await q.selectFrom("suppressions").select("email_hash").where("email_hash", "=", emailHash(email)).executeTakeFirst();
  return row !== undefined;
}

export async function suppress(q: Kysely<DB>, email: string, reason: string, now: Date): Promise<void> {
  await q
    .insertInto("suppressions")
    .values({ email_hash: emailHash(email), reason, created_at: now.getTime() })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Erase everything keyed to the subscriber (the suppression entry, keyed by hash, is the caller's). */
export async function forgetSubscriber(q: Kysely<DB>, id: string): Promise<void> {
  // Their address and rendered email leave any batch not yet resolved, now.
  await scrubPendingBatches(q, id);
  await q.deleteFrom("events").where("subscriber_id", "=", id).execute();
  // Cascades to tags, enrollments, their sends and confirmations: nothing keyed to the person stays.
  await q.deleteFrom("subscribers").where("id", "=", id).execute();
}
