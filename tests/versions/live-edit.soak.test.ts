/** The live-edit property (tests/versions/property.ts) on 200 seeds: every kind of change comes up. */
import { describe, it } from "vitest";
import { runProperty } from "./property.ts";

describe("live edits (soak): 200 seeded random edits", () => {
  it("no step twice, nobody at a removed step, received = predicted", () => runProperty(Array.from({ length: 200 }, (_, i) => 2000 + i)), 900_000);
});
