/**
 * The shared rate limiter on PostgreSQL (src/store/postgres/rate-limit.ts): a slot is one
 * statement, one round trip, so the limiter row every worker shares is locked for that one
 * statement only; and the cold-connection rule of the in-process limiter holds across workers:
 * a request that starts after a quiet spell counts from its answer.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { PgRateLimiter } from "../../src/store/postgres/rate-limit.ts";
import { freshPgStore, pgQueries as pgRoundTrips, pgDatabase } from "../support/pg.ts";

const db = pgDatabase();
vi.setConfig({ testTimeout: 60_000 });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fresh = () => freshPgStore(db, cleanups);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the shared rate limiter (PostgreSQL)", () => {
  it("a free slot is one round trip: one statement reads the shared log, decides and appends the start", async () => {
    const store = await fresh();
    const limiter = new PgRateLimiter(store.pool, 100);
    await limiter.acquire(); // the row is made once per process
    for (let i = 0; i < 3; i++) {
      await pause(30); // past the 11 ms spacing: the slot is free
      const trips = await pgRoundTrips(() => limiter.acquire());
      expect(trips).toHaveLength(1);
      expect(trips[0]).toMatch(/FOR UPDATE/);
    }
    const { rows } = await store.pool.query<{ n: number }>("SELECT cardinality(starts) AS n FROM drip_rate_limit");
    expect(rows).toEqual([{ n: 4 }]);
  });

  it("a cold request (no start in the last 4 s) counts from its answer: the next one waits a window from there", async () => {
    const store = await fresh();
    const a = new PgRateLimiter(store.pool, 1);
    const b = new PgRateLimiter(store.pool, 1);
    const cold = await a.acquire();
    expect(cold.cold).toBe(true);
    await pause(400); // its answer comes late (a cold connection)
    const answeredAt = Date.now();
    a.answered(cold);
    const next = await a.acquire();
    // 1 per second plus the 10% margin, counted from the answer, not from the start 400 ms earlier.
    expect(Date.now() - answeredAt).toBeGreaterThanOrEqual(1000);
    expect(next.cold).toBe(false);
    // Shared: another worker's limiter sees the same log.
    const before = Date.now();
    await b.acquire();
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
  });

  it("a request that left late (sent) moves its start in the shared log: another worker's next slot waits a window from when it left", async () => {
    const store = await fresh();
    const a = new PgRateLimiter(store.pool, 1);
    const b = new PgRateLimiter(store.pool, 1);
    await a.acquire(); // the cold one: out of the way
    await pause(1200);
    const warm = await a.acquire();
    expect(warm.cold).toBe(false);
    await pause(400); // the process was busy: the request leaves 400 ms after its slot
    const leftAt = Date.now();
    a.sent(warm);
    await a.acquire(); // this process's next slot waits for the move to be written
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(900);
    // And another worker's, from the shared log.
    const before = Date.now();
    await b.acquire();
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
  });
});
