#!/usr/bin/env node
// Package bin: runs the CLI in this same process (signals such as SIGTERM reach the CLI
// itself, so `drip start` shuts down cleanly). The project's own code (src/) runs compiled
// once and cached (bin/compile.js: rebuilt whenever a file under src/ changes); staff content
// (sequences/, emails/, newsletters/) is TypeScript imported from source through tsx, which is
// registered only when a command first imports such a file. Without a usable build (or with
// DRIP_NO_COMPILE=1) everything runs from source through tsx, as before.
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// React's production build renders emails several times faster than its development build.
process.env.NODE_ENV ??= "production";

let tsx = null;
/** Register tsx (the project's tsconfig, react-jsx, wherever drip is run from), once. */
async function registerTypeScript() {
  tsx ??= import("tsx/esm/api").then(({ register }) => {
    register({ tsconfig: join(root, "tsconfig.json") });
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
    const { compiled } = await import("./compile.js");
    return await compiled(root);
  } catch (err) {
    if ((process.env.DEBUG ?? "").includes("drip")) console.error("drip: running from source:", err);
    return null;
  }
}

const compiled = await compiledMain();
if (compiled) globalThis[Symbol.for("drip.registerTypeScript")] = registerTypeScript;
else await registerTypeScript();
const { runCli } = await import(pathToFileURL(compiled ?? join(root, "src/cli/main.ts")).href);
process.exitCode = await runCli(process.argv.slice(2));
