/**
 * The embedded store: Kysely over better-sqlite3, one file (or :memory: in tests).
 * WAL lets readers (status, HTTP pages) run beside the writer; busy_timeout makes a second
 * process wait instead of failing; claims run in BEGIN IMMEDIATE so two workers can never
 * read the same due rows before either writes (SQLite's answer to FOR UPDATE SKIP LOCKED).
 */
import { resolve } from "node:path";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import type { DB, SubscribersTable } from "../schema.ts";
import { HELD_BY_BATCH, emailHash, emailKey, newSubscriberId, toEnrollment, toSend, toSubscriber, zeroCounts } from "../shared.ts";
import type {
  Advance,
  ClaimedSend,
  EnrollResult,
  Enrollment,
  EnrollmentPlan,
  EnrollmentStatus,
  Outcome,
  EventInput,
  OutcomeRecord,
  PendingBatch,
  PendingConfirmation,
  ReplanFields,
  StepStats,
  SendRecord,
  SendStatus,
  Store,
  StatusCounts,
  Subscriber,
  SubscriberInput,
  SubscriberStatus,
} from "../types.ts";
import { createPrivately, privateSideFiles } from "./file-modes.ts";
import { hydrate } from "./hydrate.ts";
import * as lq from "./lifecycle-queries.ts";
import * as sq from "./send-queries.ts";
import { MIGRATIONS } from "./migrations.ts";


/** `file:./data/drip.db` → ./data/drip.db; `:memory:` stays. */
export function sqlitePath(url: string): string {
  if (url === ":memory:" || url === "file::memory:") return ":memory:";
  return url.replace(/^file:(\/\/)?/, "");
}

