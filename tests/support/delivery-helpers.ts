/**
 * Shared pieces of the delivery tests (tests/delivery/) and the delivery bench: an app on a
 * temp SQLite file whose transport is the real `resend` SDK pointed at the local double,
 * fast seeding of confirmed and enrolled subscribers, ticking until nothing is left in
 * flight, `drip status --json` through the real CLI, and the sliding-window check over the
 * double's request log.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import hipPainCourse from "../../sequences/hip-pain-course.ts";
import { type App, createApp } from "../../src/wiring.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { runCli } from "../../src/cli/main.ts";
import { loadConfig } from "../../src/config.ts";
import type { Clock } from "../../src/delivery/rate-limiter.ts";
import { RateLimiter, realClock } from "../../src/delivery/rate-limiter.ts";
import { ResendTransport } from "../../src/delivery/resend.ts";
import type { ProviderEmail } from "../../src/delivery/transport.ts";
import { Engine, type EngineOptions, type TickSummary } from "../../src/engine/engine.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { ClaimedSend, Store, Subscriber } from "../../src/store/types.ts";
import type { RequestLogEntry } from "./resend-double.ts";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
/** A Monday, 10:00 in London (GMT): inside the course's send window, so step one is due at once. */
export const T0 = new Date("2026-03-02T10:00:00Z");
export const COURSE = hipPainCourse.id;
export const API_KEY = "re_test_drip_delivery";
const SECRET = "delivery-test-secret-0123456789abcdef0123456789";

export const plus = (d: Date, ms: number) => new Date(d.getTime() + ms);

