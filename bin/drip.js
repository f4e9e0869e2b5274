#!/usr/bin/env node
// Package bin: runs the TypeScript CLI through tsx, so no build step is needed.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsx = require.resolve("tsx/cli");
const result = spawnSync(process.execPath, [tsx, join(root, "src/cli/main.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  env: {
    // The project's tsconfig (react-jsx) applies wherever drip is run from.
    TSX_TSCONFIG_PATH: join(root, "tsconfig.json"),
    // React's production build renders emails several times faster than its development build.
    NODE_ENV: "production",
    ...process.env,
  },
});
process.exit(result.status ?? 1);
