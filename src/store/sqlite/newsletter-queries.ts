/**
 * Newsletter queries: topic memberships (with consent), issue snapshots, audiences, set-based
 * planning of deliveries, cancellation, per-issue results and the feed ledger. Each function
 * is one operation on the caller's connection or transaction (`q`).
 *
 * A delivery (one issue to one subscriber) is an enrollment in lane 1 with sequence id
 * `newsletter:<issue>` and one step, `issue`: the UNIQUE (subscriber_id, sequence_id) of
 * enrollments makes it one per (issue, subscriber), and sends (unique per enrollment, round,
 * step) one send row per (issue, subscriber). Claims, batches and recovery are the course's.
 */
import { type Expression, type Kysely, type SqlBool, sql } from "kysely";
import type { DB } from "../schema.ts";
import {
  type AudienceFilter,
  type DeliveryPlan,
  type FeedItemInput,
  type PendingFeedItem,
  type FeedState,
  type IssueReport,
  type IssueSnapshot,
  type MissingRecipient,
  NEWSLETTER_PREFIX,
  NEWSLETTER_STEP,
  type Subscriber,
  type TopicCount,
  type TopicChange,
  type TopicMembership,
  type TopicStatus,
  issueSequenceId,
} from "../types.ts";
import { hydrate } from "./hydrate.ts";

export async function setTopic(q: Kysely<DB>, subscriberId: string, topicId: string, change: TopicChange): Promise<void> {
  const t = change.at.getTime();
  if (change.status === "consented") {
    // Consent for later: a new row, or renewed on a row that left or was consented; a member stays a member.
    await q
      .insertInto("subscriber_topics")
      .values({ subscriber_id: subscriberId, topic_id: topicId, status: "consented", consent_at: t, consent_source: change.source, left_at: null })
      .onConflict((oc) =>
        oc
          .columns(["subscriber_id", "topic_id"])
          .doUpdateSet({ status: "consented", consent_at: t, consent_source: change.source, left_at: null })
          .where("subscriber_topics.status", "!=", "joined"),
      )
      .execute();
    return;
  }
  if (change.status === "joined") {
    await q
      .insertInto("subscriber_topics")
      .values({ subscriber_id: subscriberId, topic_id: topicId, status: "joined", consent_at: t, consent_source: change.source, left_at: null })
      .onConflict((oc) =>
        oc.columns(["subscriber_id", "topic_id"]).doUpdateSet({ status: "joined", consent_at: t, consent_source: change.source, left_at: null }),
      )
      .execute();
    return;
  }
  await q
    .updateTable("subscriber_topics")
    .set({ status: "left", left_at: t })
    .where("subscriber_id", "=", subscriberId)
    .where("topic_id", "=", topicId)
    .where("status", "in", ["joined", "consented"])
    .execute();
  // Their deliveries of this topic's issues not yet sent end now. One already claimed by a
  // worker is re-checked against the topic right before it is sent (the engine).
  await q
    .updateTable("enrollments")
    .set({ status: "exited", reason: "left the topic", updated_at: t })
    .where("subscriber_id", "=", subscriberId)
    .where("lane", "=", 1)
    .where("status", "in", ["active", "paused"])
    .where("sequence_id", "in", q.selectFrom("newsletter_issues").select(sql<string>`${NEWSLETTER_PREFIX} || id`.as("sid")).where("topic_id", "=", topicId))
    .execute();
}

export async function listTopicMemberships(q: Kysely<DB>, subscriberId: string): Promise<TopicMembership[]> {
  const rows = await q.selectFrom("subscriber_topics").selectAll().where("subscriber_id", "=", subscriberId).orderBy("topic_id").execute();
  return rows.map((r) => ({
    topicId: r.topic_id,
    status: r.status as TopicStatus,
    consentAt: new Date(r.consent_at),
    consentSource: r.consent_source,
    leftAt: r.left_at === null ? null : new Date(r.left_at),
  }));
}

/**
 * Active subscribers joined to each topic: every joined member, counted off the members' partial
 * index, less the joined members who are not active (few: found by subscribers_status).
 */
