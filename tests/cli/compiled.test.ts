/**
 * The compiled CLI (bin/compile.js): `drip` runs src/ from a cached build keyed by the content
 * of the sources, so an edit is picked up on the next run and a stale build never runs; staff
 * content is still imported from source. Each test runs the real bin/drip.js as a process, in a
 * copy of the project (its own node_modules/.cache, the packages linked from this checkout).
 * The slower proofs (npm's prepare script and `npx drip`, a second copy of the project, which
 * copy of zod staff content gets) are in compiled.soak.test.ts.
 */
import { readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildsIn, copyProject, hiddenLockfileFresh, installedByNpm, runIn } from "../support/compiled-project.ts";

let project: string;
const run = (args: string[], env: Record<string, string> = {}, script = "bin/drip.js") => runIn(project, args, env, script);
const builds = () => buildsIn(project);
const keys = () => readdirSync(join(project, "node_modules/.cache/drip/keys"));

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
});
