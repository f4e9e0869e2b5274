/**
 * The PostgreSQL store's wake-up channel: LISTEN/NOTIFY on `drip_wake`. When the door makes a
 * send due now, `notify()` runs `pg_notify('drip_wake', <this process's token>)` on the pool,
 * after the door's transaction committed. Every worker that ticks holds one dedicated `pg`
 * client (outside the pool) that LISTENs and wakes its TickLoop; a dropped connection is made
 * again with backoff, and a reconnect wakes once (a notification sent while it was down is
 * lost). The payload is only who sent it (a process ignores its own: it ticks already), never
 * anything of the send path: a wake-up is an ordinary tick (claims under lease, fenced), and
 * the minute tick stays the safety net.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { WakeChannel } from "../../engine/wake.ts";
import { parsePostgresUrl } from "./postgres-store.ts";

export const WAKE_CHANNEL = "drip_wake";

export interface PgWakeChannel extends WakeChannel {
  /** Resolves once a connection is LISTENing (the current one, or the next after a drop). */
  listening(): Promise<void>;
  /** Wait for notifications in flight (before the pool closes). */
  close(): Promise<void>;
}

export function pgWakeChannel(
  pool: Pick<pg.Pool, "query">,
  url: string,
  opts: {
    log?: (line: string) => void;
    firstRetryMs?: number;
    maxRetryMs?: number;
    /** Told of every notification heard, and whether it was this process's own (ignored). */
    heard?: (own: boolean) => void;
  } = {},
): PgWakeChannel {
  const log = opts.log ?? (() => {});
  const first = opts.firstRetryMs ?? 1000;
  const max = opts.maxRetryMs ?? 30_000;
  const token = randomBytes(8).toString("hex");
  const pending = new Set<Promise<unknown>>();
  let up = false;
  let waiters: (() => void)[] = [];
  const setUp = (v: boolean) => {
    up = v;
    if (v) for (const w of waiters.splice(0)) w();
  };

  return {
    broadcast: true,

    notify() {
      const p = pool.query("SELECT pg_notify($1, $2)", [WAKE_CHANNEL, token]);
      pending.add(p);
      void p.finally(() => pending.delete(p)).catch(() => {});
      return p.then(() => {});
    },

    listen(onWake) {
      let stopped = false;
      let client: pg.Client | null = null;
      let delay = first;
      let timer: NodeJS.Timeout | null = null;
      let connections = 0;

      const drop = (c: pg.Client, why: string) => {
        if (client !== c) return;
        client = null;
        setUp(false);
        c.end().catch(() => {});
        if (stopped) return;
        log(`wake-ups: the LISTEN connection dropped (${why}); again in ${Math.round(delay / 1000)} s, the minute tick goes on`);
        timer = setTimeout(connect, delay);
        timer.unref();
        delay = Math.min(delay * 2, max);
      };

      const connect = async () => {
        timer = null;
        if (stopped) return;
        const c = new pg.Client({ connectionString: parsePostgresUrl(url).connectionString });
        client = c;
        c.on("notification", (m) => {
          if (m.channel !== WAKE_CHANNEL) return;
          const own = m.payload === token;
          if (!own) onWake();
          opts.heard?.(own);
        });
        c.on("error", (err) => drop(c, err.message));
        c.on("end", () => drop(c, "closed"));
        try {
          await c.connect();
          await c.query(`LISTEN ${WAKE_CHANNEL}`);
        } catch (err) {
          drop(c, (err as Error).message);
          return;
        }
        if (client !== c) return;
        delay = first;
        setUp(true);
        // Notifications sent while the connection was down are lost: look once now.
        if (connections++ > 0) onWake();
      };

      void connect();
      return () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        const c = client;
        client = null;
        setUp(false);
        c?.end().catch(() => {});
      };
    },

    listening() {
      return up ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));
    },

    async close() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
      waiters = [];
    },
  };
}
