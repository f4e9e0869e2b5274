/**
 * The PostgreSQL store: Kysely's Postgres dialect over a `pg` pool, for many workers on one
 * or several machines sharing one database. Same interfaces and the same contract suite as
 * the SQLite store (tests/store/contract.ts). Query modules: the portable Kysely in
 * src/store/sqlite/*-queries.ts runs here unchanged; what Postgres spells differently (claims
 * with FOR UPDATE SKIP LOCKED, row locks before read-then-write) is in ./claim-queries.ts.
 *
 * Adding a table or a query module for Postgres (README "When one machine is not enough"):
 * 1. add the migration to ./migrations.ts with the same id and name as its SQLite twin;
 * 2. call the SQLite query module from the new method below when its Kysely is portable
 *    (no SQLite-only functions, no read-then-write that needs a lock); otherwise write the
 *    Postgres version in a module here (claims: `FOR UPDATE SKIP LOCKED` in one UPDATE);
 * 3. `tsc` names every Store method this class still lacks; the contract suite checks them.
 */
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { DB } from "../schema.ts";
import type {
  NewBatch,
  RequeueResult,
  StatusReason,
  Advance,
  ClaimedSend,
  EnrollInput,
  EnrollResult,
  Enrollment,
  EnrollmentPlan,
  EnrollmentPosition,
  EnrollmentStatus,
  EventInput,
  PositionMove,
  SequenceVersion,
  VersionedStepStats,
  Outcome,
  KeyAnswer,
  OutcomeRecord,
  PendingBatch,
  PendingConfirmation,
  ReplanFields,
  SendRecord,
  SendStatus,
  StatusCounts,
  StepStats,
  AuditEntry,
  DailyActivity,
  Staff,
  StaffRole,
  StepQueue,
  SubscriberSearch,
  TimelineEntry,
  Store,
  Subscriber,
  SubscriberInput,
  SubscriberStatus,
  AudienceFilter,
  DeliveryPlan,
  FeedItemInput,
  FeedState,
  PendingFeedItem,
  IssueReport,
  IssueSnapshot,
  MissingRecipient,
  TopicCount,
  TopicChange,
  TopicMembership,
} from "../types.ts";
import type { AutomationRun, AutomationStats } from "../../automations/types.ts";
import * as aq from "../sqlite/automation-queries.ts";
import * as cq from "../sqlite/confirmation-queries.ts";
import * as eq from "../sqlite/enrollment-queries.ts";
import * as mq from "../sqlite/meta-queries.ts";
import * as nq from "../sqlite/newsletter-queries.ts";
import * as retention from "../sqlite/retention-queries.ts";
import * as rq from "../sqlite/report-queries.ts";
import * as sr from "../sqlite/status-reason-queries.ts";
import * as sq from "../sqlite/send-queries.ts";
import * as stq from "../sqlite/staff-queries.ts";
import * as uq from "../sqlite/subscriber-queries.ts";
import * as vq from "../sqlite/version-queries.ts";
import { PAUSE_KEY } from "../../engine/batch-delivery.ts";
import * as pq from "./claim-queries.ts";
import { PG_MIGRATIONS } from "./migrations.ts";

/** The advisory lock key migrations run under ("drip" in ASCII). */
export const MIGRATION_LOCK = 0x64726970;
const INT8 = 20;

export interface PostgresOptions {
  /** Connections in this process's pool (DRIP_DB_POOL, or `?pool=N` on the URL; default 10). */
  pool?: number;
}

/** Split drip's own `pool` parameter from the URL `pg` connects with. */
export function parsePostgresUrl(url: string): { connectionString: string; pool: number | undefined } {
  const u = new URL(url);
  const raw = u.searchParams.get("pool");
  u.searchParams.delete("pool");
  const pool = raw !== null && /^\d+$/.test(raw) && Number(raw) > 0 ? Number(raw) : undefined;
  return { connectionString: u.toString(), pool };
}

