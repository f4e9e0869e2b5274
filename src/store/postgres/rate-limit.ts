/**
 * One provider rate limit for every worker on the database (DRIP_RATE_LIMIT is the team's
 * limit at the provider, not a process's). The limiter keeps a sliding log of the last
 * `perSecond` request starts in one row (drip_rate_limit), read and written under a row lock
 * with the database's clock (workers on several machines share one clock): a request may
 * start only when fewer than `perSecond` started in the last second (plus margin) and the
 * last one started at least 1/perSecond ago. A 429's retry-after is written to the same row,
 * so one worker's answer from the provider pauses all of them. (A quota pause, hours long,
 * is the engine's delivery pause in the store: shared already.)
 */
import type pg from "pg";
import { type Clock, RateLimiter, realClock, type Slot } from "../../delivery/rate-limiter.ts";

/** Slack over one second: absorbs the time between taking a slot and the request reaching the provider. */
const MARGIN = 1.1;

export class PgRateLimiter extends RateLimiter {
  private ready: Promise<void> | null = null;
  private sharedWindow: number;
  private sharedInterval: number;

  constructor(
    private readonly pool: pg.Pool,
    perSecond: number,
    private readonly name = "provider",
    private readonly wait: Clock = realClock,
  ) {
    super(perSecond, wait);
    this.sharedWindow = 1000 * MARGIN;
    this.sharedInterval = (1000 / perSecond) * MARGIN;
  }

  private ensureRow(): Promise<void> {
    this.ready ??= this.pool.query("INSERT INTO drip_rate_limit (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [this.name]).then(() => {});
    return this.ready;
  }

  /** Take one request slot, waiting (on this process's timers) until the shared log allows it. */
  override async acquire(): Promise<Slot> {
    await this.ensureRow();
    for (;;) {
      const waitMs = await this.trySlot();
      // The shared log has its own 10% margin; a slot here is not tracked after its answer.
      if (waitMs <= 0) return { at: this.wait.now(), cold: false };
      await this.wait.sleep(Math.min(Math.ceil(waitMs), 1000));
    }
  }

  /** 0 when a slot was taken; else how long to wait before asking again. */
  private async trySlot(): Promise<number> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const { rows } = await c.query<{ now: string; starts: string[] | null; blocked_until: string }>(
        "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS now, starts::text[] AS starts, blocked_until::text FROM drip_rate_limit WHERE name = $1 FOR UPDATE",
        [this.name],
      );
      const row = rows[0]!;
      const now = Number(row.now);
      const starts = (row.starts ?? []).map(Number).filter((s) => s > now - 60_000);
      const L = this.perSecond;
      const windowOpen = starts.length < L ? -Infinity : starts[starts.length - L]! + this.sharedWindow;
      const last = starts[starts.length - 1] ?? -Infinity;
      const at = Math.max(windowOpen, last + this.sharedInterval, Number(row.blocked_until));
      if (at > now) {
        await c.query("ROLLBACK");
        return at - now;
      }
      // The last L starts, this one included (slice(-0) would keep them all).
      const kept = [...(L > 1 ? starts.slice(-(L - 1)) : []), now];
      await c.query("UPDATE drip_rate_limit SET starts = $2::bigint[] WHERE name = $1", [this.name, kept]);
      await c.query("COMMIT");
      return 0;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  /** Hold every worker's requests until `until` (this process's clock, turned into the database's). */
  override block(until: number): void {
    const ms = Math.max(0, Math.ceil(until - this.wait.now()));
    if (ms === 0) return;
    void this.ensureRow()
      .then(() =>
        this.pool.query(
          "UPDATE drip_rate_limit SET blocked_until = greatest(blocked_until, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $2) WHERE name = $1",
          [this.name, ms],
        ),
      )
      .catch(() => {});
  }

  /**
   * Only a 429 teaches the shared limiter (retry-after for everyone, and a wider margin here).
   * "ratelimit-remaining: 0" right after our own requests filled the shared window is expected:
   * the window rule already waits for the oldest of them to age out.
   */
  override observe(headers: Record<string, string> | null | undefined, status: number | null): void {
    if (status !== 429 || !headers) return;
    const margin = Math.min(1.25, this.sharedWindow / 1000 + 0.05);
    this.sharedWindow = 1000 * margin;
    this.sharedInterval = (1000 / this.perSecond) * margin;
    const retryAfter = Number(headers["retry-after"]);
    this.block(this.wait.now() + (Number.isFinite(retryAfter) ? retryAfter * 1000 : 1000));
  }
}
