/**
 * Scale: the real SqliteStore on a temp file and the real Engine (outbox transport to a
 * temp dir), with 100,000 and 1,000,000 enrollments.
 *   (a) an idle tick (nothing due): median and p99 of 50 ticks;
 *   (b) sends claimed, rendered, written and recorded per second, with 2,000 and 10,000 due
 *       at `now`, and where that time goes (claim / render+checks / transport / record);
 *   (c) peak RSS above the pre-tick baseline during (b): it must not grow with the number due
 *       (the tick works in pages of 100);
 *   (d) `drip import` of 100,000 CSV rows through importCsv + readCsv streaming, as the CLI does.
 * The enrollments are a bench fixture, inserted with raw better-sqlite3 prepared statements
 * in big transactions; their next_due_at is spread over the next 30 days, so none is due.
 *
 * Standalone: `npx tsx bench/scale.ts` (SCALE_SIZES=100000 to skip the million).
 */
import { createReadStream, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import Database from "better-sqlite3";
import course from "../sequences/hip-pain-course.ts";
import { type App, createApp } from "../src/wiring.ts";
import { loadConfig } from "../src/config.ts";
import { composeEml } from "../src/delivery/outbox.ts";
import type { OutgoingMessage } from "../src/delivery/transport.ts";
import { importCsv, readCsv } from "../src/lifecycle/import.ts";
import { sqlitePath } from "../src/store/sqlite/sqlite-store.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const NOW = new Date("2026-03-02T10:00:00Z");
const IDLE_TICKS = 50;
const DUE_COUNTS = [2_000, 10_000] as const;
const IMPORT_ROWS = 100_000;
const AIM_IDLE_MS = 20;
const AIM_IMPORT_S = 20;
const SETUP_BUDGET_S = 120;
const ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", ""];
const SECRET = "bench-secret-0123456789abcdef0123456789abcdef";

/** A full GC before each baseline, so RSS deltas compare like with like. */
const gc: () => void = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

const rss = () => process.memoryUsage.rss();
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const ms = (n: number) => n.toFixed(2);
const count = (n: number) => n.toLocaleString("en-US");
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

async function openApp(dir: string): Promise<App> {
  const config = loadConfig({ DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_SECRET: SECRET });
  return createApp(config);
}

/** N active subscribers, each enrolled in the course, none due (next_due_at over the next 30 days). */
function insertFixture(dbFile: string, n: number): number {
  const t0 = performance.now();
  const db = new Database(dbFile);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -200000");
  const sub = db.prepare(
    "INSERT INTO subscribers (id, email, email_key, name, timezone, status, consent_source, consent_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'active', 'bench', ?, ?, ?)",
  );
  const enr = db.prepare(
    "INSERT INTO enrollments (id, subscriber_id, sequence_id, round, started_at, cursor, next_step_id, next_due_at, status, updated_at) VALUES (?, ?, ?, 1, ?, NULL, ?, ?, 'active', ?)",
  );
  const t = NOW.getTime();
  // Started an hour ago, so a step made due now plans its successor days ahead (never due again in this tick).
  const started = t - 60 * MINUTE;
  const steps = course.steps.map((s) => s.id);
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const BATCH = 50_000;
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const id = `bench${String(i).padStart(8, "0")}`;
      const email = `u${i}@bench.example`;
      sub.run(id, email, email, `Bench ${i}`, ZONES[i % ZONES.length]!, started, started, started);
      enr.run(i + 1, id, course.id, started, steps[i % steps.length]!, t + MINUTE + Math.floor(random() * 30 * DAY), started);
    }
  });
  for (let i = 0; i < n; i += BATCH) batch(i, Math.min(n, i + BATCH));
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  return (performance.now() - t0) / 1000;
}

/** Make `k` enrollments due at NOW (a minute ago), skipping ids used by earlier runs. */
function makeDue(dbFile: string, fromId: number, k: number): void {
  const db = new Database(dbFile);
  db.prepare("UPDATE enrollments SET next_due_at = ? WHERE id > ? AND id <= ?").run(NOW.getTime() - MINUTE, fromId, fromId + k);
  db.close();
}