/** A `pg` pool whose int8 columns (epoch ms, ids, counts) come back as JS numbers (exact below 2^53). */
export function createPool(url: string, opts: PostgresOptions = {}): pg.Pool {
  const { connectionString, pool } = parsePostgresUrl(url);
  return new pg.Pool({
    connectionString,
    max: opts.pool ?? pool ?? 10,
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
}

/** One sentence for a database that cannot be used (no password or host in it). */
export function postgresProblem(url: string, err: unknown): string {
  const u = URL.canParse(url) ? new URL(url) : null;
  const where = u ? `${u.hostname}:${u.port || 5432}${u.pathname}` : "DATABASE_URL";
  const e = err as { code?: string; message?: string };
  const why = e.code === "ECONNREFUSED" ? "nothing is listening there" : e.code === "ENOTFOUND" ? "the host name is unknown" : (e.message ?? String(err));
  return `Cannot use the PostgreSQL database at ${where} (DATABASE_URL): ${why}.`;
}

export class PostgresStore implements Store {
  readonly db: Kysely<DB>;
  readonly pool: pg.Pool;
  private closed = false;
  /** Set on the view `transaction()` hands out: every call runs on the open transaction. */
  private inTransaction = false;
  /**
   * Transactions run again after PostgreSQL failed them: deadlocks (40P01) should not happen
   * (every path locks rows in one order, ./claim-queries.ts), so each is logged as a bug to find;
   * serialization failures (40001) are counted too.
   */
  readonly retries = { deadlock: 0, serialization: 0 };
  /** Where a retried transaction is reported (the app's log; wiring sets it). */
  onRetry: (line: string) => void = () => {};

  constructor(url: string, opts: PostgresOptions = {}) {
    this.pool = createPool(url, opts);
    // An idle client's error (the server restarted) must not crash the process: the next query reconnects.
    this.pool.on("error", () => {});
    this.db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: this.pool }) });
  }

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.tx((conn) => {
      const view = Object.create(this) as PostgresStore;
      Object.defineProperty(view, "db", { value: conn });
      Object.defineProperty(view, "inTransaction", { value: true });
      return fn(view);
    });
  }

  /** Run `fn` in one transaction (READ COMMITTED; what reads then writes locks its rows first). */
  private async tx<T>(fn: (q: Kysely<DB>) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this.db);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(fn);
      } catch (err) {
        // Postgres ends a deadlock (40P01) or a serialization failure (40001) by failing one side;
        // that transaction rolled back whole, so running it again is safe. A few tries, jittered.
        const code = (err as { code?: unknown }).code;
        if (code !== "40P01" && code !== "40001") throw err;
        if (code === "40P01") this.retries.deadlock++;
        else this.retries.serialization++;
        this.onRetry(
          `postgres: transaction ${attempt >= 5 ? "failed" : "retried"} after ${code === "40P01" ? "a deadlock" : "a serialization failure"} (${code}; attempt ${attempt}): ${(err as Error).message}`,
        );
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      }
    }
  }

  /** Apply pending migrations, one transaction each, under an advisory lock: workers starting together apply each once. */
  async migrate(): Promise<void> {
    await this.db.connection().execute(async (conn) => {
      await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
      try {
        await sql`CREATE TABLE IF NOT EXISTS drip_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`.execute(conn);
        const done = new Set((await sql<{ id: number }>`SELECT id FROM drip_migrations`.execute(conn)).rows.map((r) => r.id));
        for (const m of PG_MIGRATIONS) {
          if (done.has(m.id)) continue;
          await conn.transaction().execute(async (t) => {
            await sql.raw(m.sql).execute(t);
            await sql`INSERT INTO drip_migrations (id, name, applied_at) VALUES (${m.id}, ${m.name}, ${Date.now()})`.execute(t);
          });
        }
      } finally {
        await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
      }
    });
  }

  /** Migrations applied and pending (drip db migrate). */
  async migrationState(): Promise<{ applied: number[]; pending: number[] }> {
    const exists = await sql<{ t: string | null }>`SELECT to_regclass('drip_migrations')::text AS t`.execute(this.db);
    const applied = exists.rows[0]?.t ? (await sql<{ id: number }>`SELECT id FROM drip_migrations ORDER BY id`.execute(this.db)).rows.map((r) => r.id) : [];
    return { applied, pending: PG_MIGRATIONS.map((m) => m.id).filter((id) => !applied.includes(id)) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
  }

  getMeta(key: string): Promise<string | null> {
    return mq.getMeta(this.db, key);
  }

  setMeta(key: string, value: string | null): Promise<void> {
    return mq.setMeta(this.db, key, value);
  }

  initMeta(key: string, value: string): Promise<string> {
    return mq.initMeta(this.db, key, value);
  }

  async upsertSubscriber(input: SubscriberInput, now: Date): Promise<{ subscriber: Subscriber; created: boolean }> {
    const { created } = await this.importSubscribers([input], now);
    const subscriber = created[0] ?? (await this.findSubscriberByEmail(input.email));
    if (!subscriber) throw new Error(`subscriber ${input.email} vanished during upsert`);
    return { subscriber, created: created.length > 0 };
  }

  async importSubscribers(
    rows: readonly SubscriberInput[],
    now: Date,
    enroll?: (subscriber: Subscriber) => EnrollmentPlan | null,
  ): Promise<{ created: Subscriber[]; existing: number; enrolled: number }> {
    if (rows.length === 0) return { created: [], existing: 0, enrolled: 0 };
    return this.tx((q) => uq.importSubscribers(q, rows, now, enroll));
  }

  suppressedAmong(emails: readonly string[]): Promise<Set<string>> {
    return uq.suppressedAmong(this.db, emails);
  }

  getSubscriber(id: string): Promise<Subscriber | null> {
    return uq.getSubscriber(this.db, id);
  }

  async lockSubscriber(id: string): Promise<void> {
    await pq.lockSubscriber(this.db, id);
  }

  findSubscriberByEmail(email: string): Promise<Subscriber | null> {
    return uq.findSubscriberByEmail(this.db, email);
  }

  listSubscribers(afterId: string | null, limit: number): Promise<Subscriber[]> {
    return uq.listSubscribers(this.db, afterId, limit);
  }

  setSubscriberStatus(id: string, status: SubscriberStatus, now: Date, consent?: { source: string; at: Date; ip: string | null }): Promise<void> {
    return uq.setSubscriberStatus(this.db, id, status, now, consent);
  }

  updateSubscriber(id: string, fields: { name?: string; timezone?: string }): Promise<void> {
    return uq.updateSubscriber(this.db, id, fields);
  }

  addTag(id: string, tag: string): Promise<void> {
    return uq.addTag(this.db, id, tag);
  }

  removeTag(id: string, tag: string): Promise<void> {
    return uq.removeTag(this.db, id, tag);
  }

  isSuppressed(email: string): Promise<boolean> {
    return uq.isSuppressed(this.db, email);
  }

  suppress(email: string, reason: string, now: Date): Promise<void> {
    return uq.suppress(this.db, email, reason, now);
  }

  enroll(input: EnrollInput): Promise<EnrollResult> {
    return this.tx((q) => pq.enroll(q, input));
  }

  getEnrollment(subscriberId: string, sequenceId: string): Promise<Enrollment | null> {
    return eq.getEnrollment(this.db, subscriberId, sequenceId);
  }

  listEnrollments(subscriberId: string): Promise<Enrollment[]> {
    return eq.listEnrollments(this.db, subscriberId);
  }

  setEnrollmentStatus(id: number, status: EnrollmentStatus, reason: string | null): Promise<void> {
    return eq.setEnrollmentStatus(this.db, id, status, reason);
  }

  exitEnrollments(subscriberId: string, reason: string): Promise<void> {
    return this.tx(async (q) => {
      await pq.lockEnrollmentsOf(q, subscriberId);
      await eq.exitEnrollments(q, subscriberId, reason);
    });
  }

  leave(
    subscriberId: string,
    status: "unsubscribed" | "suppressed",
    reason: string,
    now: Date,
    event?: { type: string; data?: unknown },
    opts?: { ifNotLeft?: boolean },
  ): Promise<boolean> {
    return this.tx(async (q) => {
      await pq.lockSubscriber(q, subscriberId);
      await pq.lockEnrollmentsOf(q, subscriberId);
      return eq.leave(q, subscriberId, status, reason, now, event, opts);
    });
  }

  /** One round trip for an idle tick (./claim-queries.ts idle); inside a transaction, "look". */
  async idle(now: Date): Promise<boolean> {
    return !this.inTransaction && pq.idle(this.db, now, PAUSE_KEY);
  }

  async claimDue(now: Date, limit: number, leaseMs: number, owner = "drip"): Promise<ClaimedSend[]> {
    if (!this.inTransaction && !(await pq.claimable(this.db, now, "due"))) return [];
    return this.tx((q) => pq.claimDue(q, now, limit, leaseMs, owner));
  }

  recordOutcome(claim: ClaimedSend, outcome: Outcome, advance: Advance): Promise<boolean> {
    return this.tx((q) => sq.record(q, { claim, outcome, advance }));
  }

  createBatch(batch: NewBatch): Promise<{ lost: string[] }> {
    return this.tx((q) => pq.createBatch(q, batch));
  }

  /** One transaction per batch, as each locks its own enrollments in id order (LOCK ORDER in ./claim-queries.ts). */
  async createBatches(batches: readonly NewBatch[]): Promise<{ lost: string[] }[]> {
    const out: { lost: string[] }[] = [];
    for (const b of batches) out.push(await this.createBatch(b));
    return out;
  }

  async claimStaleBatches(now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]> {
    if (!this.inTransaction && !(await pq.claimable(this.db, now, "batches"))) return [];
    return this.tx((q) => pq.claimStaleBatches(q, now, limit, leaseMs));
  }

  async completeBatch(batchId: string, records: readonly OutcomeRecord[], leftBehind?: { answer: KeyAnswer; at: Date }): Promise<void> {
    if (!leftBehind) return this.tx((q) => pq.completeBatch(q, batchId, records));
    await this.tx(async (q) => {
      await pq.completeBatch(q, batchId, records);
      await pq.settleLeftBehind(q, batchId, leftBehind.answer, leftBehind.at);
    });
  }

  async retryBatchLater(batchId: string, at: Date, reason: string, attempts: number, keyWindowFrom?: Date): Promise<void> {
    const window = keyWindowFrom ? { created_at: keyWindowFrom.getTime() } : {};
    await this.db
      .updateTable("batches")
      .set({ lease_until: at.getTime(), reason, attempts, ...window })
      .where("id", "=", batchId)
      .execute();
  }

  defer(claim: ClaimedSend, dueAt: Date): Promise<boolean> {
    return this.tx((q) => sq.defer(q, claim, dueAt));
  }

  retryLater(claim: ClaimedSend, at: Date, reason: string): Promise<boolean> {
    return this.tx((q) => sq.retryLater(q, claim, at, reason));
  }

  replanEnrollment(id: number, at: Date, set?: ReplanFields): Promise<"planned" | "deferred"> {
    return this.tx((q) => sq.replan(q, id, at, set));
  }

  claimReplans(now: Date, limit: number): Promise<{ enrollment: Enrollment; subscriber: Subscriber }[]> {
    return sq.claimReplans(this.db, now, limit);
  }

  async applyReplan(id: number, at: Date | null, now: Date): Promise<void> {
    await this.tx((q) => pq.applyReplan(q, id, at, now));
  }

  recordEvent(event: EventInput): Promise<boolean> {
    return rq.recordEvent(this.db, event);
  }

  countPrunableEvents(before: Date): Promise<number> {
    return retention.countPrunableEvents(this.db, before);
  }

  pruneEvents(before: Date, limit: number, afterId?: number): Promise<{ deleted: number; lastId: number }> {
    return retention.pruneEvents(this.db, before, limit, afterId);
  }

  findSendByProviderId(id: string): Promise<SendRecord | null> {
    return rq.findSendByProviderId(this.db, id);
  }

  lastEngagedSend(subscriberId: string): Promise<string | null> {
    return rq.lastEngagedSend(this.db, subscriberId);
  }

  stepStats(sequenceId?: string): Promise<StepStats[]> {
    return rq.stepStats(this.db, sequenceId);
  }

  subscriberStatuses(ids: readonly string[]): Promise<Map<string, SubscriberStatus>> {
    return rq.subscriberStatuses(this.db, ids);
  }

  currentSubscribers(ids: readonly string[]): Promise<Map<string, Subscriber>> {
    return rq.currentSubscribers(this.db, ids);
  }

  queueConfirmation(subscriberId: string, now: Date, since: Date, max: number): Promise<boolean> {
    // The subscriber's row is locked while counting and inserting: concurrent signups cannot both slip under the cap.
    return this.tx((q) => pq.queueConfirmation(q, subscriberId, now, since, max));
  }

  async claimConfirmations(now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]> {
    if (!this.inTransaction && !(await pq.claimable(this.db, now, "confirmations"))) return [];
    return this.tx((q) => pq.claimConfirmations(q, now, limit, leaseMs));
  }

  finishConfirmation(id: number, status: "sent" | "failed", now: Date, reason?: string): Promise<void> {
    return cq.finishConfirmation(this.db, id, status, now, reason);
  }

  retryConfirmationLater(id: number, at: Date, reason: string): Promise<void> {
    return cq.retryConfirmationLater(this.db, id, at, reason);
  }

  forgetSubscriber(id: string): Promise<void> {
    return this.tx(async (q) => {
      // Their row, then their pending batches' rows (a concurrent scrub or recovery sees the payload
      // before or after, whole), then their enrollments and sends: the lock order of ./claim-queries.ts,
      // taken before the delete cascades through them in an order of its own.
      await pq.lockSubscriber(q, id);
      await sql`SELECT 1 FROM batches WHERE status = 'pending' AND id IN (SELECT batch_id FROM sends WHERE subscriber_id = ${id} AND batch_id IS NOT NULL) ORDER BY id FOR UPDATE`.execute(
        q,
      );
      await pq.lockEnrollmentsOf(q, id);
      await sql`SELECT 1 FROM sends WHERE subscriber_id = ${id} ORDER BY id FOR UPDATE`.execute(q);
      await uq.forgetSubscriber(q, id);
    });
  }

  getSend(id: string): Promise<SendRecord | null> {
    return rq.getSend(this.db, id);
  }

  listSends(filter: { subscriberId?: string; sequenceId?: string; statuses?: readonly SendStatus[]; limit?: number }): Promise<SendRecord[]> {
    return rq.listSends(this.db, filter);
  }

  status(): Promise<StatusCounts> {
    return pq.status(this.db);
  }

  setTopic(subscriberId: string, topicId: string, change: TopicChange): Promise<void> {
    return this.tx((q) => nq.setTopic(q, subscriberId, topicId, change));
  }

  listTopicMemberships(subscriberId: string): Promise<TopicMembership[]> {
    return nq.listTopicMemberships(this.db, subscriberId);
  }

  topicCounts(): Promise<TopicCount[]> {
    return nq.topicCounts(this.db);
  }

  topicMembersAmong(topicId: string, subscriberIds: readonly string[]): Promise<Set<string>> {
    return nq.topicMembersAmong(this.db, topicId, subscriberIds);
  }

  saveIssue(issue: Omit<IssueSnapshot, "createdAt" | "updatedAt">, now: Date): Promise<void> {
    return nq.saveIssue(this.db, issue, now);
  }

  getIssue(id: string): Promise<IssueSnapshot | null> {
    return nq.getIssue(this.db, id);
  }

  listIssues(): Promise<IssueSnapshot[]> {
    return nq.listIssues(this.db);
  }

  audience(filter: AudienceFilter, sample: number): Promise<{ count: number; sample: Subscriber[] }> {
    return nq.audience(this.db, filter, sample);
  }

  audienceZones(filter: AudienceFilter): Promise<string[]> {
    return nq.audienceZones(this.db, filter);
  }

  planDeliveries(issueId: string, filter: AudienceFilter, plan: DeliveryPlan, now: Date): Promise<number> {
    return this.tx((q) => nq.planDeliveries(q, issueId, filter, plan, now));
  }

  cancelDeliveries(issueId: string, now: Date): Promise<number> {
    return this.tx((q) => nq.cancelDeliveries(q, issueId, now));
  }

  issueReport(issueId: string): Promise<IssueReport> {
    return nq.issueReport(this.db, issueId);
  }

  missingRecipients(issueId: string, limit: number): Promise<MissingRecipient[]> {
    return nq.missingRecipients(this.db, issueId, limit);
  }

  getFeedState(feedId: string): Promise<FeedState | null> {
    return nq.getFeedState(this.db, feedId);
  }

  saveFeedState(state: FeedState): Promise<void> {
    return nq.saveFeedState(this.db, state);
  }

  recordFeedItems(feedId: string, items: readonly FeedItemInput[], now: Date): Promise<FeedItemInput[]> {
    return this.tx((q) => nq.recordFeedItems(q, feedId, items, now));
  }

  linkFeedItem(feedId: string, guid: string, issueId: string): Promise<void> {
    return nq.linkFeedItem(this.db, feedId, guid, issueId);
  }

  pendingFeedItems(feedId: string): Promise<PendingFeedItem[]> {
    return nq.pendingFeedItems(this.db, feedId);
  }

  liveVersion(sequenceId: string): Promise<SequenceVersion | null> {
    return vq.liveVersion(this.db, sequenceId);
  }

  listVersions(sequenceId: string): Promise<SequenceVersion[]> {
    return vq.listVersions(this.db, sequenceId);
  }

  recordVersion(v: { sequenceId: string; hash: string; snapshot: unknown; changes: unknown; at: Date }): Promise<SequenceVersion> {
    // Numbers are read then written: one writer per sequence at a time (a transaction-scoped advisory lock).
    return this.tx(async (q) => {
      await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK + 1}, hashtext(${v.sequenceId}))`.execute(q);
      return vq.recordVersion(q, v);
    });
  }

  enrollmentPositions(sequenceId: string): Promise<EnrollmentPosition[]> {
    return vq.enrollmentPositions(this.db, sequenceId);
  }

  moveEnrollments(moves: readonly PositionMove[]): Promise<{ planned: number; deferred: number }> {
    return this.tx((q) => vq.moveEnrollments(q, moves));
  }

  renameStep(sequenceId: string, from: string, to: string): Promise<void> {
    return this.tx((q) => vq.renameStep(q, sequenceId, from, to));
  }

  stepStatsByVersion(sequenceId?: string): Promise<VersionedStepStats[]> {
    return vq.stepStatsByVersion(this.db, sequenceId);
  }

  // Automations: the portable queries of ../sqlite/automation-queries.ts (the run's unique key
  // answers a duplicate with ON CONFLICT DO NOTHING on both databases).
  automationRunSeen(automationId: string, subscriberId: string, key: string): Promise<boolean> {
    return aq.automationRunSeen(this.db, automationId, subscriberId, key);
  }

  recordAutomationRun(run: Omit<AutomationRun, "id">): Promise<boolean> {
    return aq.recordAutomationRun(this.db, run);
  }

  automationRuns(subscriberId: string): Promise<AutomationRun[]> {
    return aq.automationRuns(this.db, subscriberId);
  }

  automationStats(): Promise<AutomationStats[]> {
    return aq.automationStats(this.db);
  }

  pendingCompletions(limit: number): Promise<Enrollment[]> {
    return aq.pendingCompletions(this.db, limit);
  }

  markCompletionFired(enrollmentId: number, round: number): Promise<void> {
    return aq.markCompletionFired(this.db, enrollmentId, round);
  }

  subscriberTimeline(subscriberId: string): Promise<TimelineEntry[]> {
    return rq.subscriberTimeline(this.db, subscriberId);
  }

  stepQueue(sequenceId: string, until: Date): Promise<StepQueue[]> {
    return rq.stepQueue(this.db, sequenceId, until);
  }

  dailyActivity(from: Date, until: Date, sequenceId?: string): Promise<DailyActivity[]> {
    return rq.dailyActivity(this.db, from, until, sequenceId);
  }

  searchSubscribers(search: SubscriberSearch): Promise<Subscriber[]> {
    return rq.searchSubscribers(this.db, search, true);
  }

  resolveSend(sendId: string, reason: string): Promise<boolean> {
    return rq.resolveSend(this.db, sendId, reason);
  }

  skippedByStep(sequenceId?: string): Promise<{ sequenceId: string; stepId: string; reason: string; count: number }[]> {
    return rq.skippedByStep(this.db, sequenceId);
  }

  statusReasons(subscriberIds: readonly string[]): Promise<Map<string, StatusReason>> {
    return sr.statusReasons(this.db, subscriberIds);
  }

  requeueSend(sendId: string, now: Date): Promise<RequeueResult> {
    return this.tx((q) => pq.requeueSend(q, sendId, now));
  }

  putStaff(email: string, role: StaffRole, now: Date): Promise<{ staff: Staff; created: boolean }> {
    return this.tx((q) => stq.putStaff(q, email, role, now));
  }

  findStaffByEmail(email: string): Promise<Staff | null> {
    return stq.findStaffByEmail(this.db, email);
  }

  getStaff(id: string): Promise<Staff | null> {
    return stq.getStaff(this.db, id);
  }

  listStaff(): Promise<Staff[]> {
    return stq.listStaff(this.db);
  }

  removeStaff(id: string): Promise<boolean> {
    return this.tx((q) => stq.removeStaff(q, id));
  }

  setStaffTotp(id: string, secret: string | null): Promise<void> {
    return stq.setStaffTotp(this.db, id, secret);
  }

  getStaffTotpSecret(id: string): Promise<string | null> {
    return stq.getStaffTotpSecret(this.db, id);
  }

  createSignInLink(staffId: string, tokenHash: string, expiresAt: Date, now: Date): Promise<void> {
    return stq.createSignInLink(this.db, staffId, tokenHash, expiresAt, now);
  }

  peekSignInLink(tokenHash: string, now: Date): Promise<Staff | null> {
    return stq.peekSignInLink(this.db, tokenHash, now);
  }

  consumeSignInLink(tokenHash: string, now: Date): Promise<Staff | null> {
    return this.tx((q) => stq.consumeSignInLink(q, tokenHash, now));
  }

  createSession(staffId: string, idHash: string, expiresAt: Date, now: Date): Promise<void> {
    return stq.createSession(this.db, staffId, idHash, expiresAt, now);
  }

  getSession(idHash: string, now: Date): Promise<Staff | null> {
    return stq.getSession(this.db, idHash, now);
  }

  revokeSession(idHash: string, now: Date): Promise<void> {
    return stq.revokeSession(this.db, idHash, now);
  }

  appendAudit(entry: { at: Date; staffId: string | null; staffEmail: string; action: string; target?: string | null; detail?: string | null }): Promise<void> {
    return stq.appendAudit(this.db, entry);
  }

  listAudit(limit: number, beforeId?: number): Promise<AuditEntry[]> {
    return stq.listAudit(this.db, limit, beforeId);
  }
}
