/**
 * Many workers (issue 12): PostgreSQL beside SQLite.
 *   (a) sends per second with 1, 2 and 4 worker processes (tests/support/pg-worker.ts, the app
 *       as `drip start` opens it) delivering to the provider double at a high limit (1,000
 *       requests/s), so the provider is not what limits them;
 *   (b) the idle tick at 1,000,000 enrollments, none due (median and p99 of 30);
 *   (c) claim latency: claimDue of 100 at a time from 20,000 due among 1,000,000 (p50, p99).
 * PostgreSQL is the embedded server the tests use (fsync on, defaults otherwise), on this machine.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import course from "../sequences/hip-pain-course.ts";
import { loadConfig } from "../src/config.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../src/store/types.ts";
import { createApp } from "../src/wiring.ts";
import { API_KEY, COURSE, emailOf } from "../tests/support/delivery-helpers.ts";
import { startEmbeddedPostgres } from "../tests/support/pg-global-setup.ts";
import { createDatabase } from "../tests/support/pg.ts";
import { startRemoteDouble } from "../tests/support/remote-double.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const WORKER = join(ROOT, "tests/support/pg-worker.ts");
const SECRET = "bench-secret-bench-secret-bench-secret-0123456789";
const SENDS = 1_000;
const BIG = 1_000_000;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

type Backend = "postgres" | "sqlite";

async function sendsPerSecond(backend: Backend, workers: number, adminUrl: string): Promise<number> {
  const remote = await startRemoteDouble({ rateLimit: 1000, latencyMs: [5, 20], seed: 7 });
  const dir = mkdtempSync(join(tmpdir(), "drip-bench-w-"));
  const db = backend === "postgres" ? await createDatabase(adminUrl, "drip_bench") : null;
  const env: Record<string, string> = {
    DATABASE_URL: db ? db.url : `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: join(dir, "outbox"),
    RESEND_API_KEY: API_KEY,
    RESEND_BASE_URL: remote.url,
    DRIP_RATE_LIMIT: "1000",
    DRIP_SECRET: SECRET,
    TICK_MS: "100",
  };
  const app = await createApp(loadConfig(env));
  const now = new Date(Date.now() - 60_000);
  const first = course.steps[0]!.id;
  for (let k = 0; k < SENDS; k += 500) {
    const rows = Array.from({ length: 500 }, (_, j) => ({ email: emailOf(k + j), timezone: "Europe/London", status: "active" as const }));
    await app.store.importSubscribers(rows, now, () => ({ sequenceId: COURSE, startedAt: now, firstStepId: first, firstDueAt: now }));
  }
  const procs: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < workers; i++) {
    const p = spawn(process.execPath, ["--import", "tsx", WORKER], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "ignore"] });
    procs.push(p);
    ready.push(new Promise((resolve) => p.stdout!.once("data", () => resolve())));
  }
  // Timed from the moment every worker is up (process start is not the database's cost).
  await Promise.all(ready);
  const t0 = performance.now();
  for (;;) {
    const s = await app.store.status();
    if (s.sends.sent >= SENDS) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t0) / 1000;
  for (const p of procs) p.kill("SIGKILL");
  await app.close();
  await remote.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
  return SENDS / seconds;
}

/** 1,000,000 active enrollments, none due (due over the next 30 days), `due` of them due now. */
async function bigFixture(backend: Backend, adminUrl: string, due: number): Promise<{ store: Store; url: string; drop: () => Promise<void> }> {
  const t = Date.now();
  const step = course.steps[0]!.id;
  if (backend === "postgres") {
    const db = await createDatabase(adminUrl, "drip_bench_big");
    const store = new PostgresStore(db.url);
    await store.migrate();
    await store.pool.query(
      `INSERT INTO subscribers (id, email, email_key, name, timezone, status, created_at, updated_at)
       SELECT 's' || i, 'b' || i || '@example.com', 'b' || i || '@example.com', '', 'Europe/London', 'active', $1, $1 FROM generate_series(1, $2) i`,
      [t, BIG],
    );
    await store.pool.query(
      `INSERT INTO enrollments (id, subscriber_id, sequence_id, round, started_at, next_step_id, next_due_at, status, updated_at)
       SELECT i, 's' || i, $3, 1, $1, $4, CASE WHEN i <= $5 THEN $1 - 1000 ELSE $1 + 60000 + (i * 2591) % 2592000000 END, 'active', $1 FROM generate_series(1, $2) i`,
      [t, BIG, COURSE, step, due],
    );
    await store.pool.query("SELECT setval(pg_get_serial_sequence('enrollments', 'id'), $1)", [BIG]);
    await store.pool.query("VACUUM ANALYZE enrollments");
    await store.pool.query("VACUUM ANALYZE subscribers");
    const drop = async () => {
      await store.close();
      await db.drop();
    };
    return { store, url: db.url, drop };
  }
  const dir = mkdtempSync(join(tmpdir(), "drip-bench-big-"));
  const file = join(dir, "drip.db");
  const seed = new SqliteStore(`file:${file}`);
  await seed.migrate();
  await seed.close();
  const raw = new Database(file);
  raw.pragma("journal_mode = WAL");
  raw.pragma("synchronous = OFF");
  raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${BIG})
    INSERT INTO subscribers (id, email, email_key, name, timezone, status, created_at, updated_at)
    SELECT 's' || i, 'b' || i || '@example.com', 'b' || i || '@example.com', '', 'Europe/London', 'active', ${t}, ${t} FROM n`);
  raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${BIG})
    INSERT INTO enrollments (id, subscriber_id, sequence_id, round, started_at, next_step_id, next_due_at, status, updated_at)
    SELECT i, 's' || i, '${COURSE}', 1, ${t}, '${step}', CASE WHEN i <= ${due} THEN ${t - 1000} ELSE ${t + 60000} + (i * 2591) % 2592000000 END, 'active', ${t} FROM n`);
  raw.exec("ANALYZE");
  raw.close();
  const store = new SqliteStore(`file:${file}`);
  const drop = async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { store, url: `file:${file}`, drop };
}

