/**
 * Report queries: events (webhooks, bookings), provider-id lookups, per-step statistics,
 * sends listings and status counts. Reads and single-statement writes: each function is one
 * operation on the caller's connection or transaction (`q`).
 */
import { type Kysely, sql } from "kysely";
import type { DB, SubscribersTable } from "../schema.ts";
import { HELD_BY_BATCH, emailHash, toSend, zeroCounts } from "../shared.ts";
import type {
  DailyActivity,
  EventInput,
  SendRecord,
  SendStatus,
  StatusCounts,
  StepQueue,
  StepStats,
  Subscriber,
  SubscriberSearch,
  SubscriberStatus,
  TimelineEntry,
} from "../types.ts";
import { hydrate, subscribersById } from "./hydrate.ts";

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

/** Skipped sends counted per step and reason (the sends_stats index finds the skipped rows of a sequence). */
export async function skippedByStep(q: Kysely<DB>, sequenceId?: string): Promise<{ sequenceId: string; stepId: string; reason: string; count: number }[]> {
  let query = q
    .selectFrom("sends")
    .select(["sequence_id", "step_id", "reason", sql<number>`count(*)`.as("n")])
    .where("status", "=", "skipped")
    .groupBy(["sequence_id", "step_id", "reason"]);
  if (sequenceId) query = query.where("sequence_id", "=", sequenceId);
  return (await query.execute()).map((r) => ({ sequenceId: r.sequence_id, stepId: r.step_id, reason: r.reason ?? "no reason", count: Number(r.n) }));
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

/** The subscribers as they are now (tags included); an address on the suppression list reads as suppressed. */
export async function currentSubscribers(q: Kysely<DB>, ids: readonly string[]): Promise<Map<string, Subscriber>> {
  const found = await subscribersById(q, ids);
  if (found.size === 0) return found;
  // subscriberStatuses' suppression check, on the rows just read (not read a second time).
  const hashes = new Map([...found.values()].map((s) => [emailHash(s.email), s.id]));
  const suppressed = await q
    .selectFrom("suppressions")
    .select("email_hash")
    .where("email_hash", "in", [...hashes.keys()])
    .execute();
  for (const { email_hash } of suppressed) {
    const id = hashes.get(email_hash)!;
    found.set(id, { ...found.get(id)!, status: "suppressed" });
  }
  return found;
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
  // When something next comes due: an unclaimed step at its due time (the first entry of
  // enrollments_next_due), a claimed one when its lease runs out (a crashed worker; the few
  // leased rows, by enrollments_leased); a step held by a pending batch is the batch's.
  // INDEXED BY: without statistics the planner would walk enrollments_status instead.
  const free = (
    await sql<{ at: number | null }>`SELECT min(next_due_at) AS at FROM enrollments INDEXED BY enrollments_next_due
      WHERE status = 'active' AND lease_until IS NULL`.execute(q)
  ).rows[0];
  const leased = (
    await sql<{ at: number | null }>`SELECT min(max(lease_until, next_due_at)) AS at FROM enrollments INDEXED BY enrollments_leased
      WHERE status = 'active' AND lease_until IS NOT NULL AND lease_until < ${HELD_BY_BATCH}`.execute(q)
  ).rows[0];
  const times = [free?.at, leased?.at].filter((t) => t != null).map(Number);
  const next = { at: times.length ? Math.min(...times) : null };
  return {
    subscribers: fill(["pending", "active", "unsubscribed", "suppressed"] as const, await count("subscribers")),
    enrollments: fill(["active", "completed", "exited", "paused"] as const, await count("enrollments")),
    sends: fill(["claimed", "sent", "skipped", "failed", "in_doubt"] as const, await count("sends")),
    nextDueAt: next?.at != null ? new Date(Number(next.at)) : null,
  };
}

const DAY_MS = 86_400_000;

/** Everything that happened to one subscriber: their row's dates, enrollments, sends and events, oldest first. */
export async function subscriberTimeline(q: Kysely<DB>, subscriberId: string): Promise<TimelineEntry[]> {
  const sub = await q.selectFrom("subscribers").selectAll().where("id", "=", subscriberId).executeTakeFirst();
  if (!sub) return [];
  const out: TimelineEntry[] = [];
  // An enrollment's end comes after the send that ended it at the same instant.
  const ends: TimelineEntry[] = [];
  out.push({ at: new Date(sub.created_at), kind: "signed_up", detail: `added${sub.consent_source ? ` via ${sub.consent_source}` : ""}` });
  if (sub.consent_at !== null)
    out.push({ at: new Date(sub.consent_at), kind: "confirmed", detail: `consent recorded${sub.consent_source ? ` (${sub.consent_source})` : ""}` });
  const enrollments = await q.selectFrom("enrollments").selectAll().where("subscriber_id", "=", subscriberId).execute();
  for (const e of enrollments) {
    out.push({
      at: new Date(e.started_at),
      kind: "enrolled",
      sequenceId: e.sequence_id,
      detail: `started ${e.sequence_id}${e.round > 1 ? ` (round ${e.round})` : ""}`,
    });
    if (e.status !== "active") ends.push({ at: new Date(e.updated_at), kind: e.status, sequenceId: e.sequence_id, detail: e.reason ?? e.status });
  }
  const sends = await q.selectFrom("sends").selectAll().where("subscriber_id", "=", subscriberId).execute();
  const steps = new Map(sends.map((s) => [s.id, s]));
  for (const s of sends) {
    const at = s.sent_at ?? s.updated_at;
    const detail =
      s.status === "sent" ? `sent${s.attempts > 1 ? ` after ${s.attempts} attempts` : ""}` : s.status === "claimed" ? "being sent" : (s.reason ?? s.status);
    out.push({ at: new Date(at), kind: s.status === "claimed" ? "sending" : s.status, sequenceId: s.sequence_id, stepId: s.step_id, sendId: s.id, detail });
  }
  const events = await q.selectFrom("events").selectAll().where("subscriber_id", "=", subscriberId).execute();
  for (const ev of events) {
    const send = ev.send_id ? steps.get(ev.send_id) : undefined;
    let detail: string = ev.type;
    if (ev.data) {
      try {
        const data = JSON.parse(ev.data) as Record<string, unknown>;
        const link = typeof data.link === "string" ? data.link : typeof data.url === "string" ? data.url : null;
        const reason = typeof data.reason === "string" ? data.reason : typeof data.via === "string" ? `via ${data.via}` : null;
        detail = [ev.type, link, reason].filter(Boolean).join(": ");
      } catch {
        // a stored event's data is JSON; anything else is shown as its type only
      }
    }
    out.push({
      at: new Date(ev.at),
      kind: ev.type,
      ...(send ? { sequenceId: send.sequence_id, stepId: send.step_id } : {}),
      ...(ev.send_id ? { sendId: ev.send_id } : {}),
      detail,
    });
  }
  // The automations that fired for them: why (the trigger) and what each did (drip show, the profile page).
  const runs = await q.selectFrom("automation_runs").selectAll().where("subscriber_id", "=", subscriberId).orderBy("id").execute();
  for (const r of runs)
    out.push({
      at: new Date(Number(r.fired_at)),
      kind: "automation",
      ...(r.enrolled ? { sequenceId: r.enrolled } : {}),
      detail: `${r.automation_id} fired on ${r.trigger}: ${r.detail || r.outcome} (${r.outcome})`,
    });
  if (sub.unsubscribed_at !== null && !events.some((e) => e.type === "unsubscribed"))
    out.push({ at: new Date(sub.unsubscribed_at), kind: sub.status === "suppressed" ? "suppressed" : "unsubscribed", detail: `status ${sub.status}` });
  out.push(...ends);
  return out
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at.getTime() - b.e.at.getTime() || a.i - b.i)
    .map(({ e }) => e);
}

