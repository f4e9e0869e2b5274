/**
 * Crash test for delivery through Resend (DESIGN.md: a step reaches a subscriber at most
 * once, and every due step is delivered or recorded, across kill -9 at any point).
 *
 * The double of the provider runs here, in the parent; a worker child process
 * (tests/support/delivery-worker.ts) opens the app from its environment with RESEND_API_KEY
 * and RESEND_BASE_URL pointing at the double, and ticks a virtual clock through 5,000 due
 * sends. The parent kills it with SIGKILL at least 20 times and restarts it:
 * - most kills land 0–4 ms after the double has answered the worker's k-th request of the
 *   run (k = 1–3): between the provider accepting a batch and the worker recording it,
 *   which is exactly the case the stored batch and its idempotency key are for;
 * - the others land at a random moment 0–1.5 s after the app is open: in claims, renders,
 *   the write of a batch, a request in flight.
 * After the last run settles, the double must hold 5,000 distinct deliveries and no
 * duplicate, and every send must be recorded sent with the provider's id.
 *
 * The limit here is 50 requests per second (double and DRIP_RATE_LIMIT alike), not the
 * default 5 nor the 2 of the fault test: this test is about crash safety, not pacing (the
 * limiter has its own tests), and each of the 20+ restarts costs a process start; at 5 req/s
 * the 50+ batch requests plus their replays would add ~10 s of pure waiting for nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { MINUTE, T0, cleanupTempDirs, deliveryEnv, seedEnrolled, tally, tempDir } from "../support/delivery-helpers.ts";
import { type ResendDouble, startResendDouble } from "../support/resend-double.ts";
import { makePrng } from "../support/resend-double-rules.ts";
import { type Kill, PHASE, type RunResult, runWorker as runCrashWorker } from "../support/crash-runner.ts";

const SEED = Number(process.env.CRASH_SEED ?? 20260303);
const N = 5_000;
const RATE = 50;
const KILLS = 20;
/**
 * Each restart starts at its predecessor's last tick instant + 6 minutes: claims and batches
 * hold a 5-minute lease, which in the real world runs out while the crashed process is down;
 * on a virtual clock we move time past it ourselves. The worker steps by the same amount.
 */
const STEP_MS = 6 * MINUTE;

/** Seeded, so a failing run can be replayed with CRASH_SEED. */
const rng = makePrng;

let dir: string;
let env: Record<string, string>;
let double: ResendDouble;
const runWorker = (start: Date, kill: Kill) => runCrashWorker({ double, env, stepMs: STEP_MS }, start, kill);

describe("crash test: SIGKILL at random points during a 5,000-send run through Resend", () => {
  beforeAll(async () => {
    double = await startResendDouble({ rateLimit: RATE, latencyMs: [5, 25], seed: SEED });
    dir = tempDir("drip-delivery-crash-");
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? dir,
      ...deliveryEnv(dir, double.url, RATE),
      // React's production build, as `npm start` runs it: renders are 3–4× faster than in dev.
      NODE_ENV: "production",
    };
    const app = await createApp(loadConfig(env));
    try {
      await seedEnrolled(app.store, app.engine, N, T0);
    } finally {
      await app.close();
    }
  }, 60_000);

  afterAll(async () => {
    await double?.close();
    cleanupTempDirs();
  });

  it(`after ≥ ${KILLS} kills and restarts: ${N} distinct deliveries, 0 duplicates, every send recorded`, async () => {
    const random = rng(SEED);
    const t0 = performance.now();
    const landed: Record<string, number> = {};
    let kills = 0;
    let start = T0;
    let final: RunResult | null = null;
    for (let run = 0; run < KILLS + 30; run++) {
      let kill: Kill = null;
      if (kills < KILLS) {
        kill =
          random() < 0.7
            ? { kind: "after-request", requests: 1 + Math.floor(random() * 3), delayMs: Math.floor(random() * 5) }
            : { kind: "random", afterReadyMs: Math.floor(random() * 1500) };
      }
      const r = await runWorker(start, kill);
      if (r.killed && r.signal === "SIGKILL") {
        kills++;
        const where = `${kill!.kind} → ${PHASE[r.lastLine?.[0] ?? ""] ?? "starting up"}`;
        landed[where] = (landed[where] ?? 0) + 1;
        if (r.lastNow) start = new Date(r.lastNow.getTime() + STEP_MS);
        continue;
      }
      expect(r.stderr, `run ${run} failed (seed ${SEED})`).toBe("");
      expect(r.code, `run ${run} exit code (seed ${SEED})`).toBe(0);
      expect(r.done).toBe(true);
      if (kills < KILLS) throw new Error(`the work finished after only ${kills} kills (seed ${SEED}): kill sooner`);
      final = r;
      break;
    }
    expect(final, "the last run settles").not.toBeNull();
    expect(kills).toBeGreaterThanOrEqual(20);

    // The provider's side: every subscriber exactly once.
    const byTo = tally(double.delivered.map((e) => e.to.join(",")));
    const duplicates = [...byTo.values()].reduce((n, c) => n + c - 1, 0);
    // A batch answered 200 more than once was re-sent after its answer was lost to a kill:
    // the provider replayed it (same key, same bytes) instead of sending again.
    const answered = tally(double.requests.filter((r) => r.status === 200).map((r) => r.idempotencyKey ?? "?"));
    const replayed = [...answered.values()].filter((n) => n > 1).length;
    console.info(
      `delivery crash test (seed ${SEED}): ${kills} kills in ${((performance.now() - t0) / 1000).toFixed(1)} s, landed ${JSON.stringify(landed)}; ` +
        `${double.requests.length} requests (${double.requests.filter((r) => r.status === 429).length} × 429, ` +
        `${double.requests.filter((r) => r.status === 409).length} × 409), ${answered.size} batches, ${replayed} replayed after a kill; ` +
        `${double.delivered.length} delivered, ${duplicates} duplicates`,
    );
    expect(duplicates).toBe(0);
    expect(byTo.size).toBe(N);
    expect(double.delivered).toHaveLength(N);
    expect(replayed, "at least one kill landed between an accepted request and its record").toBeGreaterThan(0);

    // drip's side: all sent, each with the id the provider gave it, nothing pending.
    const store = new SqliteStore(env.DATABASE_URL!);
    try {
      const status = await store.status();
      expect(status.sends).toEqual({ claimed: 0, sent: N, skipped: 0, failed: 0, in_doubt: 0 });
      const rows = await store.db.selectFrom("sends").select(["id", "provider_message_id"]).execute();
      const ids = new Set(double.delivered.map((e) => e.id));
      expect(rows.filter((r) => !ids.has(r.provider_message_id ?? ""))).toEqual([]);
      expect(await store.db.selectFrom("batches").select("id").where("status", "=", "pending").execute()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
