/** The live-edit property (tests/versions/property.ts) on a few seeds; the soak file runs many. `SEED=<n>` replays one. */
import { describe, it } from "vitest";
import { runProperty } from "./property.ts";

describe("live edits: random positions, random edits, apply, tick to the end", () => {
  const seeds = process.env.SEED ? [Number(process.env.SEED)] : [1000, 1001, 1002, 1003, 1004, 1005];
  it(`no step twice, nobody at a removed step, received = predicted (seeds ${seeds.join(", ")})`, () => runProperty(seeds), 60_000);
});
