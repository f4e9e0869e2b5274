/**
 * HTTP: the real server (createApp on a temp SQLite file, outbox transport, the Hono app on
 * @hono/node-server) on 127.0.0.1, in a child process so the load generator (autocannon, in
 * this process) does not share its event loop. Two runs of HTTP_BENCH_SECONDS (default 10):
 *   (a) POST /subscribe as JSON, a new address per request (consent recorded, confirmation
 *       queued: the route's own cost; `drip start` sends the queued emails beside it);
 *   (b) the RFC 8058 one-click unsubscribe POST against pre-created, enrolled subscribers'
 *       tokens, cycling through them (a token seen again is a provider's retry: still 200);
 *   (c) a trivial route (GET, 200 "ok") added to the same app, so through the same middleware:
 *       the ceiling the routes above are compared with on the same run.
 * Aims on this 2-core machine: > 1,000 signups/s, > 3,000 unsubscribes/s and at least half the
 * trivial route's rate, p99 < 50 ms.
 *
 * Standalone: `npx tsx bench/http.ts`. HTTP_BENCH_CPU_PROF=<dir> writes the server's CPU profile of
 * each measured run (<dir>/<route>.cpuprofile; `npx tsx bench/cpuprofile.ts <file>` summarises one);
 * HTTP_BENCH_ROUTES=unsubscribe,trivial runs only those (signup, unsubscribe, trivial).
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon, { type Result } from "autocannon";
import { httpDeps } from "../src/wiring.ts";

const SECONDS = Number(process.env.HTTP_BENCH_SECONDS ?? 10);
const CONNECTIONS = 10;
/** Enough that a run at the aim (3,000/s × 10 s) unsubscribes someone new every time: a repeat writes nothing. */
const SUBSCRIBERS = 40_000;
const WARMUP_TOKENS = 2_000;
const SECRET = "bench-http-secret-0123456789abcdef0123456789";
const AIM = { signup: 1_000, unsubscribe: 3_000, p99: 50, ofTrivial: 0.5 };
const ROUTES = new Set((process.env.HTTP_BENCH_ROUTES ?? "signup,unsubscribe,trivial").split(",").map((r) => r.trim()));
/** The trivial route the bench adds to the app (the same middleware as every route, no work of its own). */
const TRIVIAL = "/bench/trivial";

type FromChild =
  | { type: "ready"; port: number; tokens: string[] }
  | { type: "counts"; counts: Record<string, number> }
  | { type: "cpu"; micros: number }
  | { type: "profiling"; file: string | null };

/** The server side: build the app, pre-create subscribers, listen, report the port and tokens. */
async function serveForBench(): Promise<void> {
  const { serve } = await import("@hono/node-server");
  const { createApp } = await import("../src/wiring.ts");
  const { loadConfig } = await import("../src/config.ts");
  const { createHttpApp } = await import("../src/http/app.ts");
  const { signToken } = await import("../src/tokens.ts");
  const dir = process.env.HTTP_BENCH_DIR!;
  const config = loadConfig({
    DATABASE_URL: `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: join(dir, "outbox"),
    DRIP_SECRET: SECRET,
    DRIP_PUBLIC_URL: "http://127.0.0.1:3000",
  });
  const app = await createApp(config);
  const now = new Date();
  const rows = Array.from({ length: SUBSCRIBERS + WARMUP_TOKENS }, (_, i) => ({
    email: `reader${i}@bench.example`,
    name: `Reader ${i}`,
    timezone: "Europe/London",
    status: "active" as const,
    consentSource: "bench",
  }));
  const { created } = await app.store.importSubscribers(rows, now);
  const sequence = app.engine.defaultSequence!;
  for (const s of created) await app.lifecycle.enroll(s, sequence.id, now);
  const http = createHttpApp(httpDeps(app, { now: () => new Date(), signupsPerIp: Number.POSITIVE_INFINITY }));
  http.get(TRIVIAL, (c) => c.text("ok"));
  const server = serve({ fetch: http.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
    process.send!({ type: "ready", port: info.port, tokens: created.map((s) => signToken(app.secret, "manage", s.id)) } satisfies FromChild);
  });
  // HTTP_BENCH_CPU_PROF: the server profiles each measured run on its own (not the setup, not the warm-up).
  const { Session } = await import("node:inspector/promises");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const profiler = process.env.HTTP_BENCH_CPU_PROF ? new Session() : null;
  profiler?.connect();
  process.on("message", async (msg: { type: string; name?: string }) => {
    if (msg.type === "profile-start") {
      if (profiler) {
        await profiler.post("Profiler.enable");
        await profiler.post("Profiler.start");
      }
      process.send!({ type: "profiling", file: null } satisfies FromChild);
    } else if (msg.type === "profile-stop") {
      let file: string | null = null;
      if (profiler) {
        const { profile } = await profiler.post("Profiler.stop");
        mkdirSync(process.env.HTTP_BENCH_CPU_PROF!, { recursive: true });
        file = join(process.env.HTTP_BENCH_CPU_PROF!, `${msg.name}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
      }
      process.send!({ type: "profiling", file } satisfies FromChild);
    } else if (msg.type === "cpu") {
      const u = process.cpuUsage();
      process.send!({ type: "cpu", micros: u.user + u.system } satisfies FromChild);
    } else if (msg.type === "counts") {
      const status = await app.store.status();
      process.send!({ type: "counts", counts: status.subscribers } satisfies FromChild);
    } else if (msg.type === "exit") {
      server.close();
      await app.close();
      process.exit(0);
    }
  });
}

