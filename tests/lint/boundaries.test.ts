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
/** Lint `source` as the file `path` of a copy of the project's lint configuration. */
function lintAs(path: string, source: string) {
  const dir = tempDir("drip-lint-");
  const config = JSON.parse(readFileSync(join(ROOT, "biome.json"), "utf8")) as Record<string, unknown>;
  delete config.vcs; // the copy is not a git checkout
  delete config.$schema;
  writeFileSync(join(dir, "biome.json"), JSON.stringify(config));
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), source);
  return spawnSync(biome, ["lint", path], { cwd: dir, encoding: "utf8" });
}

describe("the engine's import boundary", () => {
  for (const [what, specifier] of [
    ["the Resend transport", "../delivery/resend.ts"],
    ["the HTTP app", "../http/app.ts"],
    ["a CLI command", "../cli/commands/tick.ts"],
    ["the wiring module", "../wiring.ts"],
    ["the SQLite driver adapter", "../store/sqlite/sqlite-store.ts"],
    ["the Resend SDK", "resend"],
  ] as const) {
    it(`a file under src/engine/ importing ${what} fails the lint`, () => {
      const r = lintAs("src/engine/probe.ts", `import * as m from "${specifier}";\nexport const x = m;\n`);
      expect(r.status, r.stdout + r.stderr).not.toBe(0);
      expect(r.stdout + r.stderr).toContain("noRestrictedImports");
    });
  }

  it("the same import outside the engine is allowed, and the engine's interfaces are allowed inside it", () => {
    expect(lintAs("src/cli/probe.ts", 'import * as m from "../delivery/resend.ts";\nexport const x = m;\n').status).toBe(0);
    expect(lintAs("src/engine/probe.ts", 'import type { Transport } from "../delivery/transport.ts";\nexport type X = Transport;\n').status).toBe(0);
  });

  it("no file under src/engine/ imports one today", () => {
    const forbidden = /from\s+"(?:\.\.\/)+(?:delivery\/resend|http\/|cli\/|wiring|store\/sqlite\/)|from\s+"(?:resend|hono|commander|better-sqlite3)"/;
    const dir = join(ROOT, "src", "engine");
    const offenders = readdirSync(dir).filter((f) => forbidden.test(readFileSync(join(dir, f), "utf8")));
    expect(offenders).toEqual([]);
  });
});
