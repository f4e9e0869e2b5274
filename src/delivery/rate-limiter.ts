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

/**
 * A request that starts with no other request in the last few seconds goes out on a cold
 * connection (Node's HTTP client keeps idle sockets about 4 s): connecting and the first
 * request's own setup can hold it back tens of milliseconds, while the warm requests after
 * it reach the provider at once. Measured from its start, the window rule then lets a
 * `limit + 1`-th request into the provider's one-second window (seen at 5 req/s: six
 * arrivals 964 ms apart, one 429). Such a request counts from its answer instead.
 */
export const COLD_AFTER_MS = 4_000;

/** A request's place in the limiter: when it counts as started. */
export interface Slot {
  at: number;
  /** Started with no other request in the last COLD_AFTER_MS: counts from its answer once it comes. */
  cold: boolean;
}

export class RateLimiter {
  private blockedUntil = 0;
  /** The last `perSecond` requests, in the order they started (a cold one counts from its answer). */
  private starts: Slot[] = [];
  private lastStart = -Infinity;
  private queue: Promise<void> = Promise.resolve();
  private interval: number;
  private window = 1000 * MARGIN;

  constructor(
    readonly perSecond: number,
    private readonly clock: Clock = realClock,
  ) {
    this.interval = (1000 / perSecond) * MARGIN;
  }

  /**
   * Wait for this request's slot. Callers are served one at a time in call order. Two rules,
   * measured from when earlier requests really started: even spacing, and never more than
   * `perSecond` starts in any window of a second (plus margin), so a busy event loop that
   * wakes a waiter late cannot turn into a burst the provider counts against us.
   */
  acquire(): Promise<Slot> {
    const turn = this.queue.then(async () => {
      for (;;) {
        const t = this.clock.now();
        const last = this.starts[this.starts.length - 1];
        const windowOpen = this.starts.length < this.perSecond ? -Infinity : this.starts[0]!.at + this.window;
        const at = Math.max(last ? last.at + this.interval : -Infinity, windowOpen, this.blockedUntil);
        if (at <= t) break;
        await this.clock.sleep(Math.ceil(at - t));
      }
      const now = this.clock.now();
      const slot: Slot = { at: now, cold: now - this.lastStart > COLD_AFTER_MS };
      this.lastStart = now;
      this.starts.push(slot);
      if (this.starts.length > this.perSecond) this.starts.shift();
      return slot;
    });
    this.queue = turn.then(() => {});
    return turn;
  }

  /**
   * The provider answered the request that started at `slot`. A request on a cold connection
   * may have reached the provider as late as now: the window rule measures from this moment.
   */
  answered(slot: Slot | undefined): void {
    if (!slot?.cold) return;
    slot.at = Math.max(slot.at, this.clock.now());
  }

  /** After a 429 the provider's clock and ours disagree: widen the margin (up to 25%). */
  private slowDown(): void {
    const margin = Math.min(1.25, this.window / 1000 + 0.05);
    this.window = 1000 * margin;
    this.interval = (1000 / this.perSecond) * margin;
  }

  /** Hold every request until `until` (epoch ms). */
  block(until: number): void {
    if (until > this.blockedUntil) this.blockedUntil = until;
  }

  /** Read the provider's rate-limit headers after any response. */
  observe(headers: Record<string, string> | null | undefined, status: number | null): void {
    if (!headers) return;
    const now = this.clock.now();
    const retryAfter = Number(headers["retry-after"]);
    if (status === 429) {
      this.slowDown();
      if (Number.isFinite(retryAfter)) {
        this.block(now + retryAfter * 1000);
        return;
      }
    }
    const remaining = Number(headers["ratelimit-remaining"]);
    const reset = Number(headers["ratelimit-reset"]);
    if (headers["ratelimit-remaining"] === undefined || remaining > 0 || !Number.isFinite(reset)) return;
    // "Nothing left" right after our own requests filled the window is expected: the window rule
    // already waits for the oldest of them to age out, which may be sooner than `reset` (whole
    // seconds). Only when someone else shares the key is the provider's full reset the guide.
    const ownWindowFull = this.starts.length >= this.perSecond;
    const until = now + reset * 1000;
    this.block(ownWindowFull ? Math.min(until, this.starts[0]!.at + this.window) : until);
  }
}

/** Exponential backoff with full jitter (AWS architecture blog), capped. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
