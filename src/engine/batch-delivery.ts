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
import type { Clock } from "../delivery/rate-limiter.ts";
import { backoffMs } from "../delivery/rate-limiter.ts";
import { randomUUID } from "node:crypto";
import type { BatchOutcome, BatchTransport, OutgoingMessage, ProviderEmail } from "../delivery/transport.ts";
import type { Advance, ClaimedSend, EngineStore, KeyAnswer, NewBatch, Outcome, OutcomeRecord, PendingBatch } from "../store/types.ts";
import { type BatchPayload, readPayload, storePayload } from "./batch-payload.ts";

export const PAUSE_KEY = "delivery_paused";
/** Resend keeps idempotency keys for 24 hours (one constant, shared with the store's retry check). */
export { KEY_LIFETIME_MS } from "../store/shared.ts";
import { KEY_LIFETIME_MS } from "../store/shared.ts";

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
  store: EngineStore;
  /** Encodes the batch entries (its wire format), rate-limits and sends them. */
  transport: Pick<BatchTransport, "encode" | "sendBatch">;
  /** Waits between in-tick retries (tests pass a fake). */
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
  /**
   * Right before each request: the claims whose lane's send-time rules (the same the engine ran
   * when it claimed them) now say no, read fresh, by send id, with the reason and the
   * enrollment's next move. Refreshes each claim's subscriber. (Engine.recheck.)
   */
  recheck: (claims: readonly ClaimedSend[], now: Date) => Promise<Map<string, { reason: string; advance: Advance }>>;
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
    const pending: { batch: PendingBatch; payload: BatchPayload }[] = [];
    // In-doubt sends queued again by staff go out under the key they first went out under
    // (one batch per key, with that key's age): a provider that has them answers 409.
    const fresh = ready.filter((r) => !r.claim.retryKey);
    const chunks: { chunk: typeof ready; key?: { key: string; since: Date } }[] = [];
    for (let i = 0; i < fresh.length; i += MAX_BATCH) chunks.push({ chunk: fresh.slice(i, i + MAX_BATCH) });
    const byKey = new Map<string, typeof ready>();
    for (const r of ready) if (r.claim.retryKey) byKey.set(r.claim.retryKey.key, [...(byKey.get(r.claim.retryKey.key) ?? []), r]);
    for (const group of byKey.values()) chunks.push({ chunk: group, key: group[0]!.claim.retryKey! });
    // Written before the first request, the page's batches in one store call (one transaction
    // on SQLite): after a crash, recovery re-sends exactly these. A claim lost meanwhile (its
    // lease ran out and another worker took the step) is left out of its batch, which is
    // composed again without it: the step is that worker's now, and it must never be in two batches.
    const leaseUntil = new Date(now.getTime() + this.o.leaseMs);
    let todo = chunks.map(({ chunk, key }) => ({ chunk, key, id: key?.key ?? `drip-batch-${randomUUID()}` }));
    while (todo.length > 0) {
      const composed = todo.map(({ chunk, key, id }) => {
        const claims = chunk.map((r) => r.claim);
        const payload: BatchPayload = { sendIds: claims.map((c) => c.sendId), emails: chunk.map((r) => this.o.transport.encode(r.message)) };
        const text = storePayload(payload);
        const batch: NewBatch = { id, payload: text, claims, leaseUntil, now, ...(key ? { keyWindowFrom: key.since } : {}) };
        return { batch, claims, payload, createdAt: key?.since ?? now };
      });
      const answers = await this.o.store.createBatches(composed.map((c) => c.batch));
      const again: typeof todo = [];
      composed.forEach(({ batch, claims, payload, createdAt }, i) => {
        const { lost } = answers[i]!;
        if (lost.length === 0) {
          pending.push({ batch: { id: batch.id, payload: batch.payload, attempts: 0, createdAt, claims }, payload });
          return;
        }
        this.o.log(`warning: ${lost.length} claim(s) lapsed before their batch was written; another worker has them`);
        const gone = new Set(lost);
        const chunk = todo[i]!.chunk.filter((r) => !gone.has(r.claim.sendId));
        if (chunk.length > 0) again.push({ ...todo[i]!, chunk });
      });
      todo = again;
    }
    let paused = false;
    let next = 0;
    const worker = async () => {
      while (next < pending.length && !paused) {
        const { batch, payload } = pending[next++]!;
        const r = await this.deliver(batch, now, signal, payload);
        onResult(r);
        if (r.pausedUntil) paused = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, pending.length) }, worker));
    return paused;
  }

  /** `written`: the payload this process just stored as `batch.payload` (not parsed back). */
  async deliver(batch: PendingBatch, now: Date, signal?: AbortSignal, written?: BatchPayload): Promise<BatchResult> {
    const { store } = this.o;
    const result: BatchResult = { sent: 0, failed: 0, skipped: 0, deferred: 0 };
    const payload = written ?? readPayload(batch.payload);
    const record = (claim: ClaimedSend, outcome: Omit<Outcome, "at">, advance?: Advance): OutcomeRecord => ({
      claim,
      outcome: { ...outcome, at: now },
      advance:
        advance ??
        (outcome.status === "skipped" && claim.subscriber.status !== "active"
          ? { kind: "exited", reason: outcome.reason ?? "left" }
          : this.o.advanceFor(claim, now)),
    });
    // A staff retry under the batch's first key (its id) may have gone without some of that
    // key's sends (their course paused, or they left, after the retry was queued): what the
    // provider answers here under the key settles them (KeyAnswer, settleLeftBehind). A 409 says
    // the first batch was accepted only if no earlier request of this retry can have been taken:
    // none was answered with silence here, and this is not a recovered batch (a crash or an
    // earlier tick may have sent it).
    const keyed = batch.claims.some((c) => c.retryKey?.key === batch.id);
    let maybeTaken = written === undefined;
    const finish = async (records: OutcomeRecord[], answer: KeyAnswer = maybeTaken ? "unknown" : "untouched") => {
      if (keyed) await store.completeBatch(batch.id, records, { answer, at: now });
      else await store.completeBatch(batch.id, records);
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

    // Re-check at send time, by each claim's lane (the same rules as when it was claimed,
    // read fresh right before the request): whoever left (unsubscribed, suppressed, left the
    // newsletter's topic, gained a tag that ends the course) or was erased since the batch was
    // written is taken out of it, under the same key. If an earlier attempt was accepted, the
    // changed payload draws 409 invalid_idempotent_request and the batch (sent, by that
    // attempt, before they left) is recorded as sent; otherwise they get nothing. A new key
    // would be unsafe: it would send the others a second time if that earlier attempt was in
    // fact accepted.
    const withheld = await this.o.recheck(batch.claims, now);
    // Members are matched to the payload by identity (send id, then address), never by
    // position: an erased person's entry has no claim any more and must not shift the others.
    const claimBySend = new Map(batch.claims.map((c) => [c.sendId, c]));
    let members: { claim: ClaimedSend; email: ProviderEmail }[] = [];
    const leftRecords: OutcomeRecord[] = [];
    payload.sendIds.forEach((sendId, i) => {
      const claim = claimBySend.get(sendId);
      const email = payload.emails[i];
      if (!claim || !email) return; // erased: nothing of theirs is sent
      claimBySend.delete(sendId);
      const w = withheld.get(sendId);
      if (w) leftRecords.push(record(claim, { status: "skipped", reason: w.reason }, w.advance));
      else if (!sameAddress(email.to[0], claim.subscriber.email))
        leftRecords.push(record(claim, { status: "skipped", reason: "the stored email is addressed to someone else" }));
      else members.push({ claim, email });
    });
    // A claim whose entry is missing from the payload is never sent blind.
    for (const claim of claimBySend.values()) leftRecords.push(record(claim, { status: "failed", reason: "not in the stored batch payload" }));
    if (members.length === 0) return finish(leftRecords);
    // Before a retry within this tick (seconds later), whoever left or was erased meanwhile is
    // taken out too: the same rules as above, for the same key.
    const recheck = async () => {
      const again = await this.o.recheck(
        members.map((m) => m.claim),
        now,
      );
      members = members.filter(({ claim }) => {
        const w = again.get(claim.sendId);
        if (!w) return true;
        leftRecords.push(record(claim, { status: "skipped", reason: w.reason }, w.advance));
        return false;
      });
    };

    let attempts = batch.attempts;
    for (let tries = 0; ; tries++) {
      if (tries > 0 && signal?.aborted) {
        await store.retryBatchLater(batch.id, now, "stopped before the batch was resolved", attempts);
        result.deferred += members.length;
        return result;
      }
      if (tries > 0) {
        await recheck();
        if (members.length === 0) return finish(leftRecords);
      }
      attempts++;
      // The transport waits for its rate limit and learns from the provider's answer.
      const emails = members.map((m) => m.email);
      const res: BatchOutcome = await this.o.transport.sendBatch(emails, batch.id);
      if (res.kind === "unknown") maybeTaken = true;
      switch (res.kind) {
        case "accepted":
          // res.results[i] answers emails[i], which is members[i].email: one array built above.
          return finish(
            [
              ...members.map(({ claim }, i) => {
                const r = res.results[i];
                if (!r) return record(claim, { status: "in_doubt", reason: "the provider's answer had no result for this email" });
                return record(claim, r.ok ? { status: "sent", providerMessageId: r.providerMessageId } : { status: "failed", reason: r.reason });
              }),
              ...leftRecords,
            ],
            "taken",
          );
        case "already-accepted":
          this.o.log(`warning: batch ${batch.id}: ${res.reason}; an earlier attempt was accepted, recording it as sent`);
          return finish(
            [
              ...members.map(({ claim }) => record(claim, { status: "sent", reason: "accepted by an earlier attempt (409 invalid_idempotent_request)" })),
              // They left after that attempt was accepted: it reached them before they left.
              ...leftRecords.map((r) =>
                r.outcome.status === "skipped"
                  ? record(r.claim, { status: "sent", reason: "accepted by an earlier attempt (409 invalid_idempotent_request), before they left" })
                  : r,
              ),
            ],
            maybeTaken ? "unknown" : "had",
          );
        case "rejected":
          return finish([...members.map(({ claim }) => record(claim, { status: "failed", reason: res.reason })), ...leftRecords]);
        case "paused": {
          // Batches in flight together each get their own quota answer, with retry-after read
          // at slightly different moments. The pause is the latest of them, and this batch waits
          // exactly as long as the pause: when it lifts, every paused batch is due.
          const proposed = new Date(now.getTime() + (res.afterMs ?? msToNextUtcMidnight(now)));
          // Read and extended in one transaction: two answers landing together cannot both read
          // the old pause and the shorter one win.
          const pause = await store.transaction(async (tx) => {
            const current = await tx.getMeta(PAUSE_KEY);
            const held = current ? new Date((JSON.parse(current) as DeliveryPause).until) : null;
            const longest = held && held > proposed ? held : proposed;
            const next: DeliveryPause = { until: longest.toISOString(), reason: res.reason };
            await tx.setMeta(PAUSE_KEY, JSON.stringify(next));
            return next;
          });
          const until = new Date(pause.until);
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
            return finish([...members.map(({ claim }) => record(claim, { status, reason })), ...leftRecords]);
          }
          if (tries + 1 >= this.o.triesPerTick) {
            const at = new Date(now.getTime() + backoffMs(attempts, 60_000, 3_600_000));
            await store.retryBatchLater(batch.id, at, res.reason, attempts);
            result.deferred += members.length;
            return result;
          }
          // 429: the transport's limiter already holds requests for retry-after; otherwise back off with jitter.
          if (res.status !== 429) await this.o.clock.sleep(("afterMs" in res && res.afterMs) || backoffMs(attempts));
        }
      }
    }
  }
}

/** The stored email is addressed to this subscriber (a bare address, or one inside a display form). */
const sameAddress = (to: string | undefined, email: string) => (to ?? "").toLowerCase().includes(email.trim().toLowerCase());

function msToNextUtcMidnight(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return next - now.getTime();
}
