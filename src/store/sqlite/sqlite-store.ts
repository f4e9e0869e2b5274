/**
 * The embedded store: Kysely over better-sqlite3, one file (or :memory: in tests).
 * WAL lets readers (status, HTTP pages) run beside the writer; busy_timeout makes a second
 * process wait instead of failing; claims run in BEGIN IMMEDIATE so two workers can never
 * read the same due rows before either writes (SQLite's answer to FOR UPDATE SKIP LOCKED).
 */
import { resolve } from "node:path";
import { setImmediate } from "node:timers";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
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
  EnrollmentStatus,
  Outcome,
  EnrollmentPosition,
  EventInput,
  PositionMove,
  SequenceVersion,
  VersionedStepStats,
  KeyAnswer,
  OutcomeRecord,
  PendingBatch,
  PendingConfirmation,
  ReplanFields,
  StepStats,
  SendRecord,
  SendStatus,
  Store,
  StatusCounts,
  Staff,
  StaffRole,
  StepQueue,
  DailyActivity,
  AuditEntry,
  SubscriberSearch,
  TimelineEntry,
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
import * as aq from "./automation-queries.ts";
import * as cq from "./confirmation-queries.ts";
import * as eq from "./enrollment-queries.ts";
import { createPrivately, privateSideFiles } from "./file-modes.ts";
import * as mq from "./meta-queries.ts";
import * as nq from "./newsletter-queries.ts";
import { MIGRATIONS } from "./migrations.ts";
import * as retention from "./retention-queries.ts";
import * as rq from "./report-queries.ts";
import * as sr from "./status-reason-queries.ts";
import * as retries from "./retry-queries.ts";
import * as sq from "./send-queries.ts";
import * as stq from "./staff-queries.ts";
import * as uq from "./subscriber-queries.ts";
import * as vq from "./version-queries.ts";
import { type LeaveStatements, type TxStatements, leaveNow, leaveStatements, txStatements } from "./hot-statements.ts";

/** `file:./data/drip.db` → ./data/drip.db; `:memory:` stays. */
export function sqlitePath(url: string): string {
  if (url === ":memory:" || url === "file::memory:") return ":memory:";
  return url.replace(/^file:(\/\/)?/, "");
}

interface Shared {
  raw: Database.Database;
  db: Kysely<DB>;
  refs: number;
  tx: TxStatements;
  /** Prepared on first use (after the migrations made the tables). */
  leave?: LeaveStatements;
  /** Transactions asked for and not yet started: the next group commit takes them (see transaction()). */
  waiting: Waiting[];
  /** A group commit is on its way to the connection: later arrivals join it. */
  groupPending: boolean;
}

/** A transaction waiting for its group: its body, and where its result goes once the group committed. */
interface Waiting {
  fn: (tx: Store) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * At most this many transactions in one group commit: a member's answer waits for the whole
 * group's COMMIT, so the group is kept small enough that nobody waits long for the others.
 */
export const GROUP_LIMIT = 32;

/**
 * One connection per database file per process. better-sqlite3 is synchronous: a second
 * connection in the same process waiting on the write lock (busy_timeout) would block the
 * only thread while the first holds BEGIN IMMEDIATE across an await, and neither could
 * finish. Sharing one connection lets Kysely's driver queue the transactions instead.
 * Separate processes still coordinate through SQLite's file locks.
 */
const shared = new Map<string, Shared>();

function open(path: string): Shared {
  const raw = new Database(path);
  raw.pragma("journal_mode = WAL");
  raw.pragma("busy_timeout = 5000");
  raw.pragma("foreign_keys = ON");
  // NORMAL is durable across process crashes in WAL mode (only power loss can drop the last commit).
  raw.pragma("synchronous = NORMAL");
  // Temporary tables, sort trees and the statement journals a group commit's savepoints keep
  // (the pages a member changed, for ROLLBACK TO) in memory: past 64 KiB SQLite otherwise moves
  // a statement journal to a temporary file, and every write of a group then goes through it
  // (a one-click unsubscribe's statements took four times as long).
  raw.pragma("temp_store = MEMORY");
  return {
    raw,
    db: new Kysely<DB>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) }),
    refs: 0,
    tx: txStatements(raw),
    waiting: [],
    groupPending: false,
  };
}

