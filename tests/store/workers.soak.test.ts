/**
 * Many workers on one PostgreSQL database (issue 12): 4 worker processes
 * (tests/support/pg-worker.ts, the app as `drip start` opens it) deliver 5,000 due sends to
 * the provider double in its own process (20 requests/s, 5% answered 500, 2% accepted then
 * dropped), while a random worker is killed with SIGKILL at least 20 times and started again,
 * and one worker is frozen with SIGSTOP for three leases and then resumed. At the end: every
 * subscriber exactly once at the provider, every send recorded sent with the id of a delivered
 * email, and no one-second window with more than 20 requests at the provider (the limit is
 * one row in Postgres shared by all workers). Leases are 2 s here (DRIP_LEASE_SECONDS), so a
 * killed worker's claims come back within seconds.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { createApp } from "../../src/wiring.ts";
import hipPainCourse from "../../sequences/hip-pain-course.ts";
import { API_KEY, COURSE, cleanupTempDirs, emailOf, maxInWindow, tally, tempDir } from "../support/delivery-helpers.ts";
import { createDatabase } from "../support/pg.ts";
import { startRemoteDouble } from "../support/remote-double.ts";
import { makePrng } from "../support/resend-double-rules.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKER = join(ROOT, "tests/support/pg-worker.ts");
// SOAK_SENDS / SOAK_KILLS shrink the run for a quick look (the issue's figures are the defaults).
const N = Number(process.env.SOAK_SENDS ?? 5_000);
const RATE = 20;
const WORKERS = 4;
const KILLS = Number(process.env.SOAK_KILLS ?? 20);
const LEASE_S = 2;
/** The 5,000 first steps come due over this long (see the seeding below). */
const SPREAD_MS = 90_000;
const SECRET = "soak-secret-soak-secret-soak-secret-0123456789";

afterAll(() => cleanupTempDirs());

