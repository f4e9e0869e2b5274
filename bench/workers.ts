/**
 * Many workers (issue 12): PostgreSQL beside SQLite.
 *   (a) sends per second with 1, 2 and 4 worker processes (tests/support/pg-worker.ts, the app
 *       as `drip start` opens it) delivering to the provider double at a high limit (1,000
 *       requests/s), so the provider is not what limits them;
 *   (b) the idle tick at 1,000,000 enrollments, none due (median and p99 of 30);
 *   (c) claim latency: claimDue of 100 at a time from 20,000 due among 1,000,000 (p50, p99).
 * PostgreSQL is the embedded server the tests use, started with its durable defaults (fsync and
 * synchronous commit on; the tests turn them off), on this machine. CPU seconds come from
 * /proc: the worker processes, and the server (postmaster, its live and its reaped backends).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
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

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime+stime (and, with `reaped`, the CPU of its waited-for children) of a live process, in seconds; 0 when gone. */
function cpuOf(pid: number, reaped = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
    const ticks = Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
    return ticks / CLK_TCK;
  } catch {
    return 0;
  }
}

/** CPU seconds the PostgreSQL server has used so far: the postmaster, the backends it reaped, and its live children. */
let serverPid = 0;
function serverCpu(): number {
  if (!serverPid) return 0;
  let total = cpuOf(serverPid, true);
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === serverPid) total += cpuOf(Number(d));
    } catch {}
  }
  return total;
}

interface Throughput {
  rate: number;
  /** PostgreSQL: what the workers' backends were doing, sampled from pg_stat_activity every 50 ms (share of samples). */
  waits: string;
  /** CPU seconds per 1,000 sends: the worker processes, and the PostgreSQL server (postgres only). */
  workerCpu: number;
  serverCpu: number;
}

