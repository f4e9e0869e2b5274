/**
 * One `drip start` process on a shared PostgreSQL database: it registers in drip_workers, and
 * a heartbeat (every third of a lease) keeps its claims alive while it works on them, says it
 * is alive (`drip status` lists live workers, their last heartbeat and what each holds), and
 * stands for the duties that must run on one worker at a time, elected with a session-level
 * advisory lock held on a connection of its own: when the worker dies, its connection closes,
 * the lock is free, and another worker's next heartbeat takes the duties over.
 *
 * The heartbeat renews only what this worker still owns: enrollments whose lease_owner is
 * its claim owner (a claim taken over by another worker has that worker's name) and the
 * batches it has in hand. A worker frozen past its lease (SIGSTOP, a long GC pause) renews
 * nothing that was taken over, and its late writes are refused by the fence.
 */
import { hostname } from "node:os";
import pg from "pg";
import { HELD_BY_BATCH } from "../shared.ts";
import type { ClaimedSend, EngineStore, OutcomeRecord, PendingBatch } from "../types.ts";
import type { PostgresStore } from "./postgres-store.ts";
import { parsePostgresUrl } from "./postgres-store.ts";

/** Advisory lock key of the run-once duties ("dut1"). */
export const DUTIES_LOCK = 0x64757431;

export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  startedAt: Date;
  heartbeatAt: Date;
  duties: string;
  /** Due steps it holds under a lease (not counting those handed to a batch). */
  claims: number;
  alive: boolean;
}

export class PgWorker {
  readonly id: string;
  /** The claim owner (lease_owner) the engine is given, and passes to claimDue. */
  readonly owner: string;
  private readonly batches = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private dutyClient: pg.Client | null = null;
  private leader = false;
  private beating: Promise<void> | null = null;

