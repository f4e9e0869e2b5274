import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.{ts,tsx}"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Child-process crash tests and the browser test are heavy: keep the 2-core machine sane.
    maxWorkers: 2,
  },
});
