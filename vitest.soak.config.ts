import { defineConfig } from "vitest/config";
import { SOAK_FILES } from "./vitest.config.ts";

// The soak suite (`npm run test:soak`): only *.soak.test.ts files, one file at a time (each
// one loads the machine: child processes, thousands of renders, a browser), with timeouts
// sized for a loaded 2-core machine (the engine crash test takes ~90 s alone, twice that
// under load).
export default defineConfig({
  test: {
    include: [SOAK_FILES],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 900_000,
    hookTimeout: 300_000,
    globalSetup: ["tests/support/pg-global-setup.ts"],
  },
});
