/**
 * The reported run (soak): 2,000 due sends through the Resend double while 300 subscribers
 * change time zone, pause, pause and resume, or rename on their preferences page during the
 * tick, five times with different seeds. Every run must deliver each due email once (see
 * expectEachDueSendOnce); the fast variant is concurrent-actions.test.ts.
 */
import { afterAll, describe, it } from "vitest";
import { expectEachDueSendOnce, raceTickAgainstActions } from "../support/concurrent-actions.ts";
import { cleanupTempDirs } from "../support/delivery-helpers.ts";

afterAll(cleanupTempDirs);

describe("subscribers acting during a 2,000-send tick", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: 300 of 2,000 act while the first batch is in flight: each due email once, drip's records match the provider`, async () => {
      const run = await raceTickAgainstActions({ seed, due: 2_000, actors: 300 });
      try {
        await expectEachDueSendOnce(run);
      } finally {
        await run.close();
      }
    });
  }
});
