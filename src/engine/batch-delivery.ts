/**
 * Delivery of persisted batches to an idempotent provider. A batch (its sends, its exact
 * payload and its key) is written before the first request, so every path through here
 * (success, 5xx, 429, a dropped connection, a crash and restart) ends with the provider
 * holding each email once:
 * - a retry re-sends the same bytes under the same key, and the provider answers with the
 *   first result instead of sending again;
 * - 409 invalid_idempotent_request means an earlier attempt was accepted: recorded as sent;
 * - an outcome still unknown after the provider's key lifetime (24 h) is never retried
 *   blindly: the sends become `in_doubt` for staff to look at.
 */
import type { Clock, RateLimiter } from "../delivery/rate-limiter.ts";
import { backoffMs } from "../delivery/rate-limiter.ts";
import { randomUUID } from "node:crypto";
import { toProviderEmail } from "../delivery/resend.ts";
import type { BatchOutcome, OutgoingMessage, ProviderEmail, Transport } from "../delivery/transport.ts";
import type { Advance, ClaimedSend, Outcome, OutcomeRecord, PendingBatch, Store } from "../store/types.ts";

export const PAUSE_KEY = "delivery_paused";
/** Resend keeps idempotency keys for 24 hours. */
export const KEY_LIFETIME_MS = 24 * 3_600_000;

export interface BatchPayload {
  sendIds: string[];
  emails: ProviderEmail[];
}

export interface BatchResult {
  sent: number;
  failed: number;
  skipped: number;
  /** Left pending for a later attempt (its lease is set). */
  deferred: number;
  /** Quota exhausted: delivery is paused until this instant. */
  pausedUntil?: Date;
}

export interface BatchDeliveryOptions {
  store: Store;
  transport: Required<Pick<Transport, "sendBatch">>;
  limiter: RateLimiter;
  clock: Clock;
  /** Requests per batch before its sends are failed (or in doubt). */
  maxAttempts: number;
  /** Requests per batch within one tick before it waits for a later tick. */
  triesPerTick: number;
  /** How long a written batch is held before recovery may take it. */
  leaseMs: number;
  /** Batches in flight at once. */
  concurrency: number;
  log: (line: string) => void;
  /** The enrollment's next move once a send is done (computed by the engine). */
  advanceFor: (claim: ClaimedSend, now: Date) => Advance;
}

export interface DeliveryPause {
  until: string;
  reason: string;
}

/** Resend takes at most 100 emails per batch request. */
export const MAX_BATCH = 100;

export class BatchDelivery {
  constructor(private readonly o: BatchDeliveryOptions) {}

