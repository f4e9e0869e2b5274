import { configDefaults, defineConfig } from "vitest/config";

/** Slow proofs (SIGKILL loops, thousands of sends, a real browser): `npm run test:soak` (vitest.soak.config.ts). */
export const SOAK_FILES = "tests/**/*.soak.test.{ts,tsx}";

// The fast suite (`npm test`, `npx vitest`): everything but the soak files.
export default defineConfig({
  test: {
    include: ["tests/**/*.test.{ts,tsx}"],
    exclude: [...configDefaults.exclude, SOAK_FILES],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
    // Test files share their worker's module cache instead of each importing React, MJML,
    // Kysely, the TypeScript compiler and the app anew (that import was most of the run's time).
    // Files must leave no global state behind: restore what they change (env, timers, cwd).
    isolate: false,
    // One throwaway PostgreSQL server for the run (or DRIP_TEST_DATABASE_URL); one database per test file.
    globalSetup: ["tests/support/pg-global-setup.ts"],
  },
});
