/**
 * Wake-ups over LISTEN/NOTIFY on a real PostgreSQL server: a notification sent through one
 * store's pool wakes a channel listening on another store's dedicated connection; a process
 * ignores its own; a dropped LISTEN connection is made again (and looks once); the Waker of a
 * process that does not tick reaches the TickLoop of one that does. Every wait is bounded and
 * waits for the wake-up itself, never for time to pass.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { Waker } from "../../src/engine/wake.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { type PgWakeChannel, pgWakeChannel } from "../../src/store/postgres/wake.ts";
import { createApp } from "../../src/wiring.ts";
import { tempDir } from "../support/engine-helpers.ts";
import { pgDatabase } from "../support/pg.ts";

const db = pgDatabase();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function store() {
  const s = new PostgresStore(db.url);
  await s.migrate();
  cleanups.push(() => s.close());
  return s;
}

function channel(s: PostgresStore, opts: { firstRetryMs?: number; heard?: (own: boolean) => void } = {}): PgWakeChannel {
  const c = pgWakeChannel(s.pool, db.url, opts);
  cleanups.push(() => c.close());
  return c;
}

/** Counts calls; `reach(n)` resolves once there were n, or fails after a bounded wait. */
function counter(what: string) {
  let n = 0;
  const waiting: { n: number; resolve: () => void }[] = [];
  return {
    get n() {
      return n;
    },
    hit() {
      n++;
      for (const w of waiting.filter((x) => x.n <= n)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    },
    reach(target: number, ms = 10_000) {
      if (n >= target) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: ${n} of ${target} within ${ms} ms`)), ms);
        waiting.push({
          n: target,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))]);

describe("PostgreSQL wake-ups (LISTEN/NOTIFY)", () => {
  it("a notify through one store wakes a channel listening on another; a process's own notify does not wake itself", async () => {
    const [a, b] = [await store(), await store()];
    const heard: boolean[] = [];
    const notifications = counter("notifications heard");
    const [sender, listener] = [
      channel(a),
      channel(b, {
        heard: (own) => {
          heard.push(own);
          notifications.hit();
        },
      }),
    ];
    const wakes = counter("wake-ups");
    cleanups.push(listener.listen(() => wakes.hit()));
    await within(listener.listening(), 10_000, "LISTEN");
    // The listener's own notify first, then the other store's: both are heard, in commit order;
    // only the other's wakes (this process ticks already when it notifies).
    await listener.notify();
    await sender.notify();
    await notifications.reach(2);
    expect(heard).toEqual([true, false]);
    expect(wakes.n).toBe(1);
    await sender.notify();
    await wakes.reach(2);
  });

  it("a dropped LISTEN connection is made again: it looks once on reconnecting, then hears notifications again", async () => {
    const [a, b] = [await store(), await store()];
    const [sender, listener] = [channel(a), channel(b, { firstRetryMs: 20 })];
    const wakes = counter("wake-ups");
    cleanups.push(listener.listen(() => wakes.hit()));
    await within(listener.listening(), 10_000, "LISTEN");
    await sender.notify();
    await wakes.reach(1);
    // The server ends the listening session (a restart, a failover, an idle-session killer).
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query = $1 AND pid <> pg_backend_pid()",
        ["LISTEN drip_wake"],
      );
      expect(killed.rows).toEqual([{ ok: true }]);
    } finally {
      await admin.end();
    }
    await wakes.reach(2); // the catch-up look after reconnecting: LISTEN is back
    await within(listener.listening(), 10_000, "LISTEN again");
    await sender.notify();
    await wakes.reach(3);
  });

  it("the Waker of a process that does not tick reaches the TickLoop of one that does; stopping listening ends the connection", async () => {
    const [a, b] = [await store(), await store()];
    const cli = new Waker(channel(a));
    const ticks = counter("ticks");
    const listener = channel(b);
    const worker = new Waker(listener);
    worker.attach(async () => ticks.hit());
    cleanups.push(() => worker.detach());
    await within(listener.listening(), 10_000, "LISTEN");
    cli.wake();
    await ticks.reach(1);
    // A worker that ticks runs its own tick and tells the others (its own notification is not heard back).
    const other = counter("other worker's ticks");
    const otherChannel = channel(a);
    const otherWorker = new Waker(otherChannel);
    otherWorker.attach(async () => other.hit());
    cleanups.push(() => otherWorker.detach());
    await within(otherChannel.listening(), 10_000, "second LISTEN");
    worker.wake();
    await ticks.reach(2); // its own tick
    await other.reach(1); // the other worker, through NOTIFY
    worker.detach();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      // One listening session is left (the other worker's); the detached one is gone.
      for (let i = 0; i < 200; i++) {
        const { rows } = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN drip_wake'");
        if (rows[0].n === 1) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const { rows } = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN drip_wake'");
      expect(rows[0].n).toBe(1);
    } finally {
      await c.end();
    }
    expect(ticks.n).toBe(2);
  });

  it("wired: two apps on one PostgreSQL database, the door's wake-up in one runs the tick of the other", async () => {
    const dir = tempDir("drip-pg-wake-");
    const config = loadConfig({ DATABASE_URL: db.url, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) });
    const [cli, worker] = [await createApp(config), await createApp(config)];
    cleanups.push(() => cli.close());
    cleanups.push(() => worker.close());
    const ticks = counter("worker ticks");
    worker.waker.attach(async () => ticks.hit());
    cleanups.push(() => worker.waker.detach());
    // The worker's LISTEN is up once a notify through the app's own channel reaches it.
    for (let i = 0; ticks.n === 0; i++) {
      cli.waker.wake();
      await Promise.race([ticks.reach(1, 10_000), new Promise((r) => setTimeout(r, 200))]).catch(() => {});
      expect(i, "the worker never heard a wake-up").toBeLessThan(50);
    }
    const before = ticks.n;
    cli.waker.wake();
    await ticks.reach(before + 1);
  });
});