export async function topicCounts(q: Kysely<DB>): Promise<TopicCount[]> {
  const joined = await q
    .selectFrom("subscriber_topics")
    .select(["topic_id", sql<number>`count(*)`.as("n")])
    .where("status", "=", "joined")
    .groupBy("topic_id")
    .execute();
  const inactive = await q
    .selectFrom("subscribers as s")
    .innerJoin("subscriber_topics as t", "t.subscriber_id", "s.id")
    .select(["t.topic_id", sql<number>`count(*)`.as("n")])
    .where("s.status", "in", ["pending", "unsubscribed", "suppressed"])
    .where("t.status", "=", "joined")
    .groupBy("t.topic_id")
    .execute();
  const less = new Map(inactive.map((r) => [r.topic_id, Number(r.n)]));
  return joined
    .map((r) => ({ topicId: r.topic_id, subscribers: Number(r.n) - (less.get(r.topic_id) ?? 0) }))
    .filter((r) => r.subscribers > 0)
    .sort((a, b) => (a.topicId < b.topicId ? -1 : a.topicId > b.topicId ? 1 : 0));
}

export async function topicMembersAmong(q: Kysely<DB>, topicId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await q
    .selectFrom("subscriber_topics")
    .select("subscriber_id")
    .where("topic_id", "=", topicId)
    .where("status", "=", "joined")
    .where("subscriber_id", "in", [...new Set(ids)])
    .execute();
  return new Set(rows.map((r) => r.subscriber_id));
}

type IssueRow = DB["newsletter_issues"];

