/**
 * The engine imports no provider, HTTP, CLI, driver or wiring module: the lint rule in
 * biome.json enforces it (run by `npm test`), and this test proves the rule really fires,
 * by linting a probe that breaks it, as if it were a file under src/engine/.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

afterAll(cleanupTempDirs);

const biome = join(ROOT, "node_modules", ".bin", "biome");

const FORBIDDEN = [
  ["the Resend transport", "../delivery/resend.ts"],
  ["the HTTP app", "../http/app.ts"],
  ["a CLI command", "../cli/commands/tick.ts"],
  ["the wiring module", "../wiring.ts"],
  ["the SQLite driver adapter", "../store/sqlite/sqlite-store.ts"],
  ["the Resend SDK", "resend"],
] as const;
/** Each probe a file of a copy of the project's lint configuration, linted together in one biome run (one start, not eight). */
const PROBES: Record<string, string> = {
  ...Object.fromEntries(FORBIDDEN.map(([, specifier], i) => [`src/engine/probe-${i}.ts`, `import * as m from "${specifier}";\nexport const x = m;\n`])),
  "src/cli/probe.ts": 'import * as m from "../delivery/resend.ts";\nexport const x = m;\n',
  "src/engine/probe-types.ts": 'import type { Transport } from "../delivery/transport.ts";\nexport type X = Transport;\n',
};

let linted: { status: number | null; output: string } | undefined;
function lint() {
  if (linted) return linted;
  const dir = tempDir("drip-lint-");
  const config = JSON.parse(readFileSync(join(ROOT, "biome.json"), "utf8")) as Record<string, unknown>;
  delete config.vcs; // the copy is not a git checkout
  delete config.$schema;
  writeFileSync(join(dir, "biome.json"), JSON.stringify(config));
  for (const [path, source] of Object.entries(PROBES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), source);
  }
  const r = spawnSync(biome, ["lint", "--max-diagnostics=none", ...Object.keys(PROBES)], { cwd: dir, encoding: "utf8" });
  linted = { status: r.status, output: r.stdout + r.stderr };
  return linted;
}
/** The rules a probe broke: biome heads each diagnostic with "<file>:<line>:<column> lint/<group>/<rule>". */
const broken = (path: string) => [...lint().output.matchAll(new RegExp(`^${path.replace(/\./g, "\\.")}:\\d+:\\d+ lint/\\w+/(\\w+)`, "gm"))].map((m) => m[1]);

describe("the engine's import boundary", () => {
  it("every probe was linted (the run fails: some break the rule)", () => {
    expect(lint().output).toContain(`Checked ${Object.keys(PROBES).length} files`);
    expect(lint().status, lint().output).not.toBe(0);
  });

  FORBIDDEN.forEach(([what], i) => {
    it(`a file under src/engine/ importing ${what} fails the lint`, () => {
      expect(broken(`src/engine/probe-${i}.ts`), lint().output).toEqual(["noRestrictedImports"]);
    });
  });

  it("the same import outside the engine is allowed, and the engine's interfaces are allowed inside it", () => {
    expect(broken("src/cli/probe.ts"), lint().output).toEqual([]);
    expect(broken("src/engine/probe-types.ts"), lint().output).toEqual([]);
  });

  it("no file under src/engine/ imports one today", () => {
    const forbidden = /from\s+"(?:\.\.\/)+(?:delivery\/resend|http\/|cli\/|wiring|store\/sqlite\/)|from\s+"(?:resend|hono|commander|better-sqlite3)"/;
    const dir = join(ROOT, "src", "engine");
    const offenders = readdirSync(dir).filter((f) => forbidden.test(readFileSync(join(dir, f), "utf8")));
    expect(offenders).toEqual([]);
  });
});
