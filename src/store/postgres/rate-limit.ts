/**
 * One provider rate limit for every worker on the database (DRIP_RATE_LIMIT is the team's
 * limit at the provider, not a process's). The limiter keeps a sliding log of the last
 * `perSecond` request starts in one row (drip_rate_limit), read and written by one statement
 * under its row lock (one round trip per slot), with the database's clock (workers on several
 * machines share one clock): a request may
 * start only when fewer than `perSecond` started in the last second (plus margin) and the
 * last one started at least 1/perSecond ago. A 429's retry-after is written to the same row,
 * so one worker's answer from the provider pauses all of them. A request that starts after 4 s
 * without any (a cold connection) counts from its answer, as in RateLimiter. (A quota pause, hours long,
 * is the engine's delivery pause in the store: shared already.)
 */
import type pg from "pg";
import { COLD_AFTER_MS, type Clock, RateLimiter, realClock, type Slot } from "../../delivery/rate-limiter.ts";

/** Slack over one second: absorbs the time between taking a slot and the request reaching the provider. */
const MARGIN = 1.1;

/** A request that left at least this late (ms) after its slot moves its start in the shared log (sent). */
const LATE_ENOUGH_MS = 5;

export class PgRateLimiter extends RateLimiter {
  private ready: Promise<void> | null = null;
  /** A cold slot's start being moved to its answer (answered). */
  private moving: Promise<void> = Promise.resolve();
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
      // A cold request's answer moves its start first (answered): the window counts from there.
      await this.moving;
      const r = await this.trySlot();
      if (r.waitMs <= 0) return r.slot;
      await this.wait.sleep(Math.min(Math.ceil(r.waitMs), 1000));
    }
  }

  /**
   * One statement (one round trip; the row is locked for that statement only): read the log
   * with the database's clock, decide as RateLimiter.acquire does (the last `perSecond` starts
   * within the window, the spacing since the last one, a 429's hold), and append this start
   * when it may go. A start with no other in the last COLD_AFTER_MS (any worker's) is cold.
   */
  private async trySlot(): Promise<{ waitMs: number; slot: Slot }> {
    const { rows } = await this.pool.query<{ now: string; at: string; cold: boolean }>(
      `WITH cur AS (
         SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now, starts, blocked_until
         FROM drip_rate_limit WHERE name = $1 FOR UPDATE
       ), live AS (
         SELECT now, blocked_until,
           ARRAY(SELECT s FROM unnest(starts) WITH ORDINALITY AS u(s, i) WHERE s > now - 60000 ORDER BY i)::bigint[] AS starts
         FROM cur
       ), decided AS (
         SELECT now, starts, greatest(
             CASE WHEN cardinality(starts) < $2::int THEN NULL ELSE starts[cardinality(starts) - $2::int + 1] + $3::float8 END,
             starts[cardinality(starts)] + $4::float8,
             blocked_until) AS at,
           coalesce(now - starts[cardinality(starts)] > $5::bigint, true) AS cold
         FROM live
       ), taken AS (
         UPDATE drip_rate_limit r
         SET starts = (CASE WHEN $2::int > 1 THEN d.starts[greatest(1, cardinality(d.starts) - $2::int + 2):] ELSE '{}'::bigint[] END) || d.now
         FROM decided d WHERE r.name = $1 AND d.at <= d.now
         RETURNING r.name
       )
       SELECT now::text, ceil(at)::bigint::text AS at, cold FROM decided`,
      [this.name, this.perSecond, this.sharedWindow, this.sharedInterval, COLD_AFTER_MS],
    );
    const row = rows[0]!;
    const now = Number(row.now);
    const at = Number(row.at);
    return { waitMs: at > now ? at - now : 0, slot: { at: now, cold: row.cold, given: this.wait.now() } };
  }

  /**
   * The provider answered the request that started at `slot` (database clock). A cold one may
   * have reached the provider as late as now: its start in the shared log moves to now, as
   * RateLimiter.answered does, before this process takes its next slot.
   */
  override answered(slot: Slot | undefined): void {
    if (!slot?.cold) return;
    this.moveStart(slot, "greatest($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)");
  }

  /**
   * The request given `slot` has just left (RateLimiter.sent): when that was later than the slot
   * was given (by this process's clock), its start in the shared log moves by as much, before
   * this process takes its next slot. A few milliseconds (the spacing's margin absorbs them)
   * are not worth a round trip.
   */
  override sent(slot: Slot | undefined): void {
    if (!slot || slot.given === undefined) return;
    const late = Math.floor(this.wait.now() - slot.given);
    if (late < LATE_ENOUGH_MS) return;
    this.moveStart(slot, "$2::bigint + $3::bigint", [late]);
  }

  /**
   * Move `slot`'s start in the shared log to `to` (an SQL expression of $2, the start, and the
   * extra parameters), after any move already on its way, and keep `slot.at` the value the log
   * holds (later moves find it by that value). A failed move leaves the start where it was.
   */
  private moveStart(slot: Slot, to: string, extra: unknown[] = []): void {
    this.moving = this.moving
      .then(async () => {
        const { rows } = await this.pool.query<{ at: string }>(
          `WITH v AS (SELECT (${to})::bigint AS at)
           UPDATE drip_rate_limit SET starts = array_replace(starts, $2::bigint, v.at) FROM v WHERE name = $1 RETURNING v.at::text AS at`,
          [this.name, slot.at, ...extra],
        );
        if (rows[0]) slot.at = Number(rows[0].at);
      })
      .catch(() => {});
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
