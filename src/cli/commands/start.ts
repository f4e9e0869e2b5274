/**
 * `drip start`: the scheduler and the HTTP server. node-cron says "look now" every minute in
 * UTC with noOverlap; it does not catch up missed runs and has DST quirks in local zones,
 * which is why due times live in the database and every tick simply asks what is due.
 */
import { serve } from "@hono/node-server";
import type { Command } from "commander";
import cron from "node-cron";
import { WEBHOOK_WARNING, loadConfig, readEnv } from "../../config.ts";
import { checkOutboxDir, createApp, httpDeps } from "../../wiring.ts";
import { createHttpApp } from "../../http/app.ts";
import { EMAILS_DIR, SEQUENCES_DIR } from "../../paths.ts";
import { watchSequences } from "../../sequences/reload.ts";
import { DripError } from "../../errors.ts";
import type { CliIO } from "../io.ts";

export function startCommand(program: Command, io: CliIO) {
  program
    .command("start")
    .description("Run the scheduler (a tick every minute) and the HTTP server on PORT")
    .option("--no-scheduler", "serve HTTP only (another process runs the ticks)")
    .option("--no-watch", "do not reload sequences and templates when their files change")
    .action(async (opts: { scheduler: boolean; watch: boolean }) => {
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
      const log = (line: string) => io.err(`${io.now().toISOString()} ${line}\n`);
      for (const w of config.warnings) log(w === WEBHOOK_WARNING ? `WARNING: ${w}` : `note: ${w}`);
      if (config.transport === "outbox") checkOutboxDir(config.outboxDir);
      const app = await createApp(config, log);
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
          lastTick: () => (opts.scheduler ? lastTick : null),
          ...(opts.scheduler ? { startedAt: io.now(), tickStallMs: config.tickStallMs } : {}),
          afterSignup,
        }),
      );
      const server = serve({ fetch: http.fetch, port: config.port, ...(config.host ? { hostname: config.host } : {}) });
      // Listening, or one sentence (a port in use is the usual reason), never a stack trace.
      const bound = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
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
      const unwatch = opts.watch ? watchSequences({ engine: app.engine, sequencesDir: SEQUENCES_DIR, emailsDir: EMAILS_DIR, log }) : () => {};
      log(`drip listening on http://${config.host ?? "localhost"}:${config.port} (transport: ${app.transport.name}, database: ${config.databaseUrl})`);
      if (task) void runTick(); // do not wait a minute for the first look

      await new Promise<void>((resolve) => {
        const shutdown = async (signal: string) => {
          log(`${signal}: stopping (finishing the send in hand, releasing the rest)`);
          stopping.abort();
          unwatch();
          await task?.stop();
          server.close();
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