function nextMessage<T extends FromChild["type"]>(child: ChildProcess, type: T): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromChild) => {
      if (m.type !== type) return;
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(m as Extract<FromChild, { type: T }>);
    };
    const onExit = (code: number | null) => reject(new Error(`the bench server exited (${code}) before "${type}"`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

const signupRequest = (prefix: string) => {
  let n = 0;
  return {
    method: "POST",
    path: "/subscribe",
    headers: { "content-type": "application/json" },
    setupRequest: (req: { body?: string | Buffer }) => ({
      ...req,
      body: JSON.stringify({ email: `${prefix}${n++}@bench.example`, name: "Bench", timezone: "Europe/London" }),
    }),
  };
};

const unsubscribeRequest = (tokens: readonly string[]) => {
  let n = 0;
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
    setupRequest: (req: { path?: string }) => ({ ...req, path: `/unsubscribe/${tokens[n++ % tokens.length]}` }),
  };
};

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

export async function benchHttp(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "drip-bench-http-"));
  const prof = process.env.HTTP_BENCH_CPU_PROF;
  const child = fork(fileURLToPath(import.meta.url), ["--serve"], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    execArgv: ["--import", "tsx"],
    env: { ...process.env, HTTP_BENCH_DIR: dir },
  });
  try {
    const t0 = performance.now();
    const { port, tokens } = await nextMessage(child, "ready");
    const setupS = (performance.now() - t0) / 1000;
    const url = `http://127.0.0.1:${port}`;
    const load = () =>
      loadavg()
        .map((l) => l.toFixed(2))
        .join(" ");
    const loadBefore = load();
    const cpu = async () => {
      child.send({ type: "cpu" });
      return (await nextMessage(child, "cpu")).micros;
    };
    const cpuPerRequest = new Map<string, number>();
    /** One autocannon run; also the server's CPU time per request (user + system), which other load on the machine does not inflate much. */
    const run = async (title: string, request: object, duration: number, profileAs?: string) => {
      if (prof && profileAs) {
        child.send({ type: "profile-start" });
        await nextMessage(child, "profiling");
      }
      const before = await cpu();
      const result = await autocannon({ url, title, connections: CONNECTIONS, duration, requests: [request] });
      cpuPerRequest.set(title, ((await cpu()) - before) / Math.max(1, result.requests.total));
      if (prof && profileAs) {
        child.send({ type: "profile-stop", name: profileAs });
        const { file } = await nextMessage(child, "profiling");
        console.log(`server CPU profile of ${title}: ${file}`);
      }
      return result;
    };

    // Warm-up (JIT, caches): a second each, on addresses and tokens the measured runs do not use.
    if (ROUTES.has("signup")) await run("warm-up", signupRequest("warm"), 1);
    if (ROUTES.has("unsubscribe")) await run("warm-up", unsubscribeRequest(tokens.slice(SUBSCRIBERS)), 1);
    if (ROUTES.has("trivial")) await run("warm-up", { method: "GET", path: TRIVIAL }, 1);
    const signup = ROUTES.has("signup") ? await run("POST /subscribe (JSON, new address each)", signupRequest("new"), SECONDS, "signup") : null;
    const unsub = ROUTES.has("unsubscribe")
      ? await run("POST /unsubscribe/:token (RFC 8058 one-click)", unsubscribeRequest(tokens.slice(0, SUBSCRIBERS)), SECONDS, "unsubscribe")
      : null;
    const trivial = ROUTES.has("trivial") ? await run(`GET ${TRIVIAL} (trivial route, same app)`, { method: "GET", path: TRIVIAL }, SECONDS, "trivial") : null;

    child.send({ type: "counts" });
    const { counts } = await nextMessage(child, "counts");
    const ok = (r: Result) => r.requests.total - r.non2xx;
    const rate = (r: Result) => r.requests.total / r.duration;
    const row = (r: Result, aim: number | null): string[] => {
      const rps = rate(r);
      const us = cpuPerRequest.get(r.title ?? "") ?? 0;
      return [
        r.title ?? "",
        rps.toFixed(0),
        r.latency.p50.toFixed(1),
        r.latency.p99.toFixed(1),
        String(r.non2xx),
        String(r.errors + r.timeouts),
        us.toFixed(0),
        (1e6 / us).toFixed(0),
        aim === null ? "(ceiling)" : `> ${aim.toLocaleString("en-US")}/s, p99 < ${AIM.p99} ms`,
        aim === null ? "" : rps > aim && r.latency.p99 < AIM.p99 ? "ok" : "MISSED",
      ];
    };
    console.log(
      `\nhttp: @hono/node-server on 127.0.0.1 (child process), autocannon ${CONNECTIONS} connections × ${SECONDS} s per route, SQLite file, outbox transport, Node ${process.version}`,
    );
    console.log(
      table([
        ["route", "requests/s", "p50 ms", "p99 ms", "non-2xx", "errors", "server CPU µs/req", "req/s per busy core", "aim", "result"],
        ...(signup ? [row(signup, AIM.signup)] : []),
        ...(unsub ? [row(unsub, AIM.unsubscribe)] : []),
        ...(trivial ? [row(trivial, null)] : []),
      ]),
    );
    if (unsub && trivial) {
      const share = rate(unsub) / rate(trivial);
      const cpuShare = (cpuPerRequest.get(trivial.title ?? "") ?? 0) / (cpuPerRequest.get(unsub.title ?? "") ?? 1);
      console.log(
        `unsubscribe vs the trivial route of the same app: ${(100 * share).toFixed(0)}% of its requests/s, ${(100 * cpuShare).toFixed(0)}% of its req/s per busy core ` +
          `(aim ≥ ${(100 * AIM.ofTrivial).toFixed(0)}%): ${share >= AIM.ofTrivial ? "ok" : "MISSED"}`,
      );
    }
    const checks: string[] = [];
    if (signup)
      checks.push(
        `${ok(signup).toLocaleString("en-US")} signups answered 2xx, pending subscribers in the database ${counts.pending?.toLocaleString("en-US")} (incl. warm-up)`,
      );
    if (unsub) {
      const repeats = Math.max(0, ok(unsub) - SUBSCRIBERS);
      checks.push(
        `${ok(unsub).toLocaleString("en-US")} unsubscribes answered 2xx (${repeats.toLocaleString("en-US")} of them repeats of a token), unsubscribed in the database ${counts.unsubscribed?.toLocaleString("en-US")}`,
      );
    }
    if (trivial) checks.push(`${ok(trivial).toLocaleString("en-US")} trivial requests answered 2xx`);
    console.log(`check: ${checks.join("; ")}`);
    console.log(
      `setup: ${(SUBSCRIBERS + WARMUP_TOKENS).toLocaleString("en-US")} enrolled subscribers in ${setupS.toFixed(1)} s; load average before ${loadBefore}, after ${load()} on ${availableParallelism()} cores`,
    );
  } finally {
    if (child.connected) child.send({ type: "exit" });
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

const entry = pathToFileURL(process.argv[1] ?? "").href;
if (import.meta.url === entry) {
  if (process.argv.includes("--serve")) await serveForBench();
  else await benchHttp();
}