/**
 * The plan of claimDue's two reads (src/store/sqlite/send-queries.ts): unclaimed due steps,
 * and claims whose lease ran out. Both must use a partial index, never scan enrollments.
 */
function claimPlan(dbFile: string): string {
  const db = new Database(dbFile, { readonly: true });
  const t = NOW.getTime();
  const plan = (sql: string, ...params: number[]) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join("; ");
  const due = plan(
    "SELECT id FROM enrollments WHERE status = 'active' AND lease_until IS NULL AND replan = 0 AND next_due_at <= ? ORDER BY next_due_at LIMIT 100",
    t,
  );
  const lapsed = plan(
    "SELECT id FROM enrollments WHERE lease_until IS NOT NULL AND lease_until <= ? AND status = 'active' AND replan = 0 AND next_due_at <= ? ORDER BY lease_until LIMIT 100",
    t,
    t,
  );
  db.close();
  return `due: ${due} | lapsed leases: ${lapsed}`;
}

interface Phases {
  claim: number;
  transport: number;
  record: number;
  /** The last message handed to the transport, to time composing alone. */
  last?: OutgoingMessage;
}

/** Time the store's claim/record calls and the transport's send, on the instances the engine holds. */
function instrument(app: App): Phases {
  const phases: Phases = { claim: 0, transport: 0, record: 0 };
  const wrap = <T extends object, K extends keyof T & string>(obj: T, key: K, phase: "claim" | "transport" | "record") => {
    const orig = (obj[key] as (...a: unknown[]) => Promise<unknown>).bind(obj);
    (obj as Record<string, unknown>)[key] = async (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return await orig(...args);
      } finally {
        phases[phase] += performance.now() - t0;
      }
    };
  };
  wrap(app.store, "claimDue", "claim");
  wrap(app.store, "recordOutcome", "record");
  wrap(app.transport, "send", "transport");
  const send = app.transport.send.bind(app.transport);
  app.transport.send = (m) => {
    phases.last = m;
    return send(m);
  };
  return phases;
}

interface DueRun {
  due: number;
  sent: number;
  seconds: number;
  rate: number;
  peakDelta: number;
  peak: number;
  /** heapUsed after a full GC, after the tick minus before it: what the tick kept */
  retained: number;
  /** ms per send */
  claim: number;
  render: number;
  transport: number;
  record: number;
}

