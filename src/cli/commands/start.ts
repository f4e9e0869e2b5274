/**
 * `drip start`: the scheduler and the HTTP server. node-cron says "look now" every minute in
 * UTC with noOverlap; it does not catch up missed runs and has DST quirks in local zones,
 * which is why due times live in the database and every tick simply asks what is due.
 */
import { serve } from "@hono/node-server";
import type { Command } from "commander";
import cron from "node-cron";
import { type ChildProcess, spawn } from "node:child_process";
import { WEBHOOK_WARNING, isPostgresUrl, loadConfig, readEnv } from "../../config.ts";
import { checkFeed } from "../../newsletters/feeds.ts";
import { checkOutboxDir, createApp, httpDeps } from "../../wiring.ts";
import { createHttpApp } from "../../http/app.ts";

import { watchSequences } from "../../sequences/reload.ts";
import { DripError } from "../../errors.ts";
import { redactUrl } from "../../store/database-url.ts";
import { LiveVersions } from "../../versions/go-live.ts";
import { TickLoop } from "../../engine/wake.ts";
import { type CliIO, UsageError } from "../io.ts";

export function startCommand(program: Command, io: CliIO) {
  program
    .command("start")
    .description("Run the scheduler (a tick every minute) and the HTTP server on PORT")
    .option("--no-scheduler", "serve HTTP only (another process runs the ticks)")
    .option("--no-watch", "do not reload sequences and templates when their files change")
    .option("--workers <n>", "PostgreSQL: run N scheduler worker processes under this one, which serves HTTP (default 1: this process does both)")
    .option("--no-http", "run the scheduler only, no HTTP server (a worker of --workers, or one more worker on another machine)")
    .action(async (opts: { scheduler: boolean; watch: boolean; workers?: string; http: boolean }) => {
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
      const log = (line: string) => io.err(`${io.now().toISOString()} ${line}\n`);
      for (const w of config.warnings) log(w === WEBHOOK_WARNING ? `WARNING: ${w}` : `note: ${w}`);
      if (config.transport === "outbox") checkOutboxDir(config.outboxDir);
      const workers = parseWorkers(opts.workers, config.databaseUrl);
      const app = await createApp(config, log);
      const supervisor = workers > 1 ? superviseWorkers(workers, io, log) : null;
      if (supervisor) opts.scheduler = false; // the workers tick; this process serves HTTP
      if (opts.scheduler) await app.worker?.start();
      // Changed definitions go live as drip apply makes them live (the plan is logged), or wait for it (DRIP_REQUIRE_APPLY=1).
      const live = new LiveVersions({
        store: app.store,
        apply: (s, dir, now) => app.lifecycle.applyVersion(s, dir, now),
        emailsDir: config.emailsDir,
        requireApply: config.requireApply,
        log,
      });
      const runningSequences = () => app.engine.sequenceIds().map((id) => app.engine.getSequence(id)!);
      app.engine.setSequences(await live.select(runningSequences(), () => undefined, io.now()));
      let lastTick: Date | null = null;
      const stopping = new AbortController();
      // Work that uses the database (a tick, a confirmation flush): shutdown waits for all of it
      // before closing the store, or the work in hand fails on a destroyed driver.
      const running = new Set<Promise<unknown>>();
      const track = <T>(p: Promise<T>): Promise<T> => {
        running.add(p);
        void p.finally(() => running.delete(p)).catch(() => {});
        return p;
      };
      // One tick at a time: the minute's cron and wake-ups (a confirmation, a confirmed
      // subscribe, an import, a resume, here or in another process) share one TickLoop, so a
      // wake-up during a tick runs one more tick after it, never a second one beside it.
      const loop = new TickLoop(async () => {
        if (stopping.signal.aborted) return;
        const now = io.now();
        try {
          const released = await live.released();
          if (released) app.engine.setSequences([...runningSequences().filter((s) => !released.some((r) => r.id === s.id)), ...released]);
          const s = await app.engine.tick(now, { signal: stopping.signal });
          lastTick = now;
          if (s.sent + s.skipped + s.failed + s.deferred > 0) log(`tick: ${JSON.stringify(s)}`);
        } catch (err) {
          log(`tick failed: ${(err as Error).message}`);
        }
      });
      const runTick = (): Promise<void> => (stopping.signal.aborted ? Promise.resolve() : track(loop.run()));
      if (opts.scheduler) app.waker.attach(runTick);
      const task = opts.scheduler ? cron.schedule("* * * * *", runTick, { timezone: "UTC", noOverlap: true, name: "drip-tick" }) : null;
      // The blog feeds, every 15 minutes (conditional requests: an unchanged feed costs a 304).
      const checkFeeds = () =>
        track(
          (async () => {
            for (const f of app.feeds) {
              if (stopping.signal.aborted) return;
              const r = await checkFeed(f, { store: app.store, newsletters: app.newsletters, log }, io.now()).catch((err: Error) => ({
                message: err.message,
                created: [],
              }));
              if (r.created.length) log(`feed ${f.id}: ${r.message}`);
            }
          })(),
        );
      const feedTask =
        opts.scheduler && app.feeds.some((f) => f.url)
          ? cron.schedule("*/15 * * * *", checkFeeds, { timezone: "UTC", noOverlap: true, name: "drip-feeds" })
          : null;
      // A signup's confirmation email goes out at once, not on the next minute's tick.
      let flushing = false;
      let again = false;
      const afterSignup = () => {
        if (flushing) {
          again = true; // picked up by the loop below, so no signup waits for the next tick
          return;
        }
        flushing = true;
        void track(
          (async () => {
            do {
              again = false;
              if (stopping.signal.aborted) break;
              await app.engine.deliverConfirmations(io.now()).catch((err) => log(`confirmation delivery failed: ${(err as Error).message}`));
            } while (again);
            flushing = false;
          })(),
        );
      };
      const http = createHttpApp(
        httpDeps(app, {
          // Request errors go to the same log, one line each (tokens redacted); stacks only with DEBUG=drip.
          log,
          debug: (io.env.DEBUG ?? "").includes("drip"),
          now: io.now,
          lastTick: () => (opts.scheduler ? lastTick : null),
          ...(opts.scheduler ? { startedAt: io.now(), tickStallMs: config.tickStallMs } : {}),
          afterSignup,
        }),
      );
      const server = opts.http ? serve({ fetch: http.fetch, port: config.port, ...(config.host ? { hostname: config.host } : {}) }) : null;
      // Listening, or one sentence (a port in use is the usual reason), never a stack trace.
      const bound = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        if (!server) return resolve(null);
        server.once("listening", () => resolve(null));
        server.once("error", (err: NodeJS.ErrnoException) => resolve(err));
      });
      if (bound) {
        stopping.abort();
        await task?.stop();
        while (running.size > 0) await Promise.allSettled([...running]);
        await app.close();
        const where = `${config.host ?? "port"}${config.host ? `:${config.port}` : ` ${config.port}`}`;
        if (bound.code === "EADDRINUSE")
          throw new DripError("config", `${where} is already in use (another drip or program is listening there): stop it, or set PORT to a free port`);
        if (bound.code === "EADDRNOTAVAIL")
          throw new DripError("config", `HOST ${config.host} is not an address of this machine: set HOST to one of its addresses, or unset it`);
        if (bound.code === "EACCES") throw new DripError("config", `${where} needs more privileges: use a port above 1023 (and a reverse proxy in front)`);
        throw new DripError("failed", `cannot listen on ${where}: ${bound.message}`);
      }
      // Edits to sequences/ and emails/ go live once they validate; a broken edit is logged and
      // the last good definitions keep running.
      const unwatch = opts.watch
        ? watchSequences({
            engine: app.engine,
            sequencesDir: app.config.sequencesDir,
            emailsDir: app.config.emailsDir,
            log,
            automations: app.automations,
            topics: new Set(app.topics.topics().map((t) => t.id)),
            select: (loaded) => live.select(loaded, (id) => app.engine.getSequence(id), io.now()),
          })
        : () => {};
      const database = redactUrl(config.databaseUrl);
      if (server) log(`drip listening on http://${config.host ?? "localhost"}:${config.port} (transport: ${app.transport.name}, database: ${database})`);
      else log(`drip worker ${app.worker?.id ?? process.pid} started (transport: ${app.transport.name}, database: ${database})`);
      if (task) void runTick(); // do not wait a minute for the first look

      await new Promise<void>((resolve) => {
        const shutdown = async (signal: string) => {
          log(`${signal}: stopping (finishing the send in hand, releasing the rest)`);
          stopping.abort();
          app.waker.detach();
          loop.stop();
          unwatch();
          await task?.stop();
          await feedTask?.stop();
          server?.close();
          await supervisor?.stop(signal);
          // Whatever is still claimed keeps its lease and comes due again after restart.
          setTimeout(() => process.exit(0), 9_000).unref();
          // Wait for the tick in hand to notice the abort (and any confirmation flush), then close the database.
          while (running.size > 0) await Promise.allSettled([...running]);
          await app.close();
          resolve();
        };
        process.once("SIGTERM", () => void shutdown("SIGTERM"));
        process.once("SIGINT", () => void shutdown("SIGINT"));
        // Under `npm start` / `npx drip start` the shell npm runs may die on SIGTERM without passing
        // it on: when the process that started us is gone, stop as if signalled (never orphaned on the port).
        if (io.env.npm_command || io.env.npm_lifecycle_event) {
          const parent = process.ppid;
          const watch = setInterval(() => {
            if (process.ppid !== parent) {
              clearInterval(watch);
              void shutdown("parent exited");
            }
          }, 500);
          watch.unref();
        }
      });
    });
}