  /**
   * Write a page of rendered sends as batches of up to 100, then send them with at most
   * `concurrency` in flight. Returns true when a quota pause stopped it; batches not started
   * stay pending, and recovery sends them after the pause.
   */
  async deliverPage(
    ready: readonly { claim: ClaimedSend; message: OutgoingMessage }[],
    now: Date,
    onResult: (r: BatchResult) => void,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const pending: PendingBatch[] = [];
    for (let i = 0; i < ready.length; i += MAX_BATCH) {
      const chunk = ready.slice(i, i + MAX_BATCH);
      const claims = chunk.map((r) => r.claim);
      const payload: BatchPayload = { sendIds: claims.map((c) => c.sendId), emails: chunk.map((r) => toProviderEmail(r.message)) };
      const id = `drip-batch-${randomUUID()}`;
      const text = JSON.stringify(payload);
      // Written before the request: after a crash, recovery re-sends exactly this.
      await this.o.store.createBatch({ id, payload: text, claims, leaseUntil: new Date(now.getTime() + this.o.leaseMs), now });
      pending.push({ id, payload: text, attempts: 0, createdAt: now, claims });
    }
    let paused = false;
    let next = 0;
    const worker = async () => {
      while (next < pending.length && !paused) {
        const r = await this.deliver(pending[next++]!, now, signal);
        onResult(r);
        if (r.pausedUntil) paused = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, pending.length) }, worker));
    return paused;
  }

  async deliver(batch: PendingBatch, now: Date, signal?: AbortSignal): Promise<BatchResult> {
    const { store } = this.o;
    const result: BatchResult = { sent: 0, failed: 0, skipped: 0, deferred: 0 };
    const payload = JSON.parse(batch.payload) as BatchPayload;
    const record = (claim: ClaimedSend, outcome: Omit<Outcome, "at">): OutcomeRecord => ({
      claim,
      outcome: { ...outcome, at: now },
      advance: outcome.status === "skipped" && claim.subscriber.status !== "active" ? { kind: "exited", reason: outcome.reason ?? "left" } : this.o.advanceFor(claim, now),
    });
    const finish = async (records: OutcomeRecord[]) => {
      await store.completeBatch(batch.id, records);
      for (const r of records) {
        if (r.outcome.status === "sent") result.sent++;
        else if (r.outcome.status === "skipped") result.skipped++;
        else result.failed++;
      }
      return result;
    };

    if (now.getTime() - batch.createdAt.getTime() > KEY_LIFETIME_MS) {
      const reason = "outcome unknown for longer than the provider keeps idempotency keys (24 h): check the provider's logs before re-sending";
      this.o.log(`warning: batch ${batch.id}: ${reason}`);
      return finish(batch.claims.map((c) => record(c, { status: "in_doubt", reason })));
    }

    // Re-check at send time: whoever left since the batch was written is taken out of it.
    // If an earlier attempt was accepted, the changed payload draws 409 invalid_idempotent_request
    // and the whole batch (sent before they left) is recorded as sent; otherwise they get nothing.
    // Statuses are read fresh, right before the request: a claim's snapshot may be minutes old.
    const fresh = await store.subscriberStatuses(batch.claims.map((c) => c.subscriber.id));
    for (const c of batch.claims) c.subscriber.status = fresh.get(c.subscriber.id) ?? "unsubscribed";
    const left = new Set(batch.claims.filter((c) => c.subscriber.status !== "active").map((c) => c.sendId));
    const members = batch.claims.filter((c) => !left.has(c.sendId));
    const emails = payload.emails.filter((_e, i) => !left.has(payload.sendIds[i]!));
    const leftRecords = batch.claims.filter((c) => left.has(c.sendId)).map((c) => record(c, { status: "skipped", reason: `subscriber is ${c.subscriber.status}` }));
    if (members.length === 0) return finish(leftRecords);

    let attempts = batch.attempts;
    for (let tries = 0; ; tries++) {
      if (tries > 0 && signal?.aborted) {
        await store.retryBatchLater(batch.id, now, "stopped before the batch was resolved", attempts);
        result.deferred += members.length;
        return result;
      }
      await this.o.limiter.acquire();
      attempts++;
      const res: BatchOutcome = await this.o.transport.sendBatch(emails, batch.id);
      // A quota 429's retry-after (hours, until the quota resets) is the pause's business, not the
      // rate limiter's: observed, it would hold every request in the process (and this tick) that long.
      if (res.kind !== "paused") this.o.limiter.observe(res.headers, res.kind === "accepted" ? 200 : res.status);
      switch (res.kind) {
        case "accepted":
          return finish([
            ...members.map((c, i) => {
              const r = res.results[i]!;
              return record(c, r.ok ? { status: "sent", providerMessageId: r.providerMessageId } : { status: "failed", reason: r.reason });
            }),
            ...leftRecords,
          ]);
        case "already-accepted":
          this.o.log(`warning: batch ${batch.id}: ${res.reason}; an earlier attempt was accepted, recording it as sent`);
          return finish(batch.claims.map((c) => record(c, { status: "sent", reason: "accepted by an earlier attempt (409 invalid_idempotent_request)" })));
        case "rejected":
          return finish([...members.map((c) => record(c, { status: "failed", reason: res.reason })), ...leftRecords]);
        case "paused": {
          // Batches in flight together each get their own quota answer, with retry-after read
          // at slightly different moments. The pause is the latest of them, and this batch waits
          // exactly as long as the pause: when it lifts, every paused batch is due.
          const proposed = new Date(now.getTime() + (res.afterMs ?? msToNextUtcMidnight(now)));
          const current = await store.getMeta(PAUSE_KEY);
          const held = current ? new Date((JSON.parse(current) as DeliveryPause).until) : null;
          const until = held && held > proposed ? held : proposed;
          const pause: DeliveryPause = { until: until.toISOString(), reason: res.reason };
          await store.setMeta(PAUSE_KEY, JSON.stringify(pause));
          // A quota answer is definite (the provider took nothing under this key) and nothing is
          // requested before the pause lifts: the 24 h "outcome unknown" age restarts there, or a
          // pause across two quota resets would turn never-sent emails in_doubt.
          await store.retryBatchLater(batch.id, until, res.reason, attempts - 1, until);
          this.o.log(`delivery paused until ${pause.until}: ${res.reason}`);
          result.deferred += members.length;
          result.pausedUntil = until;
          return result;
        }
        case "retry":
        case "unknown": {
          if (attempts >= this.o.maxAttempts) {
            // A 5xx or 429 means the provider took nothing: failed. No answer at all: in doubt.
            const status = res.kind === "unknown" ? "in_doubt" : "failed";
            const reason = `gave up after ${attempts} attempts: ${res.reason}`;
            this.o.log(`warning: batch ${batch.id}: ${reason}`);
            return finish([...members.map((c) => record(c, { status, reason })), ...leftRecords]);
          }
          if (tries + 1 >= this.o.triesPerTick) {
            const at = new Date(now.getTime() + backoffMs(attempts, 60_000, 3_600_000));
            await store.retryBatchLater(batch.id, at, res.reason, attempts);
            result.deferred += members.length;
            return result;
          }
          // 429: the limiter already holds requests for retry-after; otherwise back off with jitter.
          if (res.status !== 429) await this.o.clock.sleep(("afterMs" in res && res.afterMs) || backoffMs(attempts));
        }
      }
    }
  }
}

function msToNextUtcMidnight(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return next - now.getTime();
}