async function sendsPerSecond(backend: Backend, workers: number, adminUrl: string): Promise<Throughput> {
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
  const cpu0 = procs.map((p) => cpuOf(p.pid!));
  const server0 = backend === "postgres" ? serverCpu() : 0;
  // Sample what the backends of this database are doing (on CPU, waiting for a lock, for the
  // WAL flush of a commit, or for the worker to send its next statement) while they work.
  const sampler = db ? new pg.Client({ connectionString: db.url }) : null;
  await sampler?.connect();
  const waits = new Map<string, number>();
  let samples = 0;
  for (;;) {
    const s = await app.store.status();
    if (s.sends.sent >= SENDS) break;
    if (sampler) {
      const { rows } = await sampler.query<{ what: string }>(
        `SELECT CASE WHEN state = 'active' AND wait_event IS NULL THEN 'CPU' WHEN state = 'idle' THEN 'idle'
           ELSE coalesce(wait_event_type || ':' || wait_event, state) END AS what
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
      );
      for (const r of rows) waits.set(r.what, (waits.get(r.what) ?? 0) + 1);
      samples += rows.length;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t0) / 1000;
  await sampler?.end();
  const busy = [...waits].filter(([k]) => k !== "idle");
  const total = busy.reduce((n, [, v]) => n + v, 0) || 1;
  const waitLine = busy
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([k, v]) => `${k} ${((100 * v) / total).toFixed(0)}%`)
    .join(", ");
  void samples;
  const workerCpu = procs.reduce((n, p, i) => n + cpuOf(p.pid!) - cpu0[i]!, 0);
  const server = backend === "postgres" ? serverCpu() - server0 : 0;
  for (const p of procs) p.kill("SIGKILL");
  await app.close();
  await remote.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
  return { rate: SENDS / seconds, workerCpu: (workerCpu * 1000) / SENDS, serverCpu: (server * 1000) / SENDS, waits: waitLine };
}

interface Recording {
  rate: number;
  /** Statements (BEGIN/COMMIT not counted) and round trips (counted) per email, over the whole delivery. */
  statements: number;
  roundTrips: number;
  /** Transactions committed per email (pg_stat_database). */
  commits: number;
  /** CPU ms per email: this process (the engine), the PostgreSQL server. */
  cpu: number;
  serverCpu: number;
}

/**
 * One worker in this process delivering SENDS emails to the provider double (batches of 100)
 * on PostgreSQL: every statement its `pg` clients run is counted, with this process's and the
 * server's CPU. What the set-based batch recording changes is here, per email.
 */
async function recordingCost(adminUrl: string): Promise<Recording> {
  const remote = await startRemoteDouble({ rateLimit: 1000, latencyMs: [5, 20], seed: 7 });
  const dir = mkdtempSync(join(tmpdir(), "drip-bench-r-"));
  const db = await createDatabase(adminUrl, "drip_bench_rec");
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    OUTBOX_DIR: join(dir, "outbox"),
    RESEND_API_KEY: API_KEY,
    RESEND_BASE_URL: remote.url,
    DRIP_RATE_LIMIT: "1000",
    DRIP_SECRET: SECRET,
  };
  const app = await createApp(loadConfig(env));
  const now = new Date(Date.now() - 60_000);
  const first = course.steps[0]!.id;
  for (let k = 0; k < SENDS; k += 500) {
    const rows = Array.from({ length: 500 }, (_, j) => ({ email: emailOf(k + j), timezone: "Europe/London", status: "active" as const }));
    await app.store.importSubscribers(rows, now, () => ({ sequenceId: COURSE, startedAt: now, firstStepId: first, firstDueAt: now }));
  }
  const commits = async () =>
    Number(
      (await (app.store as PostgresStore).pool.query<{ n: string }>("SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()"))
        .rows[0]!.n,
    );
  await app.engine.tick(new Date(now.getTime() - 120_000)); // warm: templates compiled, limiter row made (nothing due yet)
  const c0 = await commits();
  const cpu0 = process.cpuUsage();
  const server0 = serverCpu();
  const t0 = performance.now();
  let sent = 0;
  const seen = await traceStatements(async () => {
    while (sent < SENDS) {
      const s = await app.engine.tick(new Date());
      sent += s.sent;
      if (s.sent + s.failed + s.skipped === 0) await new Promise((r) => setTimeout(r, 20));
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  const server = serverCpu() - server0;
  const c1 = await commits();
  await app.close();
  await remote.close();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
  const tx = seen.filter((x) => /^\s*(BEGIN|COMMIT|ROLLBACK)/i.test(x.text)).length;
  return {
    rate: SENDS / seconds,
    statements: (seen.length - tx) / SENDS,
    roundTrips: seen.length / SENDS,
    commits: (c1 - c0) / SENDS,
    cpu: (used.user + used.system) / 1000 / SENDS,
    serverCpu: (server * 1000) / SENDS,
  };
}

/** 1,000,000 active enrollments, none due (due over 30 days from tomorrow: seeding takes minutes), `due` of them due now. */
async function bigFixture(backend: Backend, adminUrl: string, due: number): Promise<{ store: Store; url: string; drop: () => Promise<void> }> {
  const t = Date.now();
  const step = course.steps[0]!.id;
  if (backend === "postgres") {
    const db = await createDatabase(adminUrl, "drip_bench_big");
    const store = new PostgresStore(db.url);
    await store.migrate();
    await store.pool.query(
      `INSERT INTO subscribers (id, email, email_key, name, timezone, status, created_at, updated_at)
       SELECT 's' || i, 'b' || i || '@example.com', 'b' || i || '@example.com', '', 'Europe/London', 'active', $1::bigint, $1::bigint FROM generate_series(1, $2::int) i`,
      [t, BIG],
    );
    await store.pool.query(
      `INSERT INTO enrollments (id, subscriber_id, sequence_id, round, started_at, next_step_id, next_due_at, status, updated_at)
       SELECT i, 's' || i, $3, 1, $1::bigint, $4, CASE WHEN i <= $5::int THEN $1::bigint - 1000 ELSE $1::bigint + 86400000 + (i::bigint * 2591) % 2592000000 END, 'active', $1::bigint
       FROM generate_series(1, $2::int) i`,
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
    SELECT i, 's' || i, '${COURSE}', 1, ${t}, '${step}', CASE WHEN i <= ${due} THEN ${t - 1000} ELSE ${t + 86_400_000} + (i * 2591) % 2592000000 END, 'active', ${t} FROM n`);
  raw.exec("ANALYZE");
  raw.close();
  const store = new SqliteStore(`file:${file}`);
  const drop = async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { store, url: `file:${file}`, drop };
}

interface IdleTick {
  median: number;
  p99: number;
  /** CPU milliseconds per tick: this process (the engine) and the PostgreSQL server. */
  cpu: number;
  serverCpu: number;
  /** PostgreSQL: planning + execution of one idle tick's statements, as EXPLAIN ANALYZE reports them. */
  serverMs: number;
  /** PostgreSQL: round trips of one idle worker heartbeat. */
  heartbeat: number;
  /** PostgreSQL: the statements of one idle tick, slowest first, and the plan of the slowest. */
  statements: { ms: number; text: string }[];
  plan: string;
}

/** Record every statement `pg` runs in this process while `fn` runs (bench only: patches pg.Client#query). */
export async function traceStatements(fn: () => Promise<void>): Promise<{ ms: number; text: string; values: unknown[] }[]> {
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  const seen: { ms: number; text: string; values: unknown[] }[] = [];
  proto.query = function (this: unknown, ...args: unknown[]) {
    const cfg = args[0] as string | { text?: string; values?: unknown[] };
    const text = typeof cfg === "string" ? cfg : (cfg?.text ?? "");
    const values = (typeof cfg === "string" && Array.isArray(args[1]) ? args[1] : typeof cfg === "object" ? cfg?.values : undefined) as unknown[] | undefined;
    const t0 = performance.now();
    // pg.Pool#query (the worker's heartbeat, the rate limiter) calls the client with a callback
    // and gets no promise back: counted when the callback is answered, as a promise would be.
    const done = args[args.length - 1];
    if (typeof done === "function") {
      args[args.length - 1] = (err: unknown, res: unknown) => {
        if (!err) seen.push({ ms: performance.now() - t0, text, values: values ?? [] });
        return (done as (e: unknown, r: unknown) => unknown)(err, res);
      };
      return original.apply(this, args);
    }
    const out = original.apply(this, args);
    if (out && typeof (out as Promise<unknown>).then === "function")
      (out as Promise<unknown>).then(
        () => seen.push({ ms: performance.now() - t0, text, values: values ?? [] }),
        () => {},
      );
    return out;
  };
  try {
    await fn();
  } finally {
    proto.query = original;
  }
  return seen;
}

async function idleTick(backend: Backend, adminUrl: string): Promise<IdleTick> {
  const { url, drop } = await bigFixture(backend, adminUrl, 0);
  // The app as `drip start` opens it, over the same database.
  // With the Resend transport (batches, the delivery pause), as `drip start` runs against a provider.
  const remote = await startRemoteDouble({ rateLimit: 1000, latencyMs: [5, 20], seed: 7 });
  const config = loadConfig({
    DATABASE_URL: url,
    OUTBOX_DIR: join(tmpdir(), "drip-bench-outbox"),
    DRIP_SECRET: SECRET,
    RESEND_API_KEY: API_KEY,
    RESEND_BASE_URL: remote.url,
  });
  const app = await createApp(config);
  const times: number[] = [];
  const tick = async () => {
    const s = await app.engine.tick(new Date());
    if (s.sent + s.skipped + s.failed + s.deferred !== 0) throw new Error("idle tick did work");
  };
  for (let i = 0; i < 5; i++) await tick();
  const cpu0 = process.cpuUsage();
  const server0 = backend === "postgres" ? serverCpu() : 0;
  const N = 50;
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await tick();
    times.push(performance.now() - t0);
  }
  const used = process.cpuUsage(cpu0);
  const server = backend === "postgres" ? serverCpu() - server0 : 0;
  let statements: IdleTick["statements"] = [];
  let plan = "";
  let serverMs = 0;
  let heartbeat = 0;
  if (backend === "postgres" && app.worker) {
    // The worker's heartbeat (every third of a lease) while idle: round trips per beat.
    await app.worker.start();
    heartbeat = (await traceStatements(() => app.worker!.heartbeat())).length;
    await app.worker.stop();
  }
  if (backend === "postgres") {
    const seen = (await traceStatements(tick)).filter((x) => !/^(BEGIN|COMMIT|ROLLBACK)/i.test(x.text.trim()));
    seen.sort((a, b) => b.ms - a.ms);
    statements = seen.map((x) => ({ ms: x.ms, text: x.text.replace(/\s+/g, " ").trim() }));
    // Each statement EXPLAIN ANALYZEd (in a transaction rolled back: an UPDATE would write), run
    // twice on a warm connection: the server's own planning + execution time, whatever the load.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    for (const [i, st] of seen.entries()) {
      if (!/^\s*(SELECT|WITH|UPDATE)/i.test(st.text)) continue;
      let lines: string[] = [];
      for (let k = 0; k < 2; k++) {
        await c.query("BEGIN");
        lines = (await c.query<{ "QUERY PLAN": string }>(`EXPLAIN ANALYZE ${st.text}`, st.values)).rows.map((x) => x["QUERY PLAN"]);
        await c.query("ROLLBACK");
      }
      const ms = (label: string) => Number(lines.find((l) => l.startsWith(label))?.match(/([\d.]+) ms/)?.[1] ?? 0);
      serverMs += ms("Planning Time") + ms("Execution Time");
      if (i === 0) plan = lines.map((l) => `  ${l}`).join("\n");
    }
    await c.end();
  }
  await app.close();
  await remote.close();
  await drop();
  return {
    heartbeat,
    median: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    cpu: (used.user + used.system) / 1000 / N,
    serverCpu: (server * 1000) / N,
    serverMs,
    statements,
    plan,
  };
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

/** Progress on stderr while the slow parts run (the table is printed at the end). */
const progress = (line: string) => process.stderr.write(`  workers bench: ${line}\n`);

export async function benchWorkers(): Promise<void> {
  progress("starting the embedded PostgreSQL server (durable: fsync and synchronous commit on)");
  const pg = await startEmbeddedPostgres({ durable: true });
  serverPid = Number(readFileSync(join(pg.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const load0 = loadavg();
  try {
    const rows: [string, string, string][] = [];
    const waitLines: string[] = [];
    const row = (label: string, p: string, s: string) => rows.push([label, p, s]);
    // WORKERS_BENCH=idle,claim (or sends) runs only those parts; all by default.
    const parts = (process.env.WORKERS_BENCH ?? "sends,record,idle,claim").split(",");
    // WORKERS_N=4 (or 1,4) runs only those worker counts.
    const counts = (process.env.WORKERS_N ?? "1,2,4").split(",").map(Number);
    for (const w of parts.includes("sends") ? counts : []) {
      const p = await sendsPerSecond("postgres", w, pg.url);
      progress(`postgres, ${w} worker(s): ${p.rate.toFixed(0)} sends/s`);
      const s = await sendsPerSecond("sqlite", w, pg.url);
      progress(`sqlite, ${w} worker(s): ${s.rate.toFixed(0)} sends/s`);
      row(`sends/s, ${w} worker${w > 1 ? "s" : ""} (${SENDS} sends)`, p.rate.toFixed(0), s.rate.toFixed(0));
      row("  CPU s per 1,000 sends, workers", p.workerCpu.toFixed(1), s.workerCpu.toFixed(1));
      row("  CPU s per 1,000 sends, PostgreSQL server", p.serverCpu.toFixed(1), "-");
      waitLines.push(`  ${w} worker${w > 1 ? "s" : ""}: ${p.waits}`);
    }
    let rec: Recording | null = null;
    if (parts.includes("record")) {
      progress("postgres: one worker in process, counting statements per email");
      rec = await recordingCost(pg.url);
      row("1 worker in process: sends/s", rec.rate.toFixed(0), "-");
      row("  statements per email (BEGIN/COMMIT apart)", rec.statements.toFixed(3), "-");
      row("  round trips per email (with BEGIN/COMMIT)", rec.roundTrips.toFixed(3), "-");
      row("  transactions per email", rec.commits.toFixed(3), "-");
      row("  CPU ms per email, engine process", rec.cpu.toFixed(2), "-");
      row("  CPU ms per email, PostgreSQL server", rec.serverCpu.toFixed(2), "-");
    }
    const idle: Partial<Record<Backend, IdleTick>> = {};
    for (const b of parts.includes("idle") ? (["postgres", "sqlite"] as const) : []) {
      progress(`${b}: seeding 1,000,000 enrollments for the idle tick`);
      idle[b] = await idleTick(b, pg.url);
      progress(`${b}: idle tick median ${idle[b].median.toFixed(1)} ms`);
    }
    const ip = idle.postgres;
    const is = idle.sqlite;
    if (ip && is) {
      row("idle tick at 1M, median (ms), aim < 20", ip.median.toFixed(1), is.median.toFixed(1));
      row("idle tick at 1M, p99 (ms)", ip.p99.toFixed(1), is.p99.toFixed(1));
      row("  CPU ms per idle tick, engine process", ip.cpu.toFixed(1), is.cpu.toFixed(1));
      row("  CPU ms per idle tick, PostgreSQL server", ip.serverCpu.toFixed(1), "-");
      row("  server plan + execute per idle tick (ms)", ip.serverMs.toFixed(2), "-");
      row("  round trips per idle tick", String(ip.statements.length), "-");
      row("  round trips per idle heartbeat (every lease/3)", String(ip.heartbeat), "-");
    }
    const claim: Partial<Record<Backend, { p50: number; p99: number }>> = {};
    for (const b of parts.includes("claim") ? (["postgres", "sqlite"] as const) : []) {
      progress(`${b}: seeding 1,000,000 enrollments (20,000 due) for claim latency`);
      claim[b] = await claimLatency(b, pg.url);
    }
    if (claim.postgres && claim.sqlite) {
      row("claim 100 of 20,000 due among 1M, p50 (ms)", claim.postgres.p50.toFixed(1), claim.sqlite.p50.toFixed(1));
      row("claim 100 of 20,000 due among 1M, p99 (ms)", claim.postgres.p99.toFixed(1), claim.sqlite.p99.toFixed(1));
    }
    const load1 = loadavg();
    console.log(
      `\nMany workers: PostgreSQL ${await serverVersion(pg.url)} (embedded, durable) beside SQLite; ${availableParallelism()} cores, ` +
        `load average ${load0.map((x) => x.toFixed(1)).join(" ")} at start, ${load1.map((x) => x.toFixed(1)).join(" ")} at end`,
    );
    console.log(`${"".padEnd(46)} ${"postgres".padStart(10)} ${"sqlite".padStart(10)}`);
    for (const [label, p, s] of rows) console.log(`${label.padEnd(46)} ${p.padStart(10)} ${s.padStart(10)}`);
    if (waitLines.length) console.log(`PostgreSQL, what the workers' backends were doing while sending (pg_stat_activity samples):\n${waitLines.join("\n")}`);
    if (ip) {
      console.log(`PostgreSQL, the ${ip.statements.length} statements of one idle tick at 1M enrollments (ms, slowest first):`);
      for (const st of ip.statements.slice(0, 8)) console.log(`  ${st.ms.toFixed(2).padStart(7)}  ${st.text.slice(0, 110)}`);
      console.log(`PostgreSQL, EXPLAIN ANALYZE of the slowest idle-tick statement:\n${ip.plan}`);
    }
    if (explained) console.log(`PostgreSQL, EXPLAIN ANALYZE of the due-step read at 1M enrollments (20,000 due):\n${explained}`);
  } finally {
    await pg.stop();
  }
}

async function serverVersion(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const v = (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? "?";
  await c.end();
  return v;
}