/**
 * Kysely's SQLite driver prepares every statement afresh; preparing costs about as much as
 * running a small one. Queries are built from a fixed set of shapes, so their SQL text repeats:
 * keep the prepared statements (bounded). Safe because the driver runs one query at a time and
 * never leaves an iterator open across queries (we do not stream).
 */
function withStatementCache(raw: Database.Database): Database.Database {
  const cache = new Map<string, Database.Statement>();
  return new Proxy(raw, {
    get(target, prop, receiver) {
      if (prop !== "prepare") {
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return (sql: string) => {
        let stmt = cache.get(sql);
        if (!stmt) {
          if (cache.size >= 1000) cache.clear();
          stmt = target.prepare(sql);
          cache.set(sql, stmt);
        }
        return stmt;
      };
    },
  });
}

export class SqliteStore implements Store {
  readonly db: Kysely<DB>;
  private readonly raw: Database.Database;
  private readonly entry: Shared;
  private readonly key: string | null;
  private closed = false;
  /** Set on the view `transaction()` hands out: every call runs on the open transaction. */
  private inTransaction = false;

  constructor(url: string) {
    const path = sqlitePath(url);
    if (path === ":memory:") {
      // Every in-memory store is its own database.
      this.key = null;
      this.entry = open(path);
      ({ raw: this.raw, db: this.db } = this.entry);
      return;
    }
    this.key = resolve(path);
    let entry = shared.get(this.key);
    if (!entry) {
      // A new database is private (0600 in a 0700 directory): it holds the signing secret.
      const created = createPrivately(path);
      entry = open(path);
      if (created) privateSideFiles(path);
      shared.set(this.key, entry);
    }
    entry.refs++;
    this.entry = entry;
    ({ raw: this.raw, db: this.db } = entry);
  }

  /** The transaction statements (./hot-statements.ts), shared by every store on this connection. */
  private get txs(): TxStatements {
    return this.entry.tx;
  }

  /**
   * Run `fn` with a view of this store whose every call belongs to one BEGIN IMMEDIATE
   * transaction: all of it commits, or none (the lifecycle door's "one operation, one
   * transaction"). Nested calls on the view join the same transaction.
   */
  /*
   * Group commit: the transactions asked for in the same turn of the event loop (say, one-click
   * unsubscribes that arrived on several connections at once) run one after another inside one
   * BEGIN IMMEDIATE … COMMIT, each in its own SAVEPOINT. A member that throws is rolled back to
   * its savepoint, alone, and its caller gets the error; the others go on. Every caller hears
   * back only after the COMMIT its changes belong to (nobody is answered before their changes are
   * stored, with the durability of a commit of their own: synchronous = NORMAL in WAL), and
   * when that COMMIT fails, or SQLite rolled the whole transaction back on its own (SQLITE_FULL,
   * SQLITE_IOERR…), every member gets the error: nothing of theirs is stored. Serial execution
   * as before, so each member sees the members before it, and one commit (one set of WAL
   * pages, pages several members touched written once) for the group. A group of one is
   * exactly the old transaction, with no savepoint.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    return new Promise<T>((resolve, reject) => {
      this.entry.waiting.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      this.scheduleGroup();
    });
  }

  /**
   * The next group starts after this turn's I/O callbacks (setImmediate runs after the poll
   * phase), so requests read in the same turn join it; it takes the waiting transactions once it
   * holds the connection, so those that arrived while another group ran join it too.
   */
  private scheduleGroup(): void {
    const entry = this.entry;
    if (entry.groupPending || entry.waiting.length === 0) return;
    entry.groupPending = true;
    setImmediate(() => {
      this.db
        .connection()
        .execute(async (conn) => {
          entry.groupPending = false;
          const group = entry.waiting.splice(0, GROUP_LIMIT);
          this.scheduleGroup(); // more than a group's worth waiting: the next group queues behind this one
          await this.commitGroup(conn, group);
        })
        // commitGroup hands every error to the members it belongs to; this is the connection
        // itself failing (a closed store): whoever is still waiting hears it.
        .catch((err) => {
          entry.groupPending = false;
          for (const member of entry.waiting.splice(0)) member.reject(err);
        });
    });
  }

  /** Run a group on the held connection (see transaction()); settles every member. */
  private async commitGroup(conn: Kysely<DB>, group: Waiting[]): Promise<void> {
    const txs = this.txs;
    const view = Object.create(this) as SqliteStore;
    Object.defineProperty(view, "db", { value: conn });
    Object.defineProperty(view, "inTransaction", { value: true });
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      txs.begin.run();
      try {
        if (group.length === 1) results.push({ ok: true, value: await group[0]!.fn(view) });
        else {
          for (const member of group) {
            txs.savepoint.run();
            try {
              const value = await member.fn(view);
              txs.release.run();
              results.push({ ok: true, value });
            } catch (error) {
              // SQLite ended the whole transaction on its own: the members before lost their changes too.
              if (!this.raw.inTransaction) throw error;
              txs.rollbackTo.run();
              txs.release.run();
              results.push({ ok: false, error });
            }
          }
        }
        txs.commit.run();
      } catch (err) {
        this.rollbackAfter();
        throw err;
      }
    } catch (err) {
      for (const member of group) member.reject(err);
      return;
    }
    group.forEach((member, i) => {
      const r = results[i]!;
      if (r.ok) member.resolve(r.value);
      else member.reject(r.error);
    });
  }

  /**
   * After an error inside BEGIN IMMEDIATE: roll back. When SQLite already rolled back on its own
   * (SQLITE_FULL, SQLITE_IOERR…) the original error is the one that says what happened; a
   * rollback that failed with the transaction still open is a problem of its own.
   */
  private rollbackAfter(): void {
    try {
      this.txs.rollback.run();
    } catch (rollbackErr) {
      if (this.raw.inTransaction) throw rollbackErr;
    }
  }

  /** Run `fn` in BEGIN IMMEDIATE: takes the write lock up front, so read-then-write cannot race. */
  private async immediate<T>(fn: (q: Kysely<DB>) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this.db);
    return this.db.connection().execute(async (conn) => {
      this.txs.begin.run();
      try {
        const result = await fn(conn);
        this.txs.commit.run();
        return result;
      } catch (err) {
        this.rollbackAfter();
        throw err;
      }
    });
  }

  async migrate(): Promise<void> {
    this.raw.exec("CREATE TABLE IF NOT EXISTS drip_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const done = new Set(this.raw.prepare("SELECT id FROM drip_migrations").pluck().all() as number[]);
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue;
      this.raw
        .transaction(() => {
          this.raw.exec(m.sql);
          this.raw.prepare("INSERT INTO drip_migrations (id, name, applied_at) VALUES (?, ?, ?)").run(m.id, m.name, Date.now());
        })
        .immediate();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const entry = this.key ? shared.get(this.key) : undefined;
    if (entry && --entry.refs > 0) return;
    if (this.key) shared.delete(this.key);
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
    return this.immediate((q) => uq.importSubscribers(q, rows, now, enroll));
  }

  suppressedAmong(emails: readonly string[]): Promise<Set<string>> {
    return uq.suppressedAmong(this.db, emails);
  }

  getSubscriber(id: string): Promise<Subscriber | null> {
    return uq.getSubscriber(this.db, id);
  }

  /** SQLite's write transactions (BEGIN IMMEDIATE) already run one at a time: nothing to lock. */
  async lockSubscriber(_id: string): Promise<void> {}

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
    return this.immediate((q) => eq.enroll(q, input));
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
    return eq.exitEnrollments(this.db, subscriberId, reason);
  }

  leave(
    subscriberId: string,
    status: "unsubscribed" | "suppressed",
    reason: string,
    now: Date,
    event?: { type: string; data?: unknown },
    opts?: { ifNotLeft?: boolean },
  ): Promise<boolean> {
    // The one-click unsubscribe's write: prepared statements on the held connection (./hot-statements.ts).
    return this.immediate(async () =>
      leaveNow((this.entry.leave ??= leaveStatements(this.raw)), subscriberId, status, reason, now, event, opts?.ifNotLeft === true),
    );
  }

  claimDue(now: Date, limit: number, leaseMs: number, owner = "drip"): Promise<ClaimedSend[]> {
    return this.immediate((q) => sq.claimDue(q, now, limit, leaseMs, owner));
  }

  recordOutcome(claim: ClaimedSend, outcome: Outcome, advance: Advance): Promise<boolean> {
    return this.immediate((q) => sq.record(q, { claim, outcome, advance }));
  }

  async createBatch(batch: NewBatch): Promise<{ lost: string[] }> {
    return (await this.createBatches([batch]))[0]!;
  }

  createBatches(batches: readonly NewBatch[]): Promise<{ lost: string[] }[]> {
    return this.immediate((q) => sq.createBatches(q, batches));
  }

  claimStaleBatches(now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]> {
    return this.immediate((q) => sq.claimStaleBatches(q, now, limit, leaseMs));
  }

  async completeBatch(batchId: string, records: readonly OutcomeRecord[], leftBehind?: { answer: KeyAnswer; at: Date }): Promise<void> {
    await this.immediate(async (q) => {
      await sq.completeBatch(q, batchId, records);
      if (leftBehind) await retries.settleLeftBehind(q, batchId, leftBehind.answer, leftBehind.at);
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
    return this.immediate((q) => sq.defer(q, claim, dueAt));
  }

  retryLater(claim: ClaimedSend, at: Date, reason: string): Promise<boolean> {
    return this.immediate((q) => sq.retryLater(q, claim, at, reason));
  }

  replanEnrollment(id: number, at: Date, set?: ReplanFields): Promise<"planned" | "deferred"> {
    return this.immediate((q) => sq.replan(q, id, at, set));
  }

  claimReplans(now: Date, limit: number): Promise<{ enrollment: Enrollment; subscriber: Subscriber }[]> {
    return sq.claimReplans(this.db, now, limit);
  }

  async applyReplan(id: number, at: Date | null, now: Date): Promise<void> {
    await this.immediate((q) => sq.applyReplan(q, id, at, now));
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
    // Counted and inserted under the write lock: concurrent signups cannot both slip under the cap.
    return this.immediate((q) => cq.queueConfirmation(q, subscriberId, now, since, max));
  }

  claimConfirmations(now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]> {
    return this.immediate((q) => cq.claimConfirmations(q, now, limit, leaseMs));
  }

  finishConfirmation(id: number, status: "sent" | "failed", now: Date, reason?: string): Promise<void> {
    return cq.finishConfirmation(this.db, id, status, now, reason);
  }

  retryConfirmationLater(id: number, at: Date, reason: string): Promise<void> {
    return cq.retryConfirmationLater(this.db, id, at, reason);
  }

  forgetSubscriber(id: string): Promise<void> {
    return this.immediate((q) => uq.forgetSubscriber(q, id));
  }

  getSend(id: string): Promise<SendRecord | null> {
    return rq.getSend(this.db, id);
  }

  listSends(filter: { subscriberId?: string; sequenceId?: string; statuses?: readonly SendStatus[]; limit?: number }): Promise<SendRecord[]> {
    return rq.listSends(this.db, filter);
  }

  status(): Promise<StatusCounts> {
    return rq.status(this.db);
  }

  setTopic(subscriberId: string, topicId: string, change: TopicChange): Promise<void> {
    return this.immediate((q) => nq.setTopic(q, subscriberId, topicId, change));
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
    return this.immediate((q) => nq.planDeliveries(q, issueId, filter, plan, now));
  }

  cancelDeliveries(issueId: string, now: Date): Promise<number> {
    return this.immediate((q) => nq.cancelDeliveries(q, issueId, now));
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
    return this.immediate((q) => nq.recordFeedItems(q, feedId, items, now));
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
    return this.immediate((q) => vq.recordVersion(q, v));
  }

  enrollmentPositions(sequenceId: string): Promise<EnrollmentPosition[]> {
    return vq.enrollmentPositions(this.db, sequenceId);
  }

  moveEnrollments(moves: readonly PositionMove[]): Promise<{ planned: number; deferred: number }> {
    return this.immediate((q) => vq.moveEnrollments(q, moves));
  }

  renameStep(sequenceId: string, from: string, to: string): Promise<void> {
    return this.immediate((q) => vq.renameStep(q, sequenceId, from, to));
  }

  stepStatsByVersion(sequenceId?: string): Promise<VersionedStepStats[]> {
    return vq.stepStatsByVersion(this.db, sequenceId);
  }

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
    return rq.searchSubscribers(this.db, search);
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
    return this.immediate((q) => retries.requeueSend(q, sendId, now));
  }

  putStaff(email: string, role: StaffRole, now: Date): Promise<{ staff: Staff; created: boolean }> {
    return this.immediate((q) => stq.putStaff(q, email, role, now));
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
    return this.immediate((q) => stq.removeStaff(q, id));
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
    return this.immediate((q) => stq.consumeSignInLink(q, tokenHash, now));
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
