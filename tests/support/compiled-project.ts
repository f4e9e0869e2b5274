/**
 * A copy of the project for tests of the compiled CLI (bin/compile.js), run as real processes:
 * its own node_modules/.cache, the packages linked from this checkout. Used by
 * tests/cli/compiled.test.ts (the fast suite) and tests/cli/compiled.soak.test.ts.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/cli.ts";

/** `file …args` in `project` (a process, like `npx`), with its own database and outbox. */
export function execIn(project: string, file: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: project,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: project,
          DATABASE_URL: `file:${join(project, "data/drip.db")}`,
          OUTBOX_DIR: join(project, "outbox"),
          ...env,
        },
        timeout: 120_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr }),
    );
  });
}

/** `node <script> …args` in `project` (bin/drip.js by default), with its own database and outbox. */
export function runIn(
  project: string,
  args: string[],
  env: Record<string, string> = {},
  script = "bin/drip.js",
): Promise<{ code: number; out: string; err: string }> {
  return execIn(project, process.execPath, [join(project, script), ...args], env);
}

/** The builds in a project's cache. */
export const buildsIn = (project: string) => readdirSync(join(project, "node_modules/.cache/drip")).filter((e) => /^cli-[0-9a-f]+$/.test(e));

/** A copy of the project whose node_modules links this checkout's packages one by one (its build cache stays its own). */
export function copyProject(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const d of ["bin", "src", "emails", "sequences", "newsletters"]) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
  for (const f of ["tsconfig.json", "package.json"]) cpSync(join(ROOT, f), join(dir, f));
  mkdirSync(join(dir, "node_modules"));
  for (const e of readdirSync(join(ROOT, "node_modules"))) if (!e.startsWith(".")) symlinkSync(join(ROOT, "node_modules", e), join(dir, "node_modules", e));
  return dir;
}

/**
 * What `npm install`/`npm ci` leave: node_modules/.package-lock.json (npm's hidden lockfile)
 * written after everything else in node_modules. Both are dated an hour back, so a directory
 * touched afterwards shows.
 */
export function installedByNpm(dir: string): void {
  const lock = join(dir, "node_modules/.package-lock.json");
  writeFileSync(lock, `${JSON.stringify({ name: "drip", lockfileVersion: 3, requires: true, packages: {} })}\n`);
  const hourAgo = new Date(Date.now() - 3_600_000);
  utimesSync(join(dir, "node_modules"), hourAgo, hourAgo);
  utimesSync(lock, hourAgo, hourAgo);
}

/**
 * npm reads its hidden lockfile instead of the whole installed tree (about a second on every
 * `npx drip`) only while node_modules and every directory in it not starting with a dot are no
 * newer than the lockfile plus 10 ms (arborist's shrinkwrap.js, assertNoNewer). The packages
 * here are links into this checkout, not touched by drip: node_modules itself is what counts.
 */
export function hiddenLockfileFresh(dir: string): { fresh: boolean; modules: string; lockfile: string } {
  const lockTime = statSync(join(dir, "node_modules/.package-lock.json")).mtimeMs + 10;
  const stale = [
    join(dir, "node_modules"),
    ...readdirSync(join(dir, "node_modules"), { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => join(dir, "node_modules", e.name)),
  ].filter((d) => statSync(d).mtimeMs > lockTime);
  return {
    fresh: stale.length === 0,
    modules: statSync(join(dir, "node_modules")).mtime.toISOString(),
    lockfile: statSync(join(dir, "node_modules/.package-lock.json")).mtime.toISOString(),
  };
}
