/**
 * The compiled CLI (bin/compile.js): `drip` runs src/ from a cached build keyed by the content
 * of the sources, so an edit is picked up on the next run and a stale build never runs; staff
 * content is still imported from source. Each test runs the real bin/drip.js as a process, in a
 * copy of the project (its own node_modules/.cache, the packages linked from this checkout).
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";

let project: string;

function run(args: string[], env: Record<string, string> = {}, script = "bin/drip.js"): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(project, script), ...args],
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

const builds = () => readdirSync(join(project, "node_modules/.cache/drip")).filter((e) => /^cli-[0-9a-f]+$/.test(e));
const keys = () => readdirSync(join(project, "node_modules/.cache/drip/keys"));

/** A copy of the project whose node_modules links this checkout's packages one by one (its build cache stays its own). */
function copyProject(prefix: string): string {
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
function installedByNpm(dir: string): void {
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
function hiddenLockfileFresh(dir: string): { fresh: boolean; modules: string; lockfile: string } {
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

beforeAll(() => {
  project = copyProject("drip-compiled-");
  installedByNpm(project);
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe("the compiled CLI", () => {
  it("builds on first run (no cache, as after a fresh clone), then runs from the cache; staff content loads from source", async () => {
    const first = await run(["list", "--json"]);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    const ids = (JSON.parse(first.out) as { id: string }[]).map((s) => s.id);
    expect(ids).toContain("hip-pain-course");
    expect(builds()).toHaveLength(1);
    const [build] = builds();
    // Creating node_modules/.cache did not make npm's hidden lockfile look out of date.
    expect(hiddenLockfileFresh(project)).toMatchObject({ fresh: true });

    // A sequence edit (staff content) is read from source on the next run, with no rebuild.
    const course = join(project, "sequences/hip-pain-course.ts");
    writeFileSync(course, readFileSync(course, "utf8").replace(`name: "Outer hip and leg pain that isn't your IT band"`, `name: "Renamed by staff"`));
    const second = await run(["list", "--json"]);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.out) as { id: string; name: string }[]).find((s) => s.id === "hip-pain-course")?.name).toBe("Renamed by staff");
    expect(builds()).toEqual([build]);
  }, 180_000);

  it("an edited file under src/ is picked up on the next run: the stale build never runs", async () => {
    const before = await run(["status"]);
    expect(before.code).toBe(0);
    expect(before.out).toMatch(/^subscribers {2}pending 0/m);
    const [old] = builds();
    const file = join(project, "src/cli/commands/status.ts");
    const text = readFileSync(file, "utf8");
    expect(text).toContain('line("subscribers", s.subscribers);');
    writeFileSync(file, text.replace('line("subscribers", s.subscribers);', 'line("people", s.subscribers);'));
    const after = await run(["status"]);
    expect(after.err).toBe("");
    expect(after.out).toMatch(/^people {7}pending 0/m);
    expect(builds()).toContain(old); // kept a while for a process still running from it
    expect(builds()).toHaveLength(2);
    // And back: the first build's hash again, its cache reused.
    writeFileSync(file, text);
    expect((await run(["status"])).out).toMatch(/^subscribers {2}pending 0/m);
    expect(builds()).toHaveLength(2);
  }, 180_000);

  it("an edit that keeps a file's size and modification time is still picked up; a touch alone rebuilds nothing", async () => {
    const file = join(project, "src/cli/commands/status.ts");
    const text = readFileSync(file, "utf8");
    // A whole second, which utimes sets back exactly; a run records what the files look like now.
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    utimesSync(file, at, at);
    const was = statSync(file);
    expect((await run(["status"])).out).toMatch(/^subscribers {2}pending 0/m);
    const before = builds();
    // Same length, same inode, same mtime (as `cp -p` or an editor restoring times would leave
    // it): only the change time (ctime), which no tool can set back, tells the file changed.
    writeFileSync(file, text.replace('line("subscribers", s.subscribers);', 'line("SUBSCRIBERS", s.subscribers);'));
    utimesSync(file, at, at);
    expect(statSync(file)).toMatchObject({ size: was.size, mtimeMs: was.mtimeMs, ino: was.ino });
    expect((await run(["status"])).out).toMatch(/^SUBSCRIBERS {2}pending 0/m);
    expect(builds()).toHaveLength(before.length + 1);

    writeFileSync(file, text);
    expect((await run(["status"])).out).toMatch(/^subscribers {2}pending 0/m);
    const afterRevert = builds();
    expect(afterRevert).toHaveLength(before.length + 1);
    // A touch changes what the files look like on disk, not their content: the content hash
    // is computed once more and finds the same build.
    const keysBefore = keys().length;
    const later = new Date(Date.now() + 1000);
    utimesSync(file, later, later);
    expect((await run(["status"])).out).toMatch(/^subscribers {2}pending 0/m);
    expect(builds()).toEqual(afterRevert);
    expect(keys().length).toBe(keysBefore + 1);
  }, 180_000);

  it("staff content loaded from source gets the build's copy of zod: node_modules' copy is never loaded beside it", async () => {
    // Every module the process loads, recorded by a hook of its own (registered first, so the
    // last to see each load on its way to Node).
    const record = join(project, "loads.txt");
    writeFileSync(
      join(project, "record-loads.mjs"),
      `import { appendFileSync } from "node:fs";\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(record)}, url + "\\n"); return next(url, context); }\n`,
    );
    writeFileSync(
      join(project, "record.mjs"),
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(project, "record-loads.mjs")).href)});\n`,
    );
    // list: sequence definitions (src/sequences/define.ts from source validates with zod);
    // validate: the app's config (the build's zod) and every piece of staff content.
    for (const args of [
      ["list", "--json"],
      ["validate", "--no-typecheck", "--json"],
    ]) {
      rmSync(record, { force: true });
      const r = await run(args, { NODE_OPTIONS: `--import ${join(project, "record.mjs")}` });
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const loads = readFileSync(record, "utf8").split("\n");
      expect(loads.filter((u) => /\/node_modules\/\.cache\/drip\/cli-[0-9a-f]+\/deps\/zod\.js$/.test(u))).toHaveLength(1);
      expect(loads.filter((u) => u.includes("/node_modules/zod/"))).toEqual([]);
      expect(loads.some((u) => u.endsWith("/src/sequences/define.ts"))).toBe(true);
    }
  }, 240_000);

  it("the prepare script (run by npm install and npm ci after they write npm's hidden lockfile) leaves the lockfile fresh and links node_modules/.bin/drip, which `npx drip` runs without reading the installed tree", async () => {
    const was = project;
    project = copyProject("drip-compiled-prepare-");
    try {
      installedByNpm(project);
      expect(hiddenLockfileFresh(project)).toMatchObject({ fresh: true });
      const prepare = await run([], {}, "bin/compile.js");
      expect(prepare.err).toBe("");
      expect(prepare.code).toBe(0);
      expect(builds()).toHaveLength(1);
      expect(hiddenLockfileFresh(project)).toMatchObject({ fresh: true });
      // And the first `drip` after the install runs that build: none is made again.
      const [build] = builds();
      expect((await run(["status"])).code).toBe(0);
      expect(builds()).toEqual([build]);
      expect(hiddenLockfileFresh(project)).toMatchObject({ fresh: true });

      // `npx drip`: npm's exec prefers a `bin` of the project's own package.json, and then
      // installs the project into its npx cache on every call: it reads all the installed
      // packages (arborist) before drip starts, most of a second here. With no `bin` there, it
      // runs node_modules/.bin/drip (which the prepare script links) directly, as it runs `npx vitest`.
      expect((JSON.parse(readFileSync(join(project, "package.json"), "utf8")) as { bin?: unknown }).bin).toBeUndefined();
      const link = join(project, "node_modules/.bin/drip");
      expect(realpathSync(link)).toBe(realpathSync(join(project, "bin/drip.js")));
      // Running the prepare script again (every `npm install`) keeps the one link, and the lockfile fresh.
      expect((await run([], {}, "bin/compile.js")).code).toBe(0);
      expect(realpathSync(link)).toBe(realpathSync(join(project, "bin/drip.js")));
      expect(hiddenLockfileFresh(project)).toMatchObject({ fresh: true });

      const npx = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
        execFile(
          "npx",
          ["--loglevel", "silly", "drip", "status", "--json"],
          {
            cwd: project,
            env: {
              PATH: process.env.PATH ?? "",
              HOME: project,
              DATABASE_URL: `file:${join(project, "data/drip.db")}`,
              OUTBOX_DIR: join(project, "outbox"),
            },
            timeout: 120_000,
          },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr }),
        );
      });
      expect(npx.err).not.toMatch(/drip: /);
      expect(npx.code).toBe(0);
      expect(JSON.parse(npx.out)).toMatchObject({ transport: "outbox" });
      // What npm logs when it loads a tree (the slow path): none of it.
      expect(npx.err).not.toMatch(/shrinkwrap|packumentCache|reify|arborist/i);

      // A directory made in node_modules after the lockfile (here: a package added by hand) still
      // shows: drip sets back only the change it made itself.
      mkdirSync(join(project, "node_modules/added-by-hand"));
      rmSync(join(project, "node_modules/.cache"), { recursive: true });
      expect(hiddenLockfileFresh(project)).toMatchObject({ fresh: false });
      expect((await run(["status"])).code).toBe(0);
      expect(hiddenLockfileFresh(project)).toMatchObject({ fresh: false });
    } finally {
      rmSync(project, { recursive: true, force: true });
      project = was;
    }
  }, 240_000);

  it("a second copy of the project sharing the same node_modules runs its own files, never the other copy's build", async () => {
    // The soak tests run copies of the project with node_modules linked to one checkout's: a
    // build holds its copy's absolute paths (content folders, assets), so it is keyed by them.
    const second = mkdtempSync(join(tmpdir(), "drip-compiled-two-"));
    try {
      for (const dir of ["bin", "src", "emails", "sequences", "newsletters"]) cpSync(join(project, dir), join(second, dir), { recursive: true });
      for (const f of ["tsconfig.json", "package.json"]) cpSync(join(project, f), join(second, f));
      symlinkSync(join(project, "node_modules"), join(second, "node_modules"));
      const course = join(second, "sequences/hip-pain-course.ts");
      writeFileSync(course, readFileSync(course, "utf8").replace(/name: "[^"]*"/, `name: "The second copy's course"`));
      const name = async (cwd: string) => {
        const was = project;
        project = cwd;
        try {
          const r = await run(["list", "--json"]);
          expect(r.code).toBe(0);
          return (JSON.parse(r.out) as { id: string; name: string }[]).find((s) => s.id === "hip-pain-course")?.name;
        } finally {
          project = was;
        }
      };
      expect(await name(project)).not.toBe("The second copy's course");
      expect(await name(second)).toBe("The second copy's course");
      expect(await name(project)).not.toBe("The second copy's course");
    } finally {
      rmSync(second, { recursive: true, force: true });
    }
  }, 240_000);
});
