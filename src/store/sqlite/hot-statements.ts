/**
 * Prepared statements for SQLite's hottest paths, run straight on the connection (better-sqlite3)
 * instead of through Kysely's query builder: building and compiling a query costs more than
 * running a small one, and the one-click unsubscribe runs several per request.
 *
 * Same SQL and same effects as the portable queries they stand in for (enrollment-queries.ts
 * `leave`, which PostgreSQL keeps using); the store contract suite holds both backends to them.
 * Only ever called from inside the store's BEGIN IMMEDIATE (the connection is held), never beside it.
 */
import type Database from "better-sqlite3";

/** The transaction statements: BEGIN IMMEDIATE … COMMIT, and the savepoint each member of a group commit runs in. */
export interface TxStatements {
  begin: Database.Statement;
  commit: Database.Statement;
  rollback: Database.Statement;
  savepoint: Database.Statement;
  release: Database.Statement;
  rollbackTo: Database.Statement;
}

export function txStatements(raw: Database.Database): TxStatements {
  return {
    begin: raw.prepare("BEGIN IMMEDIATE"),
    commit: raw.prepare("COMMIT"),
    rollback: raw.prepare("ROLLBACK"),
    savepoint: raw.prepare("SAVEPOINT member"),
    release: raw.prepare("RELEASE member"),
    rollbackTo: raw.prepare("ROLLBACK TO member"),
  };
}

/** A subscriber leaves (prepared once the tables exist, i.e. after the migrations). */
export interface LeaveStatements {
  subscriber: Database.Statement;
  subscriberIfNotLeft: Database.Statement;
  exitEnrollments: Database.Statement;
  event: Database.Statement;
}

export function leaveStatements(raw: Database.Database): LeaveStatements {
  const leave = "UPDATE subscribers SET status = ?, updated_at = ?, unsubscribed_at = ? WHERE id = ?";
  return {
    subscriber: raw.prepare(leave),
    subscriberIfNotLeft: raw.prepare(`${leave} AND status NOT IN ('unsubscribed', 'suppressed')`),
    exitEnrollments: raw.prepare(
      "UPDATE enrollments SET status = 'exited', reason = ?, next_due_at = NULL WHERE subscriber_id = ? AND status IN ('active', 'paused')",
    ),
    // The event credited to the subscriber's most recently sent email (lastSentSend: `status || ''`
    // keeps SQLite on sends_subscriber, this subscriber's sends only), in the same statement.
    event: raw.prepare(
      `INSERT INTO events (subscriber_id, send_id, type, at, data, svix_id)
       VALUES (?, (SELECT id FROM sends WHERE subscriber_id = ? AND status || '' = 'sent' ORDER BY sent_at DESC LIMIT 1), ?, ?, ?, NULL)
       ON CONFLICT DO NOTHING`,
    ),
  };
}

/** enrollment-queries.ts `leave`, on the held connection: the subscriber's status, their open enrollments exited, the event. */
export function leaveNow(
  s: LeaveStatements,
  subscriberId: string,
  status: "unsubscribed" | "suppressed",
  reason: string,
  now: Date,
  event: { type: string; data?: unknown } | undefined,
  ifNotLeft: boolean,
): boolean {
  const t = now.getTime();
  const res = (ifNotLeft ? s.subscriberIfNotLeft : s.subscriber).run(status, t, t, subscriberId);
  if (res.changes === 0) return false;
  s.exitEnrollments.run(reason, subscriberId);
  if (event) s.event.run(subscriberId, subscriberId, event.type, t, event.data === undefined ? null : JSON.stringify(event.data));
  return true;
}
