#!/usr/bin/env node
// Package bin: runs the TypeScript CLI through tsx in this same process (no build step, and
// signals such as SIGTERM reach the CLI itself, so `drip start` shuts down cleanly).
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// The project's tsconfig (react-jsx) applies wherever drip is run from.
register({ tsconfig: join(root, "tsconfig.json") });
// React's production build renders emails several times faster than its development build.
process.env.NODE_ENV ??= "production";
const { runCli } = await import(pathToFileURL(join(root, "src/cli/main.ts")).href);
process.exitCode = await runCli(process.argv.slice(2));
