/**
 * Soak: two processes claim from one SQLite file at the same moment, round after round, and
 * never get the same enrollment (BEGIN IMMEDIATE across processes). Spawns two tsx workers
 * (tests/support/claim-worker.ts); the in-process variants stay in sqlite-store.test.ts.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { at, cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

const T0 = at("2027-01-04T10:00:00Z");
afterAll(() => cleanupTempDirs());

describe("claims across processes", () => {
  it("never returns the same enrollment to two processes claiming from the same file at once", async () => {
    const dir = tempDir("drip-claims-");
    const url = `file:${dir}/drip.db`;
    const seed = new SqliteStore(url);
    await seed.migrate();
    const rows = Array.from({ length: 300 }, (_, i) => ({ email: `w${i}@example.com`, status: "active" as const }));
    const { created } = await seed.importSubscribers(rows, T0);
    for (const s of created)
      await seed.enroll({ subscriberId: s.id, sequenceId: "seq", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: false });
    await seed.close();

    const tsx = createRequire(import.meta.url).resolve("tsx/cli");
    const worker = fileURLToPath(new URL("../support/claim-worker.ts", import.meta.url));
    const start = () => spawn(process.execPath, [tsx, worker, url, T0.toISOString(), "7"], { stdio: "pipe" });
    /** Lines of a worker's stdout, one per call, queued if they arrive first. */
    const lines = (p: ChildProcessWithoutNullStreams) => {
      let buf = "";
      const queued: string[] = [];
      const waiters: ((l: string) => void)[] = [];
      p.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const w = waiters.shift();
          if (w) w(line);
          else queued.push(line);
        }
      });
      return () => new Promise<string>((resolve) => (queued.length ? resolve(queued.shift()!) : waiters.push(resolve)));
    };
    const procs = [start(), start()];
    const next = procs.map(lines);
    expect(await Promise.all(next.map((n) => n()))).toEqual(["ready", "ready"]);
    // Rounds: both workers claim at the same moment, until neither finds anything due.
    const got: string[][] = [[], []];
    for (let round = 0; round < 200; round++) {
      const answers = next.map((n) => n());
      for (const p of procs) p.stdin.write("claim\n");
      const ids = (await Promise.all(answers)).map((l) => JSON.parse(l) as string[] | { error: string });
      for (const [i, r] of ids.entries()) {
        if (!Array.isArray(r)) throw new Error(`worker ${i}: ${r.error}`);
        got[i]!.push(...r);
      }
      if (ids.every((r) => Array.isArray(r) && r.length === 0)) break;
    }
    for (const p of procs) p.stdin.end("quit\n");
    expect(got[0]!.length + got[1]!.length).toBe(300);
    expect(new Set([...got[0]!, ...got[1]!]).size).toBe(300);
    expect(got[0]!.length).toBeGreaterThan(0); // both really took part
    expect(got[1]!.length).toBeGreaterThan(0);
  });
});
