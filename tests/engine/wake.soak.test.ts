/**
 * The wake-up race with a second process: 200 confirmations while the ticking process's loop
 * runs non-stop (as if cron fired every moment), a second engine on the same SQLite file and a
 * second process (the crash test's tick worker) tick the same file. Each first email exactly once.
 */
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { wakeRace } from "../support/wake-race.ts";

afterAll(() => cleanupTempDirs());

describe("wake-up race (soak)", () => {
  it("200 confirmations, the minute tick, a second engine and a second process: every first email exactly once", async () => {
    const by = await wakeRace(200, { process: true });
    expect(by.mine + by.engine + by.process).toBe(200);
    console.log(`first emails handed over by: the woken process ${by.mine}, a second engine ${by.engine}, a second process ${by.process}`);
  }, 180_000);
});