export async function stepQueue(q: Kysely<DB>, sequenceId: string, until: Date): Promise<StepQueue[]> {
  const rows = await q
    .selectFrom("enrollments")
    .select(["next_step_id", sql<number>`count(*)`.as("waiting"), sql<number>`sum(CASE WHEN next_due_at < ${until.getTime()} THEN 1 ELSE 0 END)`.as("due")])
    .where("sequence_id", "=", sequenceId)
    .where("status", "=", "active")
    .where("next_step_id", "is not", null)
    .groupBy("next_step_id")
    .execute();
  return rows.map((r) => ({ sequenceId, stepId: r.next_step_id!, waiting: Number(r.waiting), dueSoon: Number(r.due ?? 0) }));
}

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export async function dailyActivity(q: Kysely<DB>, from: Date, until: Date, sequenceId?: string): Promise<DailyActivity[]> {
  const start = Math.floor(from.getTime() / DAY_MS) * DAY_MS;
  const end = until.getTime();
  const days = new Map<string, DailyActivity>();
  for (let t = start; t < end; t += DAY_MS) days.set(dayOf(t), { day: dayOf(t), signups: 0, unsubscribes: 0, sent: 0 });
  const bucket = (col: string) => sql<number>`(${sql.ref(col)} / ${sql.lit(DAY_MS)})`;
  const signups = await q
    .selectFrom("subscribers")
    .select([bucket("created_at").as("d"), sql<number>`count(*)`.as("n")])
    .where("created_at", ">=", start)
    .where("created_at", "<", end)
    .groupBy("d")
    .execute();
  const unsubs = await q
    .selectFrom("subscribers")
    .select([bucket("unsubscribed_at").as("d"), sql<number>`count(*)`.as("n")])
    .where("unsubscribed_at", ">=", start)
    .where("unsubscribed_at", "<", end)
    .groupBy("d")
    .execute();
  let sentQ = q
    .selectFrom("sends")
    .select([bucket("sent_at").as("d"), sql<number>`count(*)`.as("n")])
    .where("sent_at", ">=", start)
    .where("sent_at", "<", end)
    // "status || ''": filter on it without letting the planner walk sends_status (every sent row) instead of the day range.
    .where((eb) => eb(sql<string>`status || ''`, "=", "sent"))
    .groupBy("d");
  if (sequenceId) sentQ = sentQ.where("sequence_id", "=", sequenceId);
  const sent = await sentQ.execute();
  const add = (rows: { d: number; n: number }[], key: "signups" | "unsubscribes" | "sent") => {
    for (const r of rows) {
      const d = days.get(dayOf(Number(r.d) * DAY_MS));
      if (d) d[key] = Number(r.n);
    }
  };
  add(signups, "signups");
  add(unsubs, "unsubscribes");
  add(sent, "sent");
  return [...days.values()];
}

