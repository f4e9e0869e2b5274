/**
 * Soak: 5,000 due sends against a faulty, rate-limited provider in its own process (fail 5%,
 * drop 2%, 2 req/s, latency 10–60 ms). The fast suite runs the same checks at 1,000 sends
 * (tests/delivery/delivery.test.ts).
 */
import { afterAll, describe, it } from "vitest";
import { cleanupTempDirs } from "../support/delivery-helpers.ts";
import { faultyProviderRun } from "../support/fault-run.ts";

afterAll(cleanupTempDirs);

describe("5,000 due sends against a faulty, rate-limited provider", () => {
  it("fail 5%, drop 2%, 2 req/s, latency 10–60 ms: 5,000 distinct deliveries, 0 duplicates, 0 lost, never over the limit", async () => {
    await faultyProviderRun({ n: 5_000, rate: 2, failRate: 0.05, dropRate: 0.02, seed: 13 });
  });
});
