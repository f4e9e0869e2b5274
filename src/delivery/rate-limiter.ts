/**
 * One limiter per process for every call to the provider. Requests are spaced evenly
 * (1000/limit ms apart, plus a small margin) rather than sent in bursts: the provider counts
 * a rolling one-second window, and even spacing keeps every such window at or under the
 * limit while running within a few percent of it. The provider's own word wins: its
 * `ratelimit-remaining: 0` / `ratelimit-reset` headers and a 429's `retry-after` hold all
 * requests until the time it names.
 */

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Spacing margin: 2% slack absorbs timer jitter between our clock and the provider's. */
const MARGIN = 1.02;

export class RateLimiter {
  private next = 0;
  private blockedUntil = 0;
  private readonly interval: number;

  constructor(
    readonly perSecond: number,
    private readonly clock: Clock = realClock,
  ) {
    this.interval = (1000 / perSecond) * MARGIN;
  }

  /** Wait for this request's slot. Slots are handed out in call order. */
  async acquire(): Promise<void> {
    const t = this.clock.now();
    const slot = Math.max(t, this.next, this.blockedUntil);
    this.next = slot + this.interval;
    if (slot > t) await this.clock.sleep(slot - t);
  }

  /** Hold every request until `until` (epoch ms). */
  block(until: number): void {
    if (until > this.blockedUntil) this.blockedUntil = until;
    if (this.next < until) this.next = until;
  }

  /** Read the provider's rate-limit headers after any response. */
  observe(headers: Record<string, string> | null | undefined, status: number | null): void {
    if (!headers) return;
    const now = this.clock.now();
    const retryAfter = Number(headers["retry-after"]);
    if (status === 429 && Number.isFinite(retryAfter)) return this.block(now + retryAfter * 1000);
    const remaining = Number(headers["ratelimit-remaining"]);
    const reset = Number(headers["ratelimit-reset"]);
    if (headers["ratelimit-remaining"] !== undefined && remaining <= 0 && Number.isFinite(reset)) this.block(now + reset * 1000);
  }
}

/** Exponential backoff with full jitter (AWS architecture blog), capped. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
