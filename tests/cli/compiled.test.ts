/**
 * The compiled CLI (bin/compile.js): `drip` runs src/ from a cached build keyed by the content
 * of the sources, so an edit is picked up on the next run and a stale build never runs; staff
 * content is still imported from source. Each test runs the real bin/drip.js as a process, in a
 * copy of the project (its own node_modules/.cache, the packages linked from this checkout).
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";

let project: string;

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(project, "bin/drip.js"), ...args],
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

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), "drip-compiled-"));
  for (const dir of ["bin", "src", "emails", "sequences", "newsletters"]) cpSync(join(ROOT, dir), join(project, dir), { recursive: true });
  for (const f of ["tsconfig.json", "package.json"]) cpSync(join(ROOT, f), join(project, f));
  // The packages, linked one by one: the build cache (node_modules/.cache) stays this copy's own.
  mkdirSync(join(project, "node_modules"));
  for (const e of readdirSync(join(ROOT, "node_modules"))) if (e !== ".cache") symlinkSync(join(ROOT, "node_modules", e), join(project, "node_modules", e));
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