async function runDue(app: App, phases: Phases, dbFile: string, fromId: number, k: number): Promise<DueRun> {
  makeDue(dbFile, fromId, k);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const baseline = rss();
  let peak = baseline;
  Object.assign(phases, { claim: 0, transport: 0, record: 0 });
  const t0 = performance.now();
  const summary = await app.engine.tick(NOW, {
    onSend: () => {
      const r = rss();
      if (r > peak) peak = r;
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const total = seconds * 1000;
  gc();
  const retained = process.memoryUsage().heapUsed - heapBefore;
  const sent = summary.sent;
  if (sent !== k) throw new Error(`expected ${k} sends, the tick reported ${JSON.stringify(summary)}`);
  return {
    due: k,
    sent,
    seconds,
    rate: sent / seconds,
    peakDelta: peak - baseline,
    peak,
    retained,
    claim: phases.claim / sent,
    transport: phases.transport / sent,
    record: phases.record / sent,
    render: (total - phases.claim - phases.transport - phases.record) / sent,
  };
}

interface ScaleResult {
  n: number;
  setupS: number;
  plan: string;
  idleMedian: number;
  idleP99: number;
  runs: DueRun[];
  /** ms to build one .eml with MailComposer (no file I/O) */
  compose: number;
}

async function benchSize(n: number): Promise<ScaleResult> {
  const dir = mkdtempSync(join(tmpdir(), "drip-scale-"));
  try {
    const app = await openApp(dir);
    const dbFile = sqlitePath(app.config.databaseUrl);
    const setupS = insertFixture(dbFile, n);
    if (setupS > SETUP_BUDGET_S) console.log(`note: inserting ${count(n)} enrollments took ${setupS.toFixed(0)} s (over the ${SETUP_BUDGET_S} s budget)`);
    const plan = claimPlan(dbFile);

    // (a) idle ticks: a few to warm up, then 50 measured.
    for (let i = 0; i < 5; i++) await app.engine.tick(NOW);
    const idle: number[] = [];
    for (let i = 0; i < IDLE_TICKS; i++) {
      const t0 = performance.now();
      const s = await app.engine.tick(NOW);
      idle.push(performance.now() - t0);
      if (s.sent + s.skipped + s.failed + s.deferred !== 0) throw new Error(`idle tick did work: ${JSON.stringify(s)}`);
    }
    idle.sort((a, b) => a - b);

    // (b)+(c): warm up render caches (MJML compile, React) with a small batch, then measure.
    const phases = instrument(app);
    let used = 0;
    await runDue(app, phases, dbFile, used, 300);
    used += 300;
    const runs: DueRun[] = [];
    for (const k of DUE_COUNTS) {
      runs.push(await runDue(app, phases, dbFile, used, k));
      used += k;
    }
    const msg = phases.last!;
    const c0 = performance.now();
    for (let i = 0; i < 200; i++) await composeEml(msg);
    const compose = (performance.now() - c0) / 200;
    const files = readdirSync(app.config.outboxDir).filter((f) => f.endsWith(".eml")).length;
    if (files !== used) throw new Error(`outbox holds ${files} files, expected ${used}`);
    await app.close();
    return { n, setupS, plan, idleMedian: quantile(idle, 0.5), idleP99: quantile(idle, 0.99), runs, compose };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** (d) `drip import` of 100,000 valid rows, streamed through readCsv exactly as src/cli/commands/import.ts does. */
async function benchImport(confirmed: boolean): Promise<{ seconds: number; imported: number; enrolled: number; bad: number }> {
  const dir = mkdtempSync(join(tmpdir(), "drip-import-"));
  try {
    const csv = join(dir, "subscribers.csv");
    const lines = ["email,name,timezone,tags,subscribed_at"];
    for (let i = 0; i < IMPORT_ROWS; i++) {
      const tags = i % 10 === 0 ? "vip;hip" : i % 3 === 0 ? "hip" : "";
      lines.push(`Reader${i}@Import.Example,Reader ${i},${ZONES[i % ZONES.length]},${tags},2026-03-0${1 + (i % 2)}T08:00:00Z`);
    }
    writeFileSync(csv, `${lines.join("\n")}\n`);
    const app = await openApp(dir);
    const t0 = performance.now();
    const result = await importCsv(app.lifecycle, readCsv(createReadStream(csv)), { confirmed, now: NOW });
    const seconds = (performance.now() - t0) / 1000;
    await app.close();
    return { seconds, imported: result.imported, enrolled: result.enrolled, bad: result.badRows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const fmt = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [fmt(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(fmt)].join("\n");
}

export async function benchScale(): Promise<void> {
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(" ");
  const loadBefore = load();
  const sizes = (process.env.SCALE_SIZES ?? "100000,1000000").split(",").map(Number);
  const results: ScaleResult[] = [];
  for (const n of sizes) {
    process.stderr.write(`scale: ${count(n)} enrollments…\n`);
    results.push(await benchSize(n));
  }
  process.stderr.write(`scale: importing ${count(IMPORT_ROWS)} CSV rows…\n`);
  const imports = [await benchImport(false), await benchImport(true)];

  const pass = (ok: boolean) => (ok ? "pass" : "MISS");
  const head = ["scale (SQLite, outbox transport)", ...results.map((r) => `${count(r.n)} enr.`), "aim", "result"];
  const last = results.at(-1)!;
  const rows: string[][] = [head];
  const add = (what: string, cell: (r: ScaleResult) => string, aim = "", result = "") => rows.push([what, ...results.map(cell), aim, result]);
  add("fixture insert (s)", (r) => r.setupS.toFixed(1), `< ${SETUP_BUDGET_S} s`, pass(results.every((r) => r.setupS <= SETUP_BUDGET_S)));
  add("idle tick median (ms)", (r) => ms(r.idleMedian), `< ${AIM_IDLE_MS} ms at 1M`, pass(last.idleMedian < AIM_IDLE_MS));
  add(`idle tick p99 of ${IDLE_TICKS} (ms)`, (r) => ms(r.idleP99), `< ${AIM_IDLE_MS} ms at 1M`, pass(last.idleP99 < AIM_IDLE_MS));
  DUE_COUNTS.forEach((k, i) => {
    add(`sends/s, ${count(k)} due`, (r) => r.runs[i]!.rate.toFixed(0));
    add(`  tick time, ${count(k)} due (s)`, (r) => r.runs[i]!.seconds.toFixed(1));
    add(`  peak RSS, ${count(k)} due (MB)`, (r) => mb(r.runs[i]!.peak));
    add(`  peak RSS over pre-tick baseline (MB)`, (r) => mb(r.runs[i]!.peakDelta));
    add(`  heap kept after the tick (after GC, MB)`, (r) => mb(r.runs[i]!.retained));
  });
  // Peak RSS includes V8's garbage not yet collected (the heap grows before a major GC), so
  // the test of "memory does not grow with the number due" is what a tick keeps, after GC.
  const flat = results.every((r) => r.runs[1]!.retained <= r.runs[0]!.retained + 4 * 1024 * 1024);
  add("peak RSS growth 2,000 → 10,000 due (MB)", (r) => mb(r.runs[1]!.peakDelta - r.runs[0]!.peakDelta));
  add("heap kept growth 2,000 → 10,000 due (MB)", (r) => mb(r.runs[1]!.retained - r.runs[0]!.retained), "flat (≤ 4 MB for 5× due)", pass(flat));
  console.log(table(rows));
  console.log();

  const prof: string[][] = [["per send, 10,000 due (ms)", ...results.map((r) => `${count(r.n)} enr.`)]];
  for (const k of ["claim", "render", "transport", "record"] as const) {
    const label = {
      claim: "claim (page of 100, incl. subscriber+tags)",
      render: "checks + render (React Email / MJML + text)",
      transport: "outbox: compose .eml + write + rename",
      record: "record outcome + advance",
    }[k];
    prof.push([label, ...results.map((r) => ms(r.runs[1]![k]))]);
  }
  prof.push(["  of which MailComposer build alone", ...results.map((r) => ms(r.compose))]);
  prof.push(["total", ...results.map((r) => ms(1000 / r.runs[1]!.rate))]);
  console.log(table(prof));
  console.log();

  const imp: string[][] = [["import (importCsv + readCsv stream)", "rows", "imported", "enrolled", "bad", "seconds", "rows/s", "aim", "result"]];
  for (const [i, r] of imports.entries())
    imp.push([
      i === 0 ? "drip import (pending)" : "drip import --confirmed (+ enroll)",
      count(IMPORT_ROWS),
      count(r.imported),
      count(r.enrolled),
      String(r.bad),
      r.seconds.toFixed(1),
      (IMPORT_ROWS / r.seconds).toFixed(0),
      `< ${AIM_IMPORT_S} s`,
      pass(r.seconds < AIM_IMPORT_S),
    ]);
  console.log(table(imp));
  console.log();
  console.log(
    `load average (1/5/15 min) before: ${loadBefore}, after: ${load()} on ${availableParallelism()} cores (the rates are CPU-bound: other load slows them)`,
  );
  for (const r of results) console.log(`claim query plan at ${count(r.n)}: ${r.plan}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await benchScale();
}