/** `--workers N`: a whole number ≥ 1; more than one needs PostgreSQL (one SQLite file is one process's). */
function parseWorkers(raw: string | undefined, databaseUrl: string): number {
  if (raw === undefined) return 1;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 64) throw new UsageError(`--workers "${raw}" must be a whole number from 1 to 64`);
  const n = Number(raw);
  if (n > 1 && !isPostgresUrl(databaseUrl))
    throw new UsageError(
      `--workers ${n} needs PostgreSQL (DATABASE_URL=postgres://…): a SQLite file is served by one process; run 'drip start' without --workers`,
    );
  return n;
}

/**
 * Run N worker processes (`drip start --no-http`), each a full scheduler on the shared
 * database; one that exits unexpectedly is started again after a short pause. Stopping sends
 * the same signal to each and waits for them (they release what they hold).
 */
function superviseWorkers(n: number, io: CliIO, log: (line: string) => void): { stop: (signal: string) => Promise<void> } {
  const children = new Set<ChildProcess>();
  let stopping = false;
  const args = [...process.execArgv, process.argv[1]!, "start", "--no-http", "--no-watch"];
  const spawnOne = (slot: number) => {
    const child = spawn(process.execPath, args, { env: io.env as NodeJS.ProcessEnv, stdio: ["ignore", "inherit", "inherit"] });
    children.add(child);
    child.on("exit", (code, sig) => {
      children.delete(child);
      if (stopping) return;
      log(`worker ${slot} (pid ${child.pid}) exited (${sig ?? `code ${code}`}); starting it again`);
      setTimeout(() => !stopping && spawnOne(slot), 1000).unref();
    });
  };
  for (let i = 1; i <= n; i++) spawnOne(i);
  log(`started ${n} workers (this process serves HTTP; 'drip status' lists them)`);
  return {
    stop: async (signal) => {
      stopping = true;
      await Promise.all(
        [...children].map(
          (c) =>
            new Promise<void>((resolve) => {
              c.once("exit", () => resolve());
              c.kill(signal as NodeJS.Signals);
            }),
        ),
      );
    },
  };
}
