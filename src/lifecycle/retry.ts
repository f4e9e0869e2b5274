/**
 * Retrying failed and in-doubt sends (`drip retry`, the dashboard's Retry button), behind the
 * lifecycle door: one function puts a send back in the queue, in one transaction, with an
 * event for the subscriber's history. The store decides what is safe (see
 * src/store/sqlite/retry-queries.ts): never a double send, never to someone who has left.
 */
import { DripError } from "../errors.ts";
import type { RequeueResult, Store } from "../store/types.ts";

/** One send's retry, as commands and pages report it. */
export interface RetryReport {
  sendId: string;
  email: string | null;
  sequenceId: string | null;
  stepId: string | null;
  /** Was it failed or in doubt before. */
  was: string | null;
  outcome: "queued" | "refused";
  /** Why it was refused, or what happens next. */
  reason: string;
  /** An in-doubt send's reused idempotency key (null: a fresh one). */
  key: string | null;
  /** In-doubt sends of the same provider batch queued with it. */
  siblings: string[];
}

/** Thrown inside a dry run's transaction so that it rolls back. */
class DryRunRollback extends Error {
  constructor(readonly reports: RetryReport[]) {
    super("dry run: rolled back");
  }
}

/**
 * One send's requeue in `tx`. What it reads and then writes is locked by the store's
 * requeueSend before it reads (PostgreSQL: the subscribers of the send and of its in-doubt
 * batch-mates, as Store.lockSubscriber does, all at once in id order, then the batch, then the
 * enrollments by id), so two retries of one batch, or a retry and an unsubscribe, wait for each
 * other. Locking only this send's subscriber here first would deadlock two retries of one batch.
 */
async function requeue(tx: Store, sendId: string, now: Date, by: string): Promise<RetryReport> {
  const before = await tx.getSend(sendId);
  const r: RequeueResult = await tx.requeueSend(sendId, now);
  const sub = before ? await tx.getSubscriber(before.subscriberId) : null;
  const base = {
    sendId,
    email: sub?.email ?? null,
    sequenceId: before?.sequenceId ?? null,
    stepId: before?.stepId ?? null,
    was: before?.status ?? null,
  };
  if (r.kind === "refused") return { ...base, outcome: "refused", reason: r.reason, key: null, siblings: [] };
  for (const id of [sendId, ...r.siblings]) {
    const s = id === sendId ? before : await tx.getSend(id);
    await tx.recordEvent({ subscriberId: s?.subscriberId ?? null, sendId: id, type: "retry", at: now, data: { reason: `queued again by ${by}` } });
  }
  const reason = r.key
    ? `queued under its first idempotency key ${r.key}: if the provider has it, it is recorded as sent, not sent again`
    : "queued: the next tick sends it";
  return { ...base, outcome: "queued", reason, key: r.key, siblings: r.siblings };
}

/** Put one failed or in-doubt send back in the queue; refused (not_found, conflict) with the reason. */
export async function retrySend(store: Store, sendId: string, now: Date, by: string): Promise<RetryReport> {
  const id = sendId.trim();
  if (!id) throw new DripError("usage", "give the send id to retry (drip failures lists them)");
  const report = await store.transaction((tx) => requeue(tx, id, now, by));
  if (report.outcome === "refused") {
    const code = report.was === null ? "not_found" : "conflict";
    throw new DripError(code, `send ${id} was not retried: ${report.reason}`);
  }
  return report;
}

/**
 * Every failed and in-doubt send, each retried in its own transaction (one refusal does not
 * hold back the others). `dryRun`: the same checks in one transaction, rolled back.
 */
export async function retryAllFailed(store: Store, now: Date, by: string, opts: { dryRun?: boolean; limit?: number } = {}): Promise<RetryReport[]> {
  const failed = await store.listSends({ statuses: ["failed", "in_doubt"], limit: opts.limit ?? 10_000 });
  const run = async (each: (id: string) => Promise<RetryReport>) => {
    const reports: RetryReport[] = [];
    const withSibling = new Set<string>();
    for (const s of failed) {
      // Queued already with an in-doubt sibling of its batch (same key).
      if (withSibling.has(s.id)) continue;
      const r = await each(s.id);
      for (const id of r.siblings) withSibling.add(id);
      reports.push(r);
    }
    return reports;
  };
  if (!opts.dryRun) return run((id) => store.transaction((tx) => requeue(tx, id, now, by)));
  try {
    await store.transaction(async (tx) => {
      throw new DryRunRollback(await run((id) => requeue(tx, id, now, by)));
    });
  } catch (err) {
    if (err instanceof DryRunRollback) return err.reports;
    throw err;
  }
  return [];
}