/** How many rows a selective search may gather and sort itself; above this it walks the newest-first index instead. */
const SELECTIVE = 2_000;

/**
 * `postgres`: the name index there is on lower(name) COLLATE "C" (byte-wise, as SQLite compares),
 * so the prefix range is spelled the same way to use it.
 */
export async function searchSubscribers(q: Kysely<DB>, s: SubscriberSearch, postgres = false): Promise<Subscriber[]> {
  const lowerName = postgres ? sql`(lower(subscribers.name) COLLATE "C")` : sql`lower(subscribers.name)`;
  const text = s.query?.trim().toLowerCase();
  const upper = text ? `${text}\uffff` : "";
  const base = () => {
    let query = q.selectFrom("subscribers").selectAll("subscribers");
    if (s.status) query = query.where("status", "=", s.status);
    if (s.before) {
      const t = s.before.createdAt.getTime();
      const id = s.before.id;
      query = query.where((eb) => eb.or([eb("created_at", "<", t), eb.and([eb("created_at", "=", t), eb("id", "<", id)])]));
    }
    return query;
  };
  const newestFirst = <Q extends ReturnType<typeof base>>(query: Q) => query.orderBy("created_at", "desc").orderBy("id", "desc").limit(s.limit);
  // Few matches by an index (an email prefix, a tag): gather them through that index and sort
  // them here; many: walk the newest-first index and stop at a page. Counting up to SELECTIVE
  // through the index decides which, cheaply.
  const fewByIndex = async (count: () => Promise<number>) => (await count()) < SELECTIVE;
  const unordered = (query: ReturnType<typeof base>) => query.orderBy(sql`created_at + 0`, "desc").orderBy("id", "desc").limit(s.limit);
  const countUpTo = async (inner: { execute(): Promise<unknown[]> }) => (await inner.execute()).length;

  let rows: SubscribersTable[] = [];
  // "column || ''" (and "+ 0") keeps the planner off that column's index, so "many matches" walks newest first and stops at a page.
  const emailMatch = <Q extends ReturnType<typeof base>>(query: Q, indexed = true) =>
    (indexed
      ? query.where("email_key", ">=", text!).where("email_key", "<", upper)
      : query.where(sql`email_key || ''`, ">=", text!).where(sql`email_key || ''`, "<", upper)) as Q;
  const tagMatch = <Q extends ReturnType<typeof base>>(query: Q) =>
    (s.tag ? query.where("id", "in", (sub) => sub.selectFrom("tags").select("subscriber_id").where("tag", "=", s.tag!)) : query) as Q;

  if (text) {
    const fewEmails = await fewByIndex(() =>
      countUpTo(q.selectFrom("subscribers").select("id").where("email_key", ">=", text).where("email_key", "<", upper).limit(SELECTIVE)),
    );
    const byEmail = await (fewEmails ? unordered(tagMatch(emailMatch(base()))) : newestFirst(tagMatch(emailMatch(base(), false)))).execute();
    // The start of the name (drip keeps a first name), through the lower(name) index the same way.
    const nameMatch = <Q extends ReturnType<typeof base>>(query: Q, indexed = true) => {
      const name = indexed ? lowerName : sql`${lowerName} || ''`;
      return query.where(name, ">=", text).where(name, "<", upper) as Q;
    };
    const fewNames = text.includes("@")
      ? null
      : await fewByIndex(() =>
          countUpTo(
            q
              .selectFrom("subscribers")
              .select("id")
              .where(sql`lower(subscribers.name)`, ">=", text)
              .where(sql`lower(subscribers.name)`, "<", upper)
              .limit(SELECTIVE),
          ),
        );
    const byName =
      fewNames === null ? [] : await (fewNames ? unordered(tagMatch(nameMatch(base()))) : newestFirst(tagMatch(nameMatch(base(), false)))).execute();
    const seen = new Set<string>();
    rows = [...byEmail, ...byName]
      .filter((r) => !seen.has(r.id) && seen.add(r.id))
      .sort((a, b) => b.created_at - a.created_at || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0))
      .slice(0, s.limit);
  } else if (s.tag) {
    const fewTagged = await fewByIndex(() => countUpTo(q.selectFrom("tags").select("subscriber_id").where("tag", "=", s.tag!).limit(SELECTIVE)));
    rows = await (fewTagged
      ? unordered(tagMatch(base()))
      : newestFirst(
          base().where((eb) => eb.exists(eb.selectFrom("tags").select("tag").whereRef("tags.subscriber_id", "=", "subscribers.id").where("tag", "=", s.tag!))),
        )
    ).execute();
  } else {
    rows = await newestFirst(base()).execute();
  }
  return hydrate(q, rows);
}

export async function resolveSend(q: Kysely<DB>, sendId: string, reason: string): Promise<boolean> {
  const res = await q
    .updateTable("sends")
    .set({ status: "skipped", reason })
    .where("id", "=", sendId)
    .where("status", "in", ["failed", "in_doubt"])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