async function idleTick(backend: Backend, adminUrl: string): Promise<{ median: number; p99: number }> {
  const { url, drop } = await bigFixture(backend, adminUrl, 0);
  // The app as `drip start` opens it, over the same database.
  const config = loadConfig({ DATABASE_URL: url, OUTBOX_DIR: join(tmpdir(), "drip-bench-outbox"), DRIP_SECRET: SECRET });
  const app = await createApp(config);
  const times: number[] = [];
  for (let i = 0; i < 35; i++) {
    const t0 = performance.now();
    const s = await app.engine.tick(new Date());
    if (i >= 5) times.push(performance.now() - t0);
    if (s.sent + s.skipped + s.failed + s.deferred !== 0) throw new Error("idle tick did work");
  }
  await app.close();
  await drop();
  return { median: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

/** EXPLAIN ANALYZE of the due-step read claimDue runs (its first CTE), on the 1M table. */
let explained = "";

async function claimLatency(backend: Backend, adminUrl: string): Promise<{ p50: number; p99: number }> {
  const { store, drop } = await bigFixture(backend, adminUrl, 20_000);
  const times: number[] = [];
  const now = new Date();
  if (store instanceof PostgresStore) {
    const plan = await store.pool.query<{ "QUERY PLAN": string }>(
      `EXPLAIN ANALYZE SELECT id FROM enrollments WHERE status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= $1 ORDER BY next_due_at LIMIT 100 FOR UPDATE SKIP LOCKED`,
      [now.getTime()],
    );
    explained = plan.rows.map((r) => `  ${r["QUERY PLAN"]}`).join("\n");
  }
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    const got = await store.claimDue(now, 100, 60_000, "bench");
    times.push(performance.now() - t0);
    if (got.length === 0) break;
  }
  await drop();
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

export async function benchWorkers(): Promise<void> {
  const pg = await startEmbeddedPostgres();
  try {
    const rows: [string, string, string][] = [];
    for (const w of [1, 2, 4]) {
      const p = await sendsPerSecond("postgres", w, pg.url);
      const s = await sendsPerSecond("sqlite", w, pg.url);
      rows.push([`sends/s, ${w} worker${w > 1 ? "s" : ""} (${SENDS} sends)`, p.toFixed(0), s.toFixed(0)]);
    }
    for (const b of ["postgres", "sqlite"] as const) {
      const r = await idleTick(b, pg.url);
      (rows.find((x) => x[0].startsWith("idle tick median")) ?? rows[rows.push(["idle tick median at 1M (ms), aim < 20", "", ""]) - 1]!)[
        b === "postgres" ? 1 : 2
      ] = r.median.toFixed(1);
      (rows.find((x) => x[0].startsWith("idle tick p99")) ?? rows[rows.push(["idle tick p99 at 1M (ms)", "", ""]) - 1]!)[b === "postgres" ? 1 : 2] =
        r.p99.toFixed(1);
    }
    for (const b of ["postgres", "sqlite"] as const) {
      const r = await claimLatency(b, pg.url);
      (rows.find((x) => x[0].startsWith("claim 100, p50")) ?? rows[rows.push(["claim 100, p50 (ms)", "", ""]) - 1]!)[b === "postgres" ? 1 : 2] =
        r.p50.toFixed(1);
      (rows.find((x) => x[0].startsWith("claim 100, p99")) ?? rows[rows.push(["claim 100, p99 (ms)", "", ""]) - 1]!)[b === "postgres" ? 1 : 2] =
        r.p99.toFixed(1);
    }
    console.log(`\nMany workers: PostgreSQL (embedded server) beside SQLite; ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(1)}`);
    console.log(`${"".padEnd(44)} ${"postgres".padStart(10)} ${"sqlite".padStart(10)}`);
    for (const [label, p, s] of rows) console.log(`${label.padEnd(44)} ${p.padStart(10)} ${s.padStart(10)}`);
    console.log(`PostgreSQL, EXPLAIN ANALYZE of the due-step read at 1M enrollments (20,000 due):\n${explained}`);
  } finally {
    await pg.stop();
  }
}
