#!/usr/bin/env node
// Package bin: runs the CLI in this same process (signals such as SIGTERM reach the CLI
// itself, so `drip start` shuts down cleanly). The project's own code (src/) runs compiled
// once and cached (bin/compile.js: rebuilt whenever a file under src/ changes); staff content
// (sequences/, emails/, newsletters/) is TypeScript imported from source through tsx, which is
// registered only when a command first imports such a file. Without a usable build (or with
// DRIP_NO_COMPILE=1) everything runs from source through tsx, as before.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// React's production build renders emails several times faster than its development build.
process.env.NODE_ENV ??= "production";

let tsx = null;
let compiled = null;
/**
 * Register tsx (the project's tsconfig, react-jsx, wherever drip is run from), once. Run
 * compiled, files loaded from source get the build's copy of the packages it shares with them
 * (bin/shared-deps.mjs; bin/compile.js SHARED).
 */
async function registerTypeScript() {
  tsx ??= import("tsx/esm/api").then(async ({ register }) => {
    register({ tsconfig: join(root, "tsconfig.json") });
    if (!compiled) return;
    const { SHARED } = await import("./compile.js");
    const deps = Object.fromEntries(
      Object.keys(SHARED)
        .map((name) => [name, join(dirname(compiled), "deps", `${name}.js`)])
        .filter(([, file]) => existsSync(file)),
    );
    const { register: registerHooks } = await import("node:module");
    const url = (file) => pathToFileURL(file).href;
    registerHooks("./shared-deps.mjs", import.meta.url, {
      data: { root: `${url(root)}/`, deps: Object.fromEntries(Object.entries(deps).map(([name, file]) => [name, url(file)])) },
    });
  });
  await tsx;
}

let stubs = null;
/** `drip list`: a sequence file without its templates (bin/template-stubs.mjs). */
async function importWithoutTemplates(url) {
  await registerTypeScript();
  stubs ??= import("node:module").then(({ register }) => {
    const dir = (d) => `${pathToFileURL(join(root, d)).href}/`;
    register("./template-stubs.mjs", import.meta.url, { data: { root: dir(""), emails: dir("emails"), src: dir("src") } });
  });
  await stubs;
  return import(`${url}?drip-metadata`);
}
globalThis[Symbol.for("drip.importWithoutTemplates")] = importWithoutTemplates;

async function compiledMain() {
  if (process.env.DRIP_NO_COMPILE === "1") return null;
  try {
    const { compiled: build } = await import("./compile.js");
    return await build(root);
  } catch (err) {
    if ((process.env.DEBUG ?? "").includes("drip")) console.error("drip: running from source:", err);
    return null;
  }
}

compiled = await compiledMain();
if (compiled) globalThis[Symbol.for("drip.registerTypeScript")] = registerTypeScript;
else await registerTypeScript();
const { runCli } = await import(pathToFileURL(compiled ?? join(root, "src/cli/main.ts")).href);
process.exitCode = await runCli(process.argv.slice(2));