const dirs: string[] = [];
export function tempDir(prefix = "drip-delivery-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
export function cleanupTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The environment of a drip process delivering through the double (what `drip start` would read). */
export function deliveryEnv(dir: string, baseUrl: string, rateLimit: number): Record<string, string> {
  return {
    DATABASE_URL: `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: join(dir, "outbox"),
    RESEND_API_KEY: API_KEY,
    RESEND_BASE_URL: baseUrl,
    DRIP_RATE_LIMIT: String(rateLimit),
    DRIP_SECRET: SECRET,
  };
}

export interface DeliveryApp {
  app: App;
  env: Record<string, string>;
  logs: string[];
  dir: string;
}

/** createApp exactly as the CLI does it, from env: the resend transport against `baseUrl`. */
export async function deliveryApp(baseUrl: string, rateLimit: number, reuse?: Record<string, string>): Promise<DeliveryApp> {
  // `reuse`: another app's environment (the same database: a restart after a crash).
  const dir = reuse ? dirname(reuse.DATABASE_URL!.replace(/^file:/, "")) : tempDir();
  const env = reuse ?? deliveryEnv(dir, baseUrl, rateLimit);
  const logs: string[] = [];
  const app = await createApp(loadConfig(env), (l) => logs.push(l));
  if (app.transport.name !== "resend") throw new Error(`expected the resend transport, got ${app.transport.name}`);
  return { app, env, logs, dir };
}

/**
 * An engine built by hand (for options createApp does not expose: a fake clock for in-tick
 * backoff waits, maxAttempts) on a temp SQLite file, so the CLI can read the same database.
 */
export async function handEngine(
  baseUrl: string,
  opts: Partial<EngineOptions> & { rateLimit?: number } = {},
): Promise<{ engine: Engine; store: SqliteStore; env: Record<string, string>; logs: string[] }> {
  const dir = tempDir();
  const env = deliveryEnv(dir, baseUrl, opts.rateLimit ?? 100);
  const store = new SqliteStore(env.DATABASE_URL!);
  await store.migrate();
  const logs: string[] = [];
  const engine = new Engine({
    store,
    sequences: [hipPainCourse],
    transport: new ResendTransport(API_KEY, { baseUrl, limiter: new RateLimiter(opts.rateLimit ?? 100) }),
    links: { publicUrl: "https://drip.example.com", bookingUrl: "https://clinic.example.com/book", siteUrl: "https://clinic.example.com" },
    secret: SECRET,
    from: "hello@clinic.example.com",
    postalAddress: "Body Heal Therapy, 1 Example Street, Example Town, EX1 2MP",
    emailsDir: EMAILS_DIR,
    clock: realClock,
    log: (l) => logs.push(l),
    ...opts,
  });
  return { engine, store, env, logs };
}

export const emailOf = (i: number) => `s${String(i).padStart(5, "0")}@example.com`;

/** `n` confirmed subscribers (one transaction), each enrolled in the course at `now`: step one is due at `now`. */
export async function seedEnrolled(store: Store, engine: Engine, n: number, now: Date, first = 0): Promise<Subscriber[]> {
  const rows = Array.from({ length: n }, (_, k) => ({
    email: emailOf(first + k),
    name: `Sub ${first + k}`,
    timezone: "Europe/London",
    status: "active" as const,
  }));
  const { created } = await store.importSubscribers(rows, now);
  if (created.length !== n) throw new Error(`seeded ${created.length} of ${n}`);
  for (const s of created) {
    const r = await new Lifecycle({ store, sequences: engine }).enroll(s, COURSE, now);
    if (r !== "created") throw new Error(`enroll ${s.email}: ${r}`);
  }
  return created;
}

export function pendingBatches(store: Store): Promise<{ id: string; attempts: number; lease_until: number; reason: string | null; created_at: number }[]> {
  return (store as SqliteStore).db
    .selectFrom("batches")
    .select(["id", "attempts", "lease_until", "reason", "created_at"])
    .where("status", "=", "pending")
    .execute();
}

export function sendRows(store: Store) {
  return (store as SqliteStore).db.selectFrom("sends").selectAll().orderBy("id").execute();
}

/**
 * Tick at `start`, then every `stepMs` of virtual time, until nothing is claimed and no
 * batch is pending (a batch retried later holds a lease in virtual time).
 */
export async function tickUntilSettled(engine: Engine, store: Store, start: Date, stepMs: number, maxTicks = 60) {
  const total: TickSummary = { sent: 0, skipped: 0, failed: 0, deferred: 0 };
  let now = start;
  for (let i = 0; i < maxTicks; i++) {
    const s = await engine.tick(now);
    for (const k of Object.keys(total) as (keyof TickSummary)[]) total[k] += s[k];
    const st = await store.status();
    if (st.sends.claimed === 0 && (await pendingBatches(store)).length === 0) return { total, ticks: i + 1, last: now };
    now = plus(now, stepMs);
  }
  throw new Error(`not settled after ${maxTicks} ticks: ${JSON.stringify(await store.status())}`);
}

/** `drip status [--json]` through the real CLI, with the same environment as the engine. */
export async function dripStatus(env: Record<string, string>, now: Date, json = true): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(json ? ["status", "--json"] : ["status"], {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    env,
    cwd: tempDir(),
    now: () => now,
    isTTY: false,
  });
  return { code, out, err };
}

/** The largest number of `requests` whose arrival falls in any half-open window [t, t + windowMs). */
export function maxInWindow(requests: readonly RequestLogEntry[], windowMs = 1000): { max: number; at: number | null } {
  const times = requests.map((r) => r.at).sort((a, b) => a - b);
  let best = { max: 0, at: null as number | null };
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= windowMs) lo++;
    if (hi - lo + 1 > best.max) best = { max: hi - lo + 1, at: times[lo]! };
  }
  return best;
}

/** Count of each value: duplicates are the entries above 1. */
export function tally(values: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/** A plain provider email for hand-written batches (what the store holds is just JSON). */
export function plainEmail(to: string, subject = "Hello"): ProviderEmail {
  return {
    from: "Body Heal Therapy <hello@clinic.example.com>",
    to: [to],
    subject,
    html: `<p>${subject}</p>`,
    text: subject,
    headers: {},
    tags: [{ name: "sequence", value: COURSE }],
  };
}

/**
 * Write a batch the way the engine does before its request (claims bound, payload and key
 * stored), but with a payload of our choosing; `leaseUntil` = now makes it due for recovery.
 */
export async function writeBatch(store: Store, id: string, claims: readonly ClaimedSend[], emails: ProviderEmail[], now: Date): Promise<void> {
  const payload = JSON.stringify({ sendIds: claims.map((c) => c.sendId), emails });
  await store.createBatch({ id, payload, claims, leaseUntil: now, now });
}

/**
 * A clock whose sleeps return at once (and are recorded): in-tick backoff waits without
 * waiting. Its time is virtual and moves only by the sleeps, so `now()` agrees with them.
 */
export class InstantClock implements Clock {
  readonly sleeps: number[] = [];
  private t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }
}

/** Wait until `cond()` holds (polling every `everyMs`), or throw after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000, everyMs = 2): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error("waitFor: timed out");
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
