/**
 * The compiled CLI's slower proofs, moved from compiled.test.ts to keep the fast suite fast (each
 * builds again, starts npm, or loads every piece of staff content under a loader hook): npm's
 * prepare script leaves npm's hidden lockfile fresh and `npx drip` runs without reading the
 * installed tree; a second copy of the project sharing node_modules runs its own files; staff
 * content loaded from source gets the build's copy of zod. Real bin/drip.js processes in a copy
 * of the project.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildsIn, copyProject, execIn, hiddenLockfileFresh, installedByNpm, runIn } from "../support/compiled-project.ts";

let project: string;
const run = (args: string[], env: Record<string, string> = {}, script = "bin/drip.js") => runIn(project, args, env, script);
const builds = () => buildsIn(project);

beforeAll(() => {
  project = copyProject("drip-compiled-");
  installedByNpm(project);
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe("the compiled CLI (slow proofs)", () => {
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

      const npx = await execIn(project, "npx", ["--loglevel", "silly", "drip", "status", "--json"]);
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
