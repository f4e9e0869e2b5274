/**
 * `drip validate`'s type check keeps its answer and TypeScript's build state between runs
 * (src/sequences/typecheck.ts). A kept answer must never hide a change: a template edited to
 * read `subscriber.firstName` is reported on the next run and is clean again once fixed; a
 * change of shape in a file it imports (outside the folders checked, or a type package in
 * node_modules after an upgrade) re-checks the template; a damaged or unwritable cache means a
 * full check with the same answer and one debug line.
 *
 * The fixture project is written under tests/fixtures/broken-ts/ (tsc and Biome skip that
 * folder), with its own cache folder, so each call reads the records from disk as a new
 * `drip validate` process would.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type TypecheckOptions, typecheckFiles } from "../../src/sequences/typecheck.ts";
import { drip, ROOT } from "../helpers/cli.ts";

// Each check compiles React's types and drip's own: seconds, more on a loaded machine.
vi.setConfig({ testTimeout: 180_000 });

let project: string;
let cache: string;
let rel: (file: string) => string;

const CLEAN = 'h(Text, null, "Dear " + props.subscriber.name + ",")';
const FIRST_NAME = 'h(Text, null, "Dear " + props.subscriber.firstName + ",")';

function template(text: string, extra = "") {
  return `import { createElement as h } from "react";
import { Body, Html, Text } from "react-email";
import type { EmailProps } from "../../../../src/sequences/types.ts";
import type { Sign } from "./shape.ts";
import type { Tone } from "tone-types";
import { Footer } from "../../sequences/_base.ts";

const sign: Sign = { by: "Ana" };
const tone: Tone = "warm";
${extra}
export default function T(props: EmailProps) {
  return h(Html, { lang: "en" }, h(Body, null, ${text}, h(Text, null, sign.by, tone), h(Footer, props)));
}
`;
}

const write = (file: string, text: string) => writeFileSync(join(project, file), text);

async function check(extra: Partial<TypecheckOptions> = {}) {
  const debug: string[] = [];
  let how: { reused: true } | { reused: false; checked: string[] } | undefined;
  const issues = await typecheckFiles([join(project, "seq.ts")], {
    cwd: ROOT,
    dirs: [project],
    cacheDir: cache,
    debug: (line) => debug.push(line),
    explain: (h) => {
      how = h;
    },
    ...extra,
  });
  const checked = how && !how.reused ? how.checked.map((f) => relative(project, f)).sort() : null;
  return { issues, debug, reused: how?.reused ?? false, checked };
}

beforeAll(() => {
  mkdirSync(join(ROOT, "tests/fixtures/broken-ts"), { recursive: true });
  project = mkdtempSync(join(ROOT, "tests/fixtures/broken-ts/tmp-typecheck-"));
  cache = join(project, ".cache");
  rel = (file) => relative(ROOT, join(project, file));
  write(
    "seq.ts",
    `import { defineSequence } from "../../../../src/sequences/define.ts";
import { validSequence, withStep } from "../../sequences/_base.ts";
import T from "./template.tsx";

export default defineSequence(validSequence("fixture-typecheck-cache", withStep(1, { template: T })));
`,
  );
  write("template.tsx", template(CLEAN));
  write("shape.ts", "export interface Sign {\n  by: string;\n}\n");
  mkdirSync(join(project, "node_modules/tone-types"), { recursive: true });
  write("node_modules/tone-types/package.json", '{ "name": "tone-types", "version": "1.0.0", "types": "index.d.ts" }\n');
  write("node_modules/tone-types/index.d.ts", 'export type Tone = "warm" | "plain";\n');
});

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

describe("the type check's cache never hides a change", () => {
  it("clean, then reused, then an edit to subscriber.firstName is reported, then clean again once fixed", async () => {
    const first = await check();
    expect(first.issues).toEqual([]);
    expect(first.reused).toBe(false);
    expect(first.debug).toEqual([]);
    expect(readdirSync(cache).sort()).toEqual([
      expect.stringMatching(/^typecheck-[0-9a-f]+\.json$/),
      expect.stringMatching(/^typecheck-[0-9a-f]+\.tsbuildinfo$/),
    ]);

    // Nothing changed: the last answer stands (a file touched but not changed is not a change).
    const now = new Date();
    utimesSync(join(project, "template.tsx"), now, now);
    const again = await check();
    expect(again).toMatchObject({ issues: [], reused: true });

    write("template.tsx", template(FIRST_NAME));
    const broken = await check();
    expect(broken.reused).toBe(false);
    // The edited template is checked again (and what imports it); files it imports, unchanged, are not.
    expect(broken.checked).toContain("template.tsx");
    expect(broken.checked).not.toContain("shape.ts");
    expect(broken.checked).not.toContain("../../sequences/_base.ts");
    expect(broken.issues).toEqual([
      { file: `${rel("template.tsx")}:12:89`, path: "", message: "Property 'firstName' does not exist on type 'SubscriberFields'. (TS2339)" },
    ]);
    // And from the kept answer, the same.
    expect(await check()).toMatchObject({ issues: broken.issues, reused: true });

    write("template.tsx", template(CLEAN));
    const fixed = await check();
    expect(fixed).toMatchObject({ issues: [], reused: false });
    expect(fixed.checked).toContain("template.tsx");
  });

  it("a file the template imports changes shape (outside the folders checked too): the template is checked again", async () => {
    write("shape.ts", "export interface Sign {\n  by: string;\n  role: string;\n}\n");
    const changed = await check({ dirs: [join(project, "nowhere")] });
    expect(changed.issues).toEqual([
      { file: `${rel("template.tsx")}:8:7`, path: "", message: "Property 'role' is missing in type '{ by: string; }' but required in type 'Sign'. (TS2741)" },
    ]);
    expect(changed.checked).toEqual(expect.arrayContaining(["shape.ts", "template.tsx"]));
    write("shape.ts", "export interface Sign {\n  by: string;\n}\n");
    expect((await check()).issues).toEqual([]);
  });

  it("a type package in node_modules upgraded: the template is checked again", async () => {
    write("node_modules/tone-types/index.d.ts", 'export type Tone = "plain" | "formal";\n');
    const upgraded = await check();
    expect(upgraded.issues).toEqual([{ file: `${rel("template.tsx")}:9:7`, path: "", message: `Type '"warm"' is not assignable to type 'Tone'. (TS2322)` }]);
    expect(upgraded.checked).toContain("template.tsx");
    write("node_modules/tone-types/index.d.ts", 'export type Tone = "warm" | "plain";\n');
    expect((await check()).issues).toEqual([]);
  });

  it("a file added where an import looked before changes the answer", async () => {
    // "./extra.ts" does not exist: an error; created, the same import resolves.
    write("template.tsx", template(CLEAN, 'import { extra } from "./extra.ts";\nvoid extra;'));
    const missing = await check();
    expect(missing.issues).toEqual([
      { file: `${rel("template.tsx")}:10:23`, path: "", message: "Cannot find module './extra.ts' or its corresponding type declarations. (TS2307)" },
    ]);
    expect((await check()).reused).toBe(true);
    write("extra.ts", "export const extra = 1;\n");
    const found = await check();
    expect(found.reused).toBe(false);
    expect(found.issues).toEqual([]);
    write("template.tsx", template(CLEAN));
    rmSync(join(project, "extra.ts"));
  });
});

describe("a damaged or unwritable cache: a full check, the same answer, one debug line", () => {
  it("damaged records (cut short, garbage with a valid checksum) are not used", async () => {
    write("template.tsx", template(FIRST_NAME));
    const expected = (await check()).issues;
    expect(expected).toHaveLength(1);
    const records = readdirSync(cache).map((e) => join(cache, e));

    // Cut short: the checksum no longer matches.
    for (const file of records) writeFileSync(file, '0123\n{"fileNames": [');
    const cut = await check();
    expect(cut.issues).toEqual(expected);
    expect(cut.reused).toBe(false);
    expect(cut.debug).toHaveLength(1);
    expect(cut.debug[0]).toMatch(/^drip: the type-check cache .*typecheck-[0-9a-f]+\.json is damaged \(its checksum does not match\); checking again$/);

    // Whole records saying something else entirely (a checksum that holds over nonsense).
    const { createHash } = await import("node:crypto");
    const nonsense = '{"version":"0","fileNames":["nope"],"questions":{}}';
    for (const file of records) writeFileSync(file, `${createHash("sha256").update(nonsense).digest("hex")}\n${nonsense}`);
    const odd = await check();
    expect(odd.issues).toEqual(expected);
    expect(odd.reused).toBe(false);

    // And the records written by that check are good again.
    expect(await check()).toMatchObject({ issues: expected, reused: true, debug: [] });
    write("template.tsx", template(CLEAN));
  });

  it("an unwritable cache folder: the check is still right, and says so once under debug", async () => {
    const blocked = join(project, "not-a-folder");
    writeFileSync(blocked, "a file where the cache folder would be\n");
    const first = await check({ cacheDir: join(blocked, "cache") });
    expect(first.issues).toEqual([]);
    expect(first.debug).toHaveLength(1);
    expect(first.debug[0]).toMatch(/^drip: the type-check cache .* could not be (read|written) \(/);
    write("template.tsx", template(FIRST_NAME));
    const second = await check({ cacheDir: join(blocked, "cache") });
    expect(second.issues.map((i) => i.file)).toEqual([`${rel("template.tsx")}:12:89`]);
    write("template.tsx", template(CLEAN));
  });

  it("drip validate: a damaged cache is said only under DEBUG=drip, and the result is the same", async () => {
    write("template.tsx", template(FIRST_NAME));
    const file = rel("seq.ts");
    const plain = await drip(["validate", "--json", file]);
    expect(plain.code).toBe(1);
    const issues = (JSON.parse(plain.out) as { issues: { file: string; message: string }[] }).issues;
    expect(issues).toContainEqual({ file: `${rel("template.tsx")}:12:89`, path: "", message: expect.stringContaining("'firstName'") });
    // Damage every record drip's own cache holds for this file (the CLI's cache is node_modules/.cache/drip).
    const own = join(ROOT, "node_modules/.cache/drip");
    const damaged = readdirSync(own).filter((e) => /^typecheck-[0-9a-f]+\.(json|tsbuildinfo)$/.test(e));
    const { readFileSync } = await import("node:fs");
    const mine = damaged.filter((e) => e.endsWith(".json") && readFileSync(join(own, e), "utf8").includes(join(project, "seq.ts")));
    expect(mine).toHaveLength(1);
    writeFileSync(join(own, mine[0]!), "damaged\n");
    const quiet = await drip(["validate", "--json", file]);
    expect(quiet.err).toBe("");
    expect(JSON.parse(quiet.out)).toEqual(JSON.parse(plain.out));
    writeFileSync(join(own, mine[0]!), "damaged\n");
    const told = await drip(["validate", "--json", file], { DEBUG: "drip" });
    expect(JSON.parse(told.out)).toEqual(JSON.parse(plain.out));
    expect(told.err.trim().split("\n")).toEqual([expect.stringMatching(/^drip: the type-check cache .* is damaged/)]);
    write("template.tsx", template(CLEAN));
  });
});