  constructor(
    private readonly store: PostgresStore,
    private readonly url: string,
    readonly leaseMs: number,
    private readonly log: (line: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    this.id = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    this.owner = `worker:${this.id}`;
  }

  /** Started (registered, heartbeat running)? A CLI command that only ticks once is not. */
  get running(): boolean {
    return this.timer !== null;
  }

  /** Does this worker run the once-only duties now? */
  get leads(): boolean {
    return this.leader;
  }

  /**
   * The engine's view of the store: the same store, with the batches this worker creates or
   * recovers remembered until they are resolved, so the heartbeat can keep their leases.
   */
  track(store: EngineStore): EngineStore {
    const self = this;
    return new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        switch (prop) {
          case "createBatch":
            return async (batch: { id: string; payload: string; claims: readonly ClaimedSend[]; leaseUntil: Date; now: Date }) => {
              self.batches.add(batch.id);
              const res = (await v.call(target, batch)) as { lost: string[] };
              if (res.lost.length > 0) self.batches.delete(batch.id);
              return res;
            };
          case "claimStaleBatches":
            return async (...args: unknown[]) => {
              const got = (await v.apply(target, args)) as PendingBatch[];
              for (const b of got) self.batches.add(b.id);
              return got;
            };
          case "completeBatch":
            return async (batchId: string, records: readonly OutcomeRecord[], ...rest: unknown[]) => {
              try {
                return await v.call(target, batchId, records, ...rest);
              } finally {
                self.batches.delete(batchId);
              }
            };
          case "retryBatchLater":
            return async (batchId: string, ...rest: unknown[]) => {
              try {
                return await v.call(target, batchId, ...rest);
              } finally {
                self.batches.delete(batchId);
              }
            };
          default:
            return v.bind(target);
        }
      },
    });
  }

  async start(): Promise<void> {
    const t = this.now();
    await this.store.pool.query(
      "INSERT INTO drip_workers (id, host, pid, started_at, heartbeat_at, duties) VALUES ($1, $2, $3, $4, $4, '') ON CONFLICT (id) DO UPDATE SET heartbeat_at = $4",
      [this.id, hostname(), process.pid, t],
    );
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), Math.max(200, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  /** Renew what this worker holds, say it is alive, and stand for the duties. Never throws (logged). */
  heartbeat(): Promise<void> {
    this.beating ??= (async () => {
      try {
        const until = this.now() + this.leaseMs;
        // Rows are locked in id order, the one order every path takes (see claim-queries.ts), so
        // the heartbeat never waits in a lock cycle with this worker's own createBatch/
        // completeBatch or another worker's recovery (the deadlock the soak found was this
        // UPDATE locking in index order against createBatch's ORDER BY id). It waits for a row
        // another transaction holds rather than skipping it: a skipped row is not renewed, its
        // 2 s lease in the soak ran out under load, and workers kept taking each other's claims
        // (the soak stalled at 0–1,100 of 5,000 sent).
        await this.store.pool.query(
          `UPDATE enrollments SET lease_until = $2 WHERE id IN (
             SELECT id FROM enrollments WHERE lease_owner = $1 AND lease_until IS NOT NULL AND lease_until < $3 ORDER BY id FOR UPDATE)`,
          [this.owner, until, HELD_BY_BATCH],
        );
        if (this.batches.size > 0)
          await this.store.pool.query(
            `UPDATE batches SET lease_until = greatest(lease_until, $2) WHERE id IN (
               SELECT id FROM batches WHERE id = ANY($1) AND status = 'pending' ORDER BY id FOR UPDATE)`,
            [[...this.batches], until],
          );
        await this.elect();
      } catch (err) {
        this.log(`worker heartbeat failed: ${(err as Error).message}`);
      } finally {
        this.beating = null;
      }
    })();
    return this.beating;
  }

  /**
   * Stand for the duties and say this worker is alive, in one statement on its own session (the
   * one that holds the duties lock): try for the lock unless it already holds it (a session lock
   * taken twice would need two unlocks), the leader's maintenance (forget workers silent for an
   * hour), and this worker's row (written again if maintenance elsewhere forgot it). A session
   * that died fails the statement: the lock went with it.
   */
  private async elect(retry = true): Promise<void> {
    if (!this.dutyClient) {
      this.leader = false;
      const c = new pg.Client({ connectionString: parsePostgresUrl(this.url).connectionString });
      c.on("error", () => {
        this.leader = false;
        this.dutyClient = null;
      });
      await c.connect();
      this.dutyClient = c;
    }
    const was = this.leader;
    const t = this.now();
    try {
      const { rows } = await this.dutyClient.query<{ got: boolean }>(
        `WITH lock AS (SELECT CASE WHEN $4::boolean THEN true ELSE pg_try_advisory_lock($3) END AS got),
           gone AS (DELETE FROM drip_workers WHERE heartbeat_at < $5 AND (SELECT got FROM lock))
         INSERT INTO drip_workers (id, host, pid, started_at, heartbeat_at, duties)
         VALUES ($1, $6, $7, $2, $2, CASE WHEN (SELECT got FROM lock) THEN 'leader' ELSE '' END)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, duties = excluded.duties
         RETURNING duties = 'leader' AS got`,
        [this.id, t, DUTIES_LOCK, was, t - 3_600_000, hostname(), process.pid],
      );
      this.leader = rows[0]?.got === true;
    } catch (err) {
      // The session is gone (and the lock with it): stand again on a new one, once.
      this.leader = false;
      const c = this.dutyClient;
      this.dutyClient = null;
      await c?.end().catch(() => {});
      if (!retry) throw err;
      return this.elect(false);
    }
    if (this.leader && !was) this.log(`worker ${this.id} runs the once-only duties (pause lifting, maintenance)`);
  }

  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    await this.store.pool.query("DELETE FROM drip_workers WHERE id = $1", [this.id]).catch(() => {});
    await this.dutyClient?.end().catch(() => {});
    this.dutyClient = null;
    this.leader = false;
  }
}

/** Workers that said they are alive within three heartbeats (and the silent ones, marked). */
export async function listWorkers(store: PostgresStore, now: number, leaseMs: number): Promise<WorkerRow[]> {
  const { rows } = await store.pool.query<{ id: string; host: string; pid: number; started_at: number; heartbeat_at: number; duties: string; claims: number }>(
    `SELECT w.id, w.host, w.pid, w.started_at, w.heartbeat_at, w.duties,
       (SELECT count(*) FROM enrollments e WHERE e.lease_owner = 'worker:' || w.id AND e.lease_until < $1) AS claims
     FROM drip_workers w ORDER BY w.started_at`,
    [HELD_BY_BATCH],
  );
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    startedAt: new Date(Number(r.started_at)),
    heartbeatAt: new Date(Number(r.heartbeat_at)),
    duties: r.duties,
    claims: Number(r.claims),
    alive: now - Number(r.heartbeat_at) <= leaseMs,
  }));
}