const toIssue = (r: IssueRow): IssueSnapshot => ({
  id: r.id,
  topicId: r.topic_id,
  status: r.status as IssueSnapshot["status"],
  subject: r.subject,
  preview: r.preview,
  bodyHtml: r.body_html,
  template: r.template,
  audience: reviveAudience(JSON.parse(r.audience) as AudienceFilter),
  schedule: r.schedule ? (JSON.parse(r.schedule) as IssueSnapshot["schedule"]) : null,
  source: r.source,
  publishedAt: r.published_at === null ? null : new Date(r.published_at),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

function reviveAudience(a: AudienceFilter): AudienceFilter {
  if (!a.signedUp) return a;
  const s = a.signedUp as { after?: string | Date; before?: string | Date };
  return {
    ...a,
    signedUp: {
      ...(s.after ? { after: new Date(s.after) } : {}),
      ...(s.before ? { before: new Date(s.before) } : {}),
    },
  };
}

export async function saveIssue(q: Kysely<DB>, issue: Omit<IssueSnapshot, "createdAt" | "updatedAt">, now: Date): Promise<void> {
  const t = now.getTime();
  const values = {
    topic_id: issue.topicId,
    status: issue.status,
    subject: issue.subject,
    preview: issue.preview,
    body_html: issue.bodyHtml,
    template: issue.template,
    audience: JSON.stringify(issue.audience),
    schedule: issue.schedule ? JSON.stringify(issue.schedule) : null,
    source: issue.source,
    published_at: issue.publishedAt?.getTime() ?? null,
    updated_at: t,
  };
  await q
    .insertInto("newsletter_issues")
    .values({ id: issue.id, created_at: t, ...values })
    .onConflict((oc) => oc.column("id").doUpdateSet(values))
    .execute();
}

export async function getIssue(q: Kysely<DB>, id: string): Promise<IssueSnapshot | null> {
  const row = await q.selectFrom("newsletter_issues").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? toIssue(row) : null;
}

export async function listIssues(q: Kysely<DB>): Promise<IssueSnapshot[]> {
  const rows = await q.selectFrom("newsletter_issues").selectAll().orderBy("created_at").orderBy("id").execute();
  return rows.map(toIssue);
}

/**
 * The audience as one query: the topic's joined members (index subscriber_topics_members),
 * active, with no course paused by them (pausing means "nothing for now"), narrowed by tags,
 * course state and signup date. Suppressed, unsubscribed and unconfirmed are not active.
 */
function audienceQuery(q: Kysely<DB>, f: AudienceFilter) {
  return q
    .selectFrom("subscriber_topics as t")
    .innerJoin("subscribers as s", "s.id", "t.subscriber_id")
    .where("t.topic_id", "=", f.topicId)
    .where("t.status", "=", "joined")
    .where("s.status", "=", "active")
    .where((eb) => {
      const conds: Expression<SqlBool>[] = [
        eb.not(
          eb.exists(
            eb.selectFrom("enrollments as p").select("p.id").whereRef("p.subscriber_id", "=", "s.id").where("p.status", "=", "paused").where("p.lane", "=", 0),
          ),
        ),
      ];
      const hasTag = (tags: readonly string[]) =>
        eb.exists(
          eb
            .selectFrom("tags as g")
            .select("g.tag")
            .whereRef("g.subscriber_id", "=", "s.id")
            .where("g.tag", "in", [...tags]),
        );
      for (const tag of f.tags?.all ?? []) conds.push(hasTag([tag]));
      if (f.tags?.any?.length) conds.push(hasTag(f.tags.any));
      if (f.tags?.none?.length) conds.push(eb.not(hasTag(f.tags.none)));
      if (f.course) {
        const { sequence, state } = f.course;
        const enrolled = (statuses: string[] | null) => {
          let sub = eb.selectFrom("enrollments as c").select("c.id").whereRef("c.subscriber_id", "=", "s.id").where("c.sequence_id", "=", sequence);
          if (statuses) sub = sub.where("c.status", "in", statuses);
          return eb.exists(sub);
        };
        if (state === "completed") conds.push(enrolled(["completed"]));
        else if (state === "in_progress") conds.push(enrolled(["active", "paused"]));
        else conds.push(eb.not(enrolled(null)));
      }
      if (f.signedUp?.after) conds.push(eb("s.created_at", ">=", f.signedUp.after.getTime()));
      if (f.signedUp?.before) conds.push(eb("s.created_at", "<", f.signedUp.before.getTime()));
      return eb.and(conds);
    });
}

export async function audience(q: Kysely<DB>, f: AudienceFilter, sample: number): Promise<{ count: number; sample: Subscriber[] }> {
  const { count } = await audienceQuery(q, f).select(sql<number>`count(*)`.as("count")).executeTakeFirstOrThrow();
  const rows = sample > 0 ? await audienceQuery(q, f).selectAll("s").orderBy("s.created_at").orderBy("s.id").limit(sample).execute() : [];
  return { count: Number(count), sample: await hydrate(q, rows) };
}

export async function audienceZones(q: Kysely<DB>, f: AudienceFilter): Promise<string[]> {
  const rows = await audienceQuery(q, f).select("s.timezone").distinct().execute();
  return rows.map((r) => r.timezone);
}

/**
 * One INSERT … SELECT plans every delivery: nothing is looped over in JavaScript, so 100,000
 * recipients cost one statement. Each row's due time comes from its zone (json_each over the
 * per-zone instants, computed once per zone), else the fallback. On conflict (the issue was
 * scheduled before) only an unclaimed delivery that has not gone out moves: pending, or
 * cancelled earlier; a sent, skipped or claimed one is left alone.
 */
export async function planDeliveries(q: Kysely<DB>, issueId: string, f: AudienceFilter, plan: DeliveryPlan, now: Date): Promise<number> {
  const t = now.getTime();
  const seq = issueSequenceId(issueId);
  const members = audienceQuery(q, f).select(["s.id as sid", "s.timezone as tz"]);
  // One CASE arm per distinct zone of the audience (a handful), the same SQL on both backends.
  const zones = Object.entries(plan.byZone);
  const due = zones.length
    ? sql`CASE m.tz ${sql.join(
        zones.map(([zone, ms]) => sql`WHEN ${zone} THEN CAST(${ms} AS BIGINT)`),
        sql` `,
      )} ELSE CAST(${plan.fallback} AS BIGINT) END`
    : sql`CAST(${plan.fallback} AS BIGINT)`;
  await sql`
    INSERT INTO enrollments (subscriber_id, sequence_id, round, started_at, cursor, next_step_id, next_due_at, status, reason, updated_at, lane)
    SELECT m.sid, ${seq}, 1, ${t}, NULL, ${NEWSLETTER_STEP}, ${due}, 'active', NULL, ${t}, 1
    FROM (${members}) AS m
    WHERE TRUE
    ON CONFLICT (subscriber_id, sequence_id) DO UPDATE SET
      next_due_at = excluded.next_due_at, status = 'active', reason = NULL, updated_at = excluded.updated_at
    WHERE enrollments.lease_until IS NULL AND enrollments.cursor IS NULL
      AND (enrollments.status = 'active' OR (enrollments.status = 'exited' AND enrollments.reason = 'cancelled'))`.execute(q);
  const { n } = await q
    .selectFrom("enrollments")
    .select(sql<number>`count(*)`.as("n"))
    .where("sequence_id", "=", seq)
    .where("status", "=", "active")
    .executeTakeFirstOrThrow();
  return Number(n);
}

export async function cancelDeliveries(q: Kysely<DB>, issueId: string, now: Date): Promise<number> {
  const t = now.getTime();
  await q.updateTable("newsletter_issues").set({ status: "cancelled", updated_at: t }).where("id", "=", issueId).execute();
  // A claimed delivery is left to its worker, which re-reads the issue and skips it as cancelled.
  const res = await q
    .updateTable("enrollments")
    .set({ status: "exited", reason: "cancelled", updated_at: t })
    .where("sequence_id", "=", issueSequenceId(issueId))
    .where("status", "in", ["active", "paused"])
    .where("cursor", "is", null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function issueReport(q: Kysely<DB>, issueId: string): Promise<IssueReport> {
  const seq = issueSequenceId(issueId);
  const report: IssueReport = {
    issueId,
    recipients: 0,
    pending: 0,
    sent: 0,
    skipped: 0,
    failed: 0,
    cancelled: 0,
    skippedReasons: {},
    delivered: 0,
    opened: 0,
    clicked: 0,
    clicksByLink: {},
    bounced: 0,
    complained: 0,
    unsubscribed: 0,
  };
  const plans = await q
    .selectFrom("enrollments as e")
    .leftJoin("sends as d", "d.enrollment_id", "e.id")
    .select(["e.status", "e.reason", "d.status as send_status", "d.reason as send_reason", sql<number>`count(*)`.as("n")])
    .where("e.sequence_id", "=", seq)
    .groupBy(["e.status", "e.reason", "d.status", "d.reason"])
    .execute();
  for (const p of plans) {
    const n = Number(p.n);
    report.recipients += n;
    if (p.send_status === "sent") report.sent += n;
    else if (p.send_status === "skipped") {
      report.skipped += n;
      const why = p.send_reason ?? "skipped";
      report.skippedReasons[why] = (report.skippedReasons[why] ?? 0) + n;
    } else if (p.send_status === "failed" || p.send_status === "in_doubt") report.failed += n;
    else if (p.status === "active" || p.status === "paused") report.pending += n;
    else if (p.reason === "cancelled") report.cancelled += n;
    else {
      // Ended before it was claimed (left the topic, unsubscribed): skipped, with that reason.
      report.skipped += n;
      const why = p.reason ?? p.status;
      report.skippedReasons[why] = (report.skippedReasons[why] ?? 0) + n;
    }
  }
  const events = await q
    .selectFrom("events as v")
    .innerJoin("sends as d", "d.id", "v.send_id")
    .select(["v.type", sql<number>`count(distinct v.send_id)`.as("n")])
    .where("d.sequence_id", "=", seq)
    .groupBy("v.type")
    .execute();
  for (const e of events) {
    const k = e.type as keyof IssueReport;
    if (k === "delivered" || k === "opened" || k === "clicked" || k === "bounced" || k === "complained" || k === "unsubscribed") report[k] = Number(e.n);
  }
  // Clicks per link, counted once per send (the link is in the event's JSON data; read here so
  // the query stays the same on both backends).
  const clicks = await q
    .selectFrom("events as v")
    .innerJoin("sends as d", "d.id", "v.send_id")
    .select(["v.send_id", "v.data"])
    .where("d.sequence_id", "=", seq)
    .where("v.type", "=", "clicked")
    .execute();
  const seen = new Set<string>();
  for (const c of clicks) {
    const link = c.data ? (JSON.parse(c.data) as { link?: unknown }).link : undefined;
    if (typeof link !== "string" || seen.has(`${c.send_id}\u0000${link}`)) continue;
    seen.add(`${c.send_id}\u0000${link}`);
    report.clicksByLink[link] = (report.clicksByLink[link] ?? 0) + 1;
  }
  return report;
}

export async function missingRecipients(q: Kysely<DB>, issueId: string, limit: number): Promise<MissingRecipient[]> {
  const rows = await q
    .selectFrom("enrollments as e")
    .innerJoin("subscribers as s", "s.id", "e.subscriber_id")
    .leftJoin("sends as d", "d.enrollment_id", "e.id")
    .select(["s.id", "s.email", "e.status", "e.reason", "e.next_due_at", "d.status as send_status", "d.reason as send_reason"])
    .where("e.sequence_id", "=", issueSequenceId(issueId))
    .where((eb) => eb.or([eb("d.status", "is", null), eb("d.status", "!=", "sent")]))
    .orderBy("s.email")
    .limit(limit)
    .execute();
  return rows.map((r) => {
    if (r.send_status)
      return {
        subscriberId: r.id,
        email: r.email,
        state: r.send_status === "claimed" ? "sending" : r.send_status,
        reason: r.send_reason,
        dueAt: r.next_due_at === null ? null : new Date(r.next_due_at),
      };
    const pending = r.status === "active" || r.status === "paused";
    return {
      subscriberId: r.id,
      email: r.email,
      state: pending ? "pending" : r.reason === "cancelled" ? "cancelled" : "skipped",
      reason: pending ? null : r.reason,
      dueAt: r.next_due_at === null ? null : new Date(r.next_due_at),
    };
  });
}

export async function getFeedState(q: Kysely<DB>, feedId: string): Promise<FeedState | null> {
  const r = await q.selectFrom("feed_state").selectAll().where("feed_id", "=", feedId).executeTakeFirst();
  return r
    ? {
        feedId: r.feed_id,
        etag: r.etag,
        lastModified: r.last_modified,
        firstPolledAt: new Date(r.first_polled_at),
        lastPolledAt: new Date(r.last_polled_at),
        lastError: r.last_error,
        lastDigestOn: r.last_digest_on,
      }
    : null;
}

export async function saveFeedState(q: Kysely<DB>, s: FeedState): Promise<void> {
  const values = {
    etag: s.etag,
    last_modified: s.lastModified,
    last_polled_at: s.lastPolledAt.getTime(),
    last_error: s.lastError,
    last_digest_on: s.lastDigestOn,
  };
  await q
    .insertInto("feed_state")
    .values({ feed_id: s.feedId, first_polled_at: s.firstPolledAt.getTime(), ...values })
    .onConflict((oc) => oc.column("feed_id").doUpdateSet(values))
    .execute();
}

/** INSERT … ON CONFLICT DO NOTHING RETURNING: the GUIDs that come back are the new ones. */
export async function recordFeedItems(q: Kysely<DB>, feedId: string, items: readonly FeedItemInput[], now: Date): Promise<FeedItemInput[]> {
  if (items.length === 0) return [];
  const rows = await q
    .insertInto("feed_items")
    .values(
      items.map((i) => ({
        feed_id: feedId,
        guid: i.guid,
        title: i.title,
        url: i.url,
        published_at: i.publishedAt?.getTime() ?? null,
        seen_at: now.getTime(),
        issue_id: null,
        summary: i.summary ?? null,
      })),
    )
    .onConflict((oc) => oc.columns(["feed_id", "guid"]).doNothing())
    .returning("guid")
    .execute();
  const fresh = new Set(rows.map((r) => r.guid));
  return items.filter((i) => fresh.delete(i.guid));
}

export async function linkFeedItem(q: Kysely<DB>, feedId: string, guid: string, issueId: string): Promise<void> {
  await q.updateTable("feed_items").set({ issue_id: issueId }).where("feed_id", "=", feedId).where("guid", "=", guid).execute();
}

export async function pendingFeedItems(q: Kysely<DB>, feedId: string): Promise<PendingFeedItem[]> {
  const state = await q.selectFrom("feed_state").select("first_polled_at").where("feed_id", "=", feedId).executeTakeFirst();
  if (!state) return [];
  const first = state.first_polled_at;
  const rows = await q
    .selectFrom("feed_items")
    .select(["guid", "title", "url", "published_at", "summary", "seen_at"])
    .where("feed_id", "=", feedId)
    .where("issue_id", "is", null)
    .where("seen_at", ">", first)
    .where((eb) => eb.or([eb("published_at", "is", null), eb("published_at", ">=", first)]))
    .orderBy(sql`coalesce(published_at, seen_at)`)
    .orderBy("guid")
    .execute();
  return rows.map((r) => ({
    guid: r.guid,
    title: r.title,
    url: r.url,
    publishedAt: r.published_at === null ? null : new Date(Number(r.published_at)),
    summary: r.summary,
    seenAt: new Date(Number(r.seen_at)),
  }));
}