interface Shared {
  raw: Database.Database;
  db: Kysely<DB>;
  refs: number;
}

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
  return { raw, db: new Kysely<DB>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) }), refs: 0 };
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
  private readonly key: string | null;
  private closed = false;
  /** Set on the view `transaction()` hands out: every call runs on the open transaction. */
  private inTransaction = false;

  constructor(url: string) {
    const path = sqlitePath(url);
    if (path === ":memory:") {
      // Every in-memory store is its own database.
      this.key = null;
      ({ raw: this.raw, db: this.db } = open(path));
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
    ({ raw: this.raw, db: this.db } = entry);
  }

  /**
   * Run `fn` with a view of this store whose every call belongs to one BEGIN IMMEDIATE
   * transaction: all of it commits, or none (the lifecycle door's "one operation, one
   * transaction"). Nested calls on the view join the same transaction.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.immediate((conn) => {
      const view = Object.create(this) as SqliteStore;
      Object.defineProperty(view, "db", { value: conn });
      Object.defineProperty(view, "inTransaction", { value: true });
      return fn(view);
    });
  }

  /** Run `fn` in BEGIN IMMEDIATE: takes the write lock up front, so read-then-write cannot race. */
  private async immediate<T>(fn: (q: Kysely<DB>) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this.db);
    return this.db.connection().execute(async (conn) => {
      await sql`BEGIN IMMEDIATE`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`COMMIT`.execute(conn);
        return result;
      } catch (err) {
        try {
          await sql`ROLLBACK`.execute(conn);
        } catch (rollbackErr) {
          // SQLite already rolled back on its own (SQLITE_FULL, SQLITE_IOERR…): the original
          // error is the one that says what happened. A rollback that failed with the
          // transaction still open is a problem of its own.
          if (this.raw.inTransaction) throw rollbackErr;
        }
        throw err;
      }
    });
  }

  async migrate(): Promise<void> {
    this.raw.exec("CREATE TABLE IF NOT EXISTS drip_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const done = new Set(this.raw.prepare("SELECT id FROM drip_migrations").pluck().all() as number[]);
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue;
      this.raw.transaction(() => {
        this.raw.exec(m.sql);
        this.raw.prepare("INSERT INTO drip_migrations (id, name, applied_at) VALUES (?, ?, ?)").run(m.id, m.name, Date.now());
      }).immediate();
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

  async getMeta(key: string): Promise<string | null> {
    const row = await this.db.selectFrom("meta").select("value").where("key", "=", key).executeTakeFirst();
    return row?.value ?? null;
  }

  async setMeta(key: string, value: string | null): Promise<void> {
    if (value === null) await this.db.deleteFrom("meta").where("key", "=", key).execute();
    else await this.db.insertInto("meta").values({ key, value }).onConflict((oc) => oc.column("key").doUpdateSet({ value })).execute();
  }

  async initMeta(key: string, value: string): Promise<string> {
    await this.db.insertInto("meta").values({ key, value }).onConflict((oc) => oc.column("key").doNothing()).execute();
    return (await this.getMeta(key)) ?? value;
  }

  private row(input: SubscriberInput, now: Date): SubscribersTable {
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
      unsubscribed_at: null,
    };
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
    return this.immediate(async (q) => {
      const created: Subscriber[] = [];
      let enrolled = 0;
      // One statement per row inside one transaction: SQLite's fastest safe bulk path,
      // and the unique email_key makes a second import of the same file a no-op.
      for (const input of rows) {
        const row = this.row(input, now);
        const res = await q.insertInto("subscribers").values(row).onConflict((oc) => oc.column("email_key").doNothing()).executeTakeFirst();
        if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) continue;
        const tags = [...new Set(input.tags ?? [])];
        if (tags.length) await q.insertInto("tags").values(tags.map((tag) => ({ subscriber_id: row.id, tag }))).execute();
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
    });
  }

  async suppressedAmong(emails: readonly string[]): Promise<Set<string>> {
    if (emails.length === 0) return new Set();
    const byHash = new Map(emails.map((e) => [emailHash(e), emailKey(e)]));
    const rows = await this.db.selectFrom("suppressions").select("email_hash").where("email_hash", "in", [...byHash.keys()]).execute();
    return new Set(rows.map((r) => byHash.get(r.email_hash)!));
  }

  async getSubscriber(id: string): Promise<Subscriber | null> {
    const row = await this.db.selectFrom("subscribers").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? ((await hydrate(this.db, [row]))[0] ?? null) : null;
  }

  async findSubscriberByEmail(email: string): Promise<Subscriber | null> {
    const row = await this.db.selectFrom("subscribers").selectAll().where("email_key", "=", emailKey(email)).executeTakeFirst();
    return row ? ((await hydrate(this.db, [row]))[0] ?? null) : null;
  }

  async listSubscribers(afterId: string | null, limit: number): Promise<Subscriber[]> {
    let q = this.db.selectFrom("subscribers").selectAll().orderBy("id").limit(limit);
    if (afterId !== null) q = q.where("id", ">", afterId);
    return hydrate(this.db, await q.execute());
  }

  async setSubscriberStatus(id: string, status: SubscriberStatus, now: Date, consent?: { source: string; at: Date; ip: string | null }): Promise<void> {
    const leaving = status === "unsubscribed" || status === "suppressed";
    await this.db
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

  async updateSubscriber(id: string, fields: { name?: string; timezone?: string }): Promise<void> {
    const set: Partial<SubscribersTable> = {};
    if (fields.name !== undefined) set.name = fields.name;
    if (fields.timezone !== undefined) set.timezone = fields.timezone;
    if (Object.keys(set).length) await this.db.updateTable("subscribers").set(set).where("id", "=", id).execute();
  }

  async addTag(id: string, tag: string): Promise<void> {
    await this.db.insertInto("tags").values({ subscriber_id: id, tag }).onConflict((oc) => oc.doNothing()).execute();
  }

  async removeTag(id: string, tag: string): Promise<void> {
    await this.db.deleteFrom("tags").where("subscriber_id", "=", id).where("tag", "=", tag).execute();
  }

  async isSuppressed(email: string): Promise<boolean> {
    const row = await this.db.selectFrom("suppressions").select("email_hash").where("email_hash", "=", emailHash(email)).executeTakeFirst();
    return row !== undefined;
  }

  async suppress(email: string, reason: string, now: Date): Promise<void> {
    await this.db
      .insertInto("suppressions")
      .values({ email_hash: emailHash(email), reason, created_at: now.getTime() })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async enroll(input: {
    subscriberId: string;
    sequenceId: string;
    startedAt: Date;
    firstStepId: string;
    firstDueAt: Date;
    allowReentry: boolean;
  }): Promise<EnrollResult> {
    return this.immediate(async (q) => {
      const existing = await q
        .selectFrom("enrollments")
        .select(["id", "status", "round"])
        .where("subscriber_id", "=", input.subscriberId)
        .where("sequence_id", "=", input.sequenceId)
        .executeTakeFirst();
      const fresh = {
        started_at: input.startedAt.getTime(),
        cursor: null,
        next_step_id: input.firstStepId,
        next_due_at: input.firstDueAt.getTime(),
        status: "active",
        reason: null,
        updated_at: input.startedAt.getTime(),
      };
      if (!existing) {
        await q
          .insertInto("enrollments")
          .values({ subscriber_id: input.subscriberId, sequence_id: input.sequenceId, round: 1, ...fresh })
          .execute();
        return "created";
      }
      // Enrolling again never restarts a course in progress; only a finished one may start over.
      if (existing.status === "completed" && input.allowReentry) {
        await q.updateTable("enrollments").set({ ...fresh, round: existing.round + 1 }).where("id", "=", existing.id).execute();
        return "reentered";
      }
      return "exists";
    });
  }

  async getEnrollment(subscriberId: string, sequenceId: string): Promise<Enrollment | null> {
    const row = await this.db
      .selectFrom("enrollments")
      .selectAll()
      .where("subscriber_id", "=", subscriberId)
      .where("sequence_id", "=", sequenceId)
      .executeTakeFirst();
    return row ? toEnrollment(row) : null;
  }

  async listEnrollments(subscriberId: string): Promise<Enrollment[]> {
    const rows = await this.db.selectFrom("enrollments").selectAll().where("subscriber_id", "=", subscriberId).orderBy("id").execute();
    return rows.map(toEnrollment);
  }

  async setEnrollmentStatus(id: number, status: EnrollmentStatus, reason: string | null): Promise<void> {
    // Status only: the schedule moves through replanEnrollment, and no write here touches a claim.
    await this.db.updateTable("enrollments").set({ status, reason }).where("id", "=", id).execute();
  }

  async exitEnrollments(subscriberId: string, reason: string): Promise<void> {
    await this.db
      .updateTable("enrollments")
      .set({ status: "exited", reason, next_due_at: null })
      .where("subscriber_id", "=", subscriberId)
      .where("status", "in", ["active", "paused"])
      .execute();
  }

  async leave(subscriberId: string, status: "unsubscribed" | "suppressed", reason: string, now: Date, event?: { type: string; data?: unknown }): Promise<void> {
    const t = now.getTime();
    await this.immediate(async (q) => {
      await q.updateTable("subscribers").set({ status, updated_at: t, unsubscribed_at: t }).where("id", "=", subscriberId).execute();
      await q
        .updateTable("enrollments")
        .set({ status: "exited", reason, next_due_at: null })
        .where("subscriber_id", "=", subscriberId)
        .where("status", "in", ["active", "paused"])
        .execute();
      if (event) {
        const sendId = await lq.lastSentSend(q, subscriberId);
        await lq.recordEvent(q, { subscriberId, sendId, type: event.type, at: now, data: event.data });
      }
    });
  }

  claimDue(now: Date, limit: number, leaseMs: number, owner = "drip"): Promise<ClaimedSend[]> {
    return this.immediate((q) => sq.claimDue(q, now, limit, leaseMs, owner));
  }

  recordOutcome(claim: ClaimedSend, outcome: Outcome, advance: Advance): Promise<boolean> {
    return this.immediate((q) => sq.record(q, { claim, outcome, advance }));
  }

  createBatch(batch: { id: string; payload: string; claims: readonly ClaimedSend[]; leaseUntil: Date; now: Date }): Promise<{ lost: string[] }> {
    return this.immediate((q) => sq.createBatch(q, batch));
  }

  claimStaleBatches(now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]> {
    return this.immediate((q) => sq.claimStaleBatches(q, now, limit, leaseMs));
  }

  async completeBatch(batchId: string, records: readonly OutcomeRecord[]): Promise<void> {
    await this.immediate((q) => sq.completeBatch(q, batchId, records));
  }

  async retryBatchLater(batchId: string, at: Date, reason: string, attempts: number, keyWindowFrom?: Date): Promise<void> {
    const window = keyWindowFrom ? { created_at: keyWindowFrom.getTime() } : {};
    await this.db.updateTable("batches").set({ lease_until: at.getTime(), reason, attempts, ...window }).where("id", "=", batchId).execute();
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
    return lq.recordEvent(this.db, event);
  }

  findSendByProviderId(id: string): Promise<SendRecord | null> {
    return lq.findSendByProviderId(this.db, id);
  }

  lastEngagedSend(subscriberId: string): Promise<string | null> {
    return lq.lastEngagedSend(this.db, subscriberId);
  }

  stepStats(sequenceId?: string): Promise<StepStats[]> {
    return lq.stepStats(this.db, sequenceId);
  }

  subscriberStatuses(ids: readonly string[]): Promise<Map<string, SubscriberStatus>> {
    return lq.subscriberStatuses(this.db, ids);
  }

  queueConfirmation(subscriberId: string, now: Date, since: Date, max: number): Promise<boolean> {
    // Counted and inserted under the write lock: concurrent signups cannot both slip under the cap.
    return this.immediate((q) => lq.queueConfirmation(q, subscriberId, now, since, max));
  }

  claimConfirmations(now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]> {
    return this.immediate((q) => lq.claimConfirmations(q, now, limit, leaseMs));
  }

  async finishConfirmation(id: number, status: "sent" | "failed", now: Date, reason?: string): Promise<void> {
    await this.db
      .updateTable("confirmations")
      .set({ status, sent_at: status === "sent" ? now.getTime() : null, reason: reason ?? null })
      .where("id", "=", id)
      .execute();
  }

  async retryConfirmationLater(id: number, at: Date, reason: string): Promise<void> {
    await this.db.updateTable("confirmations").set({ lease_until: at.getTime(), reason }).where("id", "=", id).execute();
  }

  async forgetSubscriber(id: string): Promise<void> {
    await this.immediate(async (q) => {
      // Their address and rendered email leave any batch not yet resolved, now.
      await sq.scrubPendingBatches(q, id);
      await q.deleteFrom("events").where("subscriber_id", "=", id).execute();
      // Cascades to tags, enrollments, their sends and confirmations: nothing keyed to the person stays.
      await q.deleteFrom("subscribers").where("id", "=", id).execute();
    });
  }

  async getSend(id: string): Promise<SendRecord | null> {
    const row = await this.db.selectFrom("sends").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toSend(row) : null;
  }

  async listSends(filter: { subscriberId?: string; sequenceId?: string; statuses?: readonly SendStatus[]; limit?: number }): Promise<SendRecord[]> {
    let q = this.db.selectFrom("sends").selectAll().orderBy("due_at").orderBy("id");
    if (filter.subscriberId) q = q.where("subscriber_id", "=", filter.subscriberId);
    if (filter.sequenceId) q = q.where("sequence_id", "=", filter.sequenceId);
    if (filter.statuses?.length) q = q.where("status", "in", filter.statuses);
    if (filter.limit) q = q.limit(filter.limit);
    return (await q.execute()).map(toSend);
  }

  async status(): Promise<StatusCounts> {
    const count = async (table: "subscribers" | "enrollments" | "sends") =>
      this.db
        .selectFrom(table)
        .select(["status", sql<number>`count(*)`.as("n")])
        .groupBy("status")
        .execute();
    const fill = <K extends string>(keys: readonly K[], rows: { status: string; n: number }[]) => {
      const out = zeroCounts(keys);
      for (const r of rows) if (r.status in out) out[r.status as K] = Number(r.n);
      return out;
    };
    const next = await this.db
      .selectFrom("enrollments")
      // When something next comes due: an unclaimed step at its due time, a claimed one when
      // its lease runs out (a crashed worker); a step held by a pending batch is the batch's.
      .select(
        sql<number | null>`min(CASE WHEN lease_until IS NULL THEN next_due_at WHEN lease_until < ${HELD_BY_BATCH} THEN max(lease_until, next_due_at) END)`.as("at"),
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
}