describe("4 workers on one PostgreSQL database", () => {
  it("deliver 5,000 sends exactly once under 20+ SIGKILLs and a SIGSTOP past the lease, never over the shared rate limit", async () => {
    const rnd = makePrng(Number(process.env.CRASH_SEED ?? 20261130));
    const db = await createDatabase(inject("pgAdminUrl"), "drip_soak");
    const remote = await startRemoteDouble({ rateLimit: RATE, latencyMs: [10, 60], failRate: 0.05, dropRate: 0.02, seed: 12 });
    const dir = tempDir("drip-pg-soak-");
    const env: Record<string, string> = {
      DATABASE_URL: db.url,
      OUTBOX_DIR: join(dir, "outbox"),
      RESEND_API_KEY: API_KEY,
      RESEND_BASE_URL: remote.url,
      DRIP_RATE_LIMIT: String(RATE),
      DRIP_SECRET: SECRET,
      DRIP_LEASE_SECONDS: String(LEASE_S),
      DRIP_DB_POOL: "4",
    };
    // Seeded in pages of 500 (one transaction each). The first steps come due one after another
    // over SPREAD_MS (about 55 a second), not all at once: the workers now clear 5,000 due sends in
    // seconds, faster than 20 kills can land, so work flowing for 90 s is what makes every kill
    // land in claims, renders, batch writes or requests, however fast the workers get.
    const seedApp = await createApp(loadConfig(env));
    const now = new Date(Date.now() - 60_000);
    const dueFrom = Date.now();
    let nth = 0;
    const first = hipPainCourse.steps[0]!.id;
    for (let k = 0; k < N; k += 500) {
      const rows = Array.from({ length: Math.min(500, N - k) }, (_, j) => ({
        email: emailOf(k + j),
        name: `Sub ${k + j}`,
        timezone: "Europe/London",
        status: "active" as const,
      }));
      const r = await seedApp.store.importSubscribers(rows, now, () => ({
        sequenceId: COURSE,
        startedAt: now,
        firstStepId: first,
        firstDueAt: new Date(dueFrom + Math.floor((nth++ * SPREAD_MS) / N)),
      }));
      expect(r.enrolled).toBe(Math.min(500, N - k));
    }
    await seedApp.close();

    const procs: (ChildProcess | null)[] = Array.from({ length: WORKERS }, () => null);
    // When each worker printed "ready" (Infinity until then): on a loaded machine starting one
    // takes seconds, and a worker killed before it is up tests nothing (and the run never moves).
    const upSince: number[] = Array.from({ length: WORKERS }, () => Number.POSITIVE_INFINITY);
    const exits: string[] = [];
    // Transactions a worker ran again after a deadlock (its log line, src/store/postgres/postgres-store.ts).
    const deadlockLines: string[] = [];
    const start = (slot: number) => {
      const child = spawn(process.execPath, ["--import", "tsx", WORKER], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      upSince[slot] = Number.POSITIVE_INFINITY;
      child.stdout!.once("data", () => {
        if (procs[slot] === child) upSince[slot] = Date.now();
      });
      child.stdout!.resume();
      let err = "";
      let line = "";
      child.stderr!.on("data", (d: Buffer) => {
        err = (err + d.toString()).slice(-4000);
        const lines = (line + d.toString()).split("\n");
        line = lines.pop() ?? "";
        for (const l of lines) if (l.includes("after a deadlock")) deadlockLines.push(`${slot}: ${l}`);
      });
      child.on("exit", (code, sig) => exits.push(`${slot}:${sig ?? code}${sig ? "" : ` ${err}`}`));
      procs[slot] = child;
    };
    for (let i = 0; i < WORKERS; i++) start(i);

    const store = new PostgresStore(db.url);
    const sentCount = async () => Number((await store.pool.query("SELECT count(*) AS n FROM sends WHERE status = 'sent'")).rows[0].n);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let kills = 0;
    let stopped = false;
    try {
      const deadline = Date.now() + 25 * 60_000;
      const progress = setInterval(() => void sentCount().then((n) => console.info(`${new Date().toISOString()} sent ${n}/${N}, ${kills} kills`)), 15_000);
      progress.unref();
      // Kill a random worker that has been up a while each time the workers have made some
      // progress (25 more sends recorded), and start it again: kills land in claims, renders,
      // batch writes, requests in flight and recording alike, and the run always moves on.
      let sentAtKill = 0;
      let lastKillAt = Date.now();
      for (;;) {
        const sent = await sentCount();
        if (sent >= N || Date.now() > deadline) break;
        await sleep(150 + rnd() * 350);
        // A worker that died on its own is started again (so the run goes on) and fails the test below.
        for (let i = 0; i < WORKERS; i++) if (procs[i]!.exitCode !== null && procs[i]!.signalCode === null) start(i);
        // A batch is up to 100 sends, so progress comes in steps: a quarter of a batch between kills keeps
        // the run moving while leaving room for 20+ kills before the last send.
        // Sends are recorded a batch at a time, so also kill after 2 s without progress: 20+ kills
        // land before the last send however the batches fall.
        if (sent - sentAtKill < Math.min(25, N / (KILLS * 8)) && Date.now() - lastKillAt < 2000) continue;
        const slot = Math.floor(rnd() * WORKERS);
        const victim = procs[slot]!;
        if (Date.now() - upSince[slot]! < 1500 || victim.exitCode !== null || victim.signalCode !== null) continue;
        const gone = new Promise((r) => victim.once("exit", r));
        victim.kill("SIGKILL");
        await gone;
        kills++;
        sentAtKill = sent;
        lastKillAt = Date.now();
        start(slot);
        // Once, mid-run, freeze another worker for three leases, then let it go on.
        if (!stopped && kills === Math.min(8, Math.ceil(KILLS / 2))) {
          stopped = true;
          const frozen = procs[(slot + 1) % WORKERS]!;
          frozen.kill("SIGSTOP");
          await sleep(3 * LEASE_S * 1000);
          frozen.kill("SIGCONT");
        }
      }
      clearInterval(progress);
      // Let every batch settle (retried ones come back within their lease).
      for (let i = 0; i < 120; i++) {
        const st = await store.status();
        const pending = Number((await store.pool.query("SELECT count(*) AS n FROM batches WHERE status = 'pending'")).rows[0].n);
        if (st.sends.claimed === 0 && pending === 0 && st.sends.sent + st.sends.failed + st.sends.in_doubt >= N) break;
        await sleep(500);
      }
    } finally {
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
              p.once("exit", () => resolve());
              p.kill("SIGCONT");
              p.kill("SIGKILL");
            }),
        ),
      );
    }
    try {
      // Every deadlock PostgreSQL detected in this database (retried or not): the server's own count,
      // flushed by each backend as it ends (the workers' connections closed with their processes).
      await sleep(1500);
      await store.pool.query("SELECT pg_stat_clear_snapshot()");
      const pgDeadlocks = Number(
        (await store.pool.query("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")).rows[0]?.deadlocks ?? -1,
      );
      console.info(`deadlocks: ${pgDeadlocks} detected by PostgreSQL, ${deadlockLines.length} transactions retried after one`);
      const d = await remote.snapshot();
      const byTo = tally(d.delivered.map((e) => e.to.join(",")));
      const duplicates = [...byTo.values()].reduce((n, c) => n + c - 1, 0);
      const admitted = d.requests.filter((r) => r.status !== 429);
      const window = maxInWindow(d.requests);
      console.info(
        `${N} sends, ${WORKERS} workers: ${kills} SIGKILLs, 1 SIGSTOP; ${d.requests.length} requests (${d.requests.filter((r) => r.status === 500).length} × 500, ` +
          `${d.requests.filter((r) => r.status === 0).length} dropped, ${d.requests.length - admitted.length} × 429); max per sliding second at the provider: ${window.max}`,
      );
      expect(kills).toBeGreaterThanOrEqual(KILLS);
      expect(stopped).toBe(true);
      expect(
        exits.filter((e) => !e.includes("SIGKILL")),
        "no worker died on its own",
      ).toEqual([]);
      // Every path locks rows in one order (src/store/postgres/claim-queries.ts, LOCK ORDER): no deadlock at all.
      expect(deadlockLines, "transactions retried after a deadlock").toEqual([]);
      expect(pgDeadlocks).toBe(0);
      expect(duplicates).toBe(0);
      expect(byTo.size).toBe(N);
      expect(d.delivered).toHaveLength(N);
      // Every send recorded sent, with the id of an email the provider holds.
      const rows = (
        await store.pool.query<{ id: string; status: string; provider_message_id: string | null }>("SELECT id, status, provider_message_id FROM sends")
      ).rows;
      expect(rows).toHaveLength(N);
      expect(tally(rows.map((r) => r.status))).toEqual(new Map([["sent", N]]));
      const ids = new Set(d.delivered.map((e) => e.id));
      for (const r of rows) expect(ids.has(r.provider_message_id ?? ""), `${r.id} has no provider id of a delivered email`).toBe(true);
      // One limit across all workers: no second at the provider over it, so no 429.
      expect(window.max).toBeLessThanOrEqual(RATE);
      expect(d.requests.length - admitted.length).toBe(0);
    } finally {
      await store.close();
      await remote.close();
      await db.drop();
    }
  }, 1_800_000);
});
