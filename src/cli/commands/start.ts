/**
 * `drip start`: the scheduler and the HTTP server. node-cron says "look now" every minute in
 * UTC with noOverlap; it does not catch up missed runs and has DST quirks in local zones,
 * which is why due times live in the database and every tick simply asks what is due.
 */
import { serve } from "@hono/node-server";
import type { Command } from "commander";
import cron from "node-cron";
import { type ChildProcess, spawn } from "node:child_process";
import { isPostgresUrl, loadConfig, readEnv } from "../../config.ts";
import { createApp, httpDeps } from "../../wiring.ts";
import { createHttpApp } from "../../http/app.ts";
import { EMAILS_DIR, SEQUENCES_DIR } from "../../paths.ts";
import { watchSequences } from "../../sequences/reload.ts";
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
      for (const w of config.warnings) log(`note: ${w}`);
      const workers = parseWorkers(opts.workers, config.databaseUrl);
      const app = await createApp(config, log);
      const supervisor = workers > 1 ? superviseWorkers(workers, io, log) : null;
      if (supervisor) opts.scheduler = false; // the workers tick; this process serves HTTP
      if (opts.scheduler) await app.worker?.start();
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
      let ticking: Promise<void> | null = null;
      const runTick = (): Promise<void> => {
        if (stopping.signal.aborted) return Promise.resolve();
        // The first tick runs at start, outside cron: never two at once.
        ticking ??= track(
          (async () => {
            const now = io.now();
            try {
              const s = await app.engine.tick(now, { signal: stopping.signal });
              lastTick = now;
              if (s.sent + s.skipped + s.failed + s.deferred > 0) log(`tick: ${JSON.stringify(s)}`);
            } catch (err) {
              log(`tick failed: ${(err as Error).message}`);
            } finally {
              ticking = null;
            }
          })(),
        );
        return ticking;
      };
      const task = opts.scheduler ? cron.schedule("* * * * *", runTick, { timezone: "UTC", noOverlap: true, name: "drip-tick" }) : null;
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
          lastTick: () => lastTick,
          afterSignup,
        }),
      );
      const server = opts.http ? serve({ fetch: http.fetch, port: config.port }) : null;
      // Edits to sequences/ and emails/ go live once they validate; a broken edit is logged and
      // the last good definitions keep running.
      const unwatch = opts.watch ? watchSequences({ engine: app.engine, sequencesDir: SEQUENCES_DIR, emailsDir: EMAILS_DIR, log }) : () => {};
      const database = redactUrl(config.databaseUrl);
      if (server) log(`drip listening on http://localhost:${config.port} (transport: ${app.transport.name}, database: ${database})`);
      else log(`drip worker ${app.worker?.id ?? process.pid} started (transport: ${app.transport.name}, database: ${database})`);
      if (task) void runTick(); // do not wait a minute for the first look

      await new Promise<void>((resolve) => {
        const shutdown = async (signal: string) => {
          log(`${signal}: stopping (finishing the send in hand, releasing the rest)`);
          stopping.abort();
          unwatch();
          await task?.stop();
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

/** The database URL without its password, for logs. */
export function redactUrl(url: string): string {
  if (!isPostgresUrl(url) || !URL.canParse(url)) return url;
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
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
