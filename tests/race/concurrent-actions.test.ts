/**
 * Subscribers act on their preferences page while a tick is delivering (fast variant; the
 * 2,000-send run is concurrent-actions.soak.test.ts). A time-zone change or a resume re-plans
 * the enrollment; a send the tick has claimed but not yet put in a batch must not become
 * claimable again, or it goes out twice, in two batches under two idempotency keys.
 * Two full pages of claims (500 each), so a third claim follows: the actions land while the
 * second page is claimed and not yet in batches.
 */
import { afterAll, describe, it } from "vitest";
import { expectEachDueSendOnce, raceTickAgainstActions } from "../support/concurrent-actions.ts";
import { cleanupTempDirs } from "../support/delivery-helpers.ts";

afterAll(cleanupTempDirs);

describe("subscribers acting during a tick", () => {
  it("1,000 due, 120 change time zone, pause, pause and resume, or rename while the first batch is in flight: each due email once", {
    timeout: 60_000,
  }, async () => {
    const run = await raceTickAgainstActions({ seed: 7, due: 1_000, actors: 120 });
    try {
      await expectEachDueSendOnce(run);
    } finally {
      await run.close();
    }
  });
});
