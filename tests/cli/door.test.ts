/**
 * The CLI changes subscribers only through the lifecycle door, which validates everything
 * before it writes anything: a wrong --sequence is a usage error (exit 2, one sentence that
 * names the known sequences) and leaves the store exactly as it was.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { drip } from "../helpers/cli.ts";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

afterAll(cleanupTempDirs);

const envFor = () => {
  const dir = tempDir("drip-door-");
  return { DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_SECRET: "d".repeat(40) };
};

describe("drip subscribe through the door", () => {
  for (const confirmed of [true, false]) {
    it(`--sequence nope${confirmed ? " --confirmed" : ""}: exit 2, one sentence naming the known sequences, nothing stored`, async () => {
      const env = envFor();
      const args = ["subscribe", "a@b.co", "--sequence", "nope", ...(confirmed ? ["--confirmed"] : [])];
      const run = await drip(args, env);
      expect(run.code).toBe(2);
      expect(run.err.trim().split("\n")).toHaveLength(1);
      expect(run.err).toContain('no sequence "nope"');
      expect(run.err).toContain("hip-pain-course");
      expect(run.err).not.toMatch(/\n\s+at /); // no stack
      const status = await drip(["status", "--json"], env);
      const counts = JSON.parse(status.out) as { subscribers: Record<string, number> };
      expect(Object.values(counts.subscribers).reduce((a, b) => a + b, 0)).toBe(0);
    });
  }

  it("a valid --sequence enrolls at once with --confirmed", async () => {
    const env = envFor();
    const run = await drip(["subscribe", "a@b.co", "--sequence", "hip-pain-course", "--confirmed", "--json"], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ status: "active", created: true, enrolled: "created" });
  });
});
