/**
 * drip plan, apply, history, stats --by-version and simulate --enrolled-at through the CLI,
 * on the real course and a real SQLite file. A "changed definition" is made by recording an
 * older live version in the database (what the course looked like before an edit).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { SequenceSnapshot } from "../../src/versions/snapshot.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string>;
const NOW = new Date("2026-10-28T12:00:00Z"); // Wednesday
const drip = (argv: string[], now = NOW) => runDrip(argv, { env, cwd: dir, now });
const COURSE = "hip-pain-course";

beforeEach(() => {
  dir = tempDir("drip-versions-");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

/** Pretend the live version was the course before an edit: `book` on day 7 and a step `stretch-more` after it. */
async function recordOlderVersion() {
  const store = new SqliteStore(env.DATABASE_URL!);
  const live = (await store.liveVersion(COURSE))!;
  const snap = live.snapshot as SequenceSnapshot;
  const steps = snap.steps.flatMap((s) =>
    s.id === "book"
      ? [
          { ...s, schedule: { kind: "day" as const, day: 7, at: "09:00" } },
          {
            ...s,
            id: "stretch-more",
            subject: "More stretches",
            template: "react:More",
            contentHash: "aaaaaaaaaaaa",
            schedule: { kind: "day" as const, day: 8, at: "09:00" },
          },
        ]
      : [s],
  );
  await store.recordVersion({
    sequenceId: COURSE,
    hash: "0ld0ld0ld0ld",
    snapshot: { ...snap, hash: "0ld0ld0ld0ld", steps },
    changes: { changes: [] },
    at: new Date(NOW.getTime() - 30 * 86_400_000),
  });
  await store.close();
}

describe("drip plan / apply / history", () => {
  it("a first apply records version 1; then the plan has no changes", async () => {
    const first = await drip(["plan", "--json"]);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out)).toEqual({
      sequences: [
        expect.objectContaining({ id: COURSE, from: null, fromVersion: null, changes: [] }),
        expect.objectContaining({ id: "post-booking", from: null, fromVersion: null, changes: [] }),
      ],
    });
    const applied = await drip(["apply", "--json"]);
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.out).sequences[0]).toMatchObject({ id: COURSE, version: 1, planned: 0 });
    const again = JSON.parse((await drip(["plan", "--json"])).out).sequences[0];
    expect(again.from).toBe(again.to);
    expect(again).toMatchObject({ fromVersion: 1, changes: [] });
    expect((await drip(["plan"])).out).toMatch(/hip-pain-course: no changes \(version 1, [0-9a-f]{12}\)/);
    const history = await drip(["history", COURSE]);
    expect(history.out).toMatch(/^v1 {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}[0-9a-f]{12} {2}first version$/m);
    expect((await drip(["history", "nope"])).code).toBe(2);
  });

  it("a change that moves enrolled people: plan counts them, apply needs --yes, history and stats show the versions", async () => {
    await drip(["apply"], new Date(NOW.getTime() - 40 * 86_400_000));
    await recordOlderVersion();
    // Three people waiting at `book` (started 5 days ago: book was day 7 in the live version).
    for (const name of ["ana", "bo", "cy"])
      await drip(["subscribe", `${name}@example.com`, "--confirmed", "--tz", "Europe/London", "--at", new Date(NOW.getTime() - 5 * 86_400_000).toISOString()]);
    // Their first three steps (day 0, 2 and 4), one tick each.
    for (const days of [5, 3, 1]) await drip(["tick", "--now", new Date(NOW.getTime() - days * 86_400_000 + 60_000).toISOString(), "--allow-time-travel"]);
    const plan = JSON.parse((await drip(["plan", "--json"])).out).sequences[0];
    expect(plan).toMatchObject({ id: COURSE, from: "0ld0ld0ld0ld", fromVersion: 2 });
    const byKind = Object.fromEntries(plan.changes.map((c: { kind: string; step: string }) => [`${c.kind} ${c.step}`, c]));
    expect(byKind["step-removed stretch-more"]).toMatchObject({ affected: 0 });
    expect(byKind["schedule-changed book"]).toMatchObject({ before: "day 7 09:00", after: "day 6 09:00", affected: 3, dueAtNextWindow: 0 });
    expect(byKind["schedule-changed book"].effect).toBe("3 waiting at `book`: day 7 09:00 → day 6 09:00, 0 become due at their next 08:00");
    const refused = await drip(["apply"]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/drip apply --yes/);
    expect((await drip(["history", COURSE, "--json"])).out).not.toContain('"number": 3');
    const applied = await drip(["apply", "--yes", "--json"]);
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.out).sequences[0]).toMatchObject({ version: 3 });
    expect((await drip(["history", COURSE])).out.split("\n")[0]).toMatch(/^v3 .*schedule-changed book/);
    await drip(["tick", "--now", new Date(NOW.getTime() + 2 * 86_400_000).toISOString(), "--allow-time-travel"]);
    // Every send names the definition it used (here always the one on disk: version 3 is version 1's definition again).
    const stats = JSON.parse((await drip(["stats", "--by-version", "--json"])).out) as {
      stepId: string;
      version: string;
      versionNumber: number | null;
      sent: number;
    }[];
    expect(stats.map((r) => [r.stepId, r.version, r.versionNumber, r.sent])).toEqual([
      ["article", plan.to, 3, 3],
      ["self-release", plan.to, 3, 3],
      ["dynamic-release", plan.to, 3, 3],
      ["book", plan.to, 3, 3],
    ]);
    expect((await drip(["stats", "--by-version"])).out).toMatch(/^hip-pain-course\/article v3 +3 /m);
  });
});

describe("drip simulate --enrolled-at", () => {
  it("shows what someone in flight received and their remaining timeline under the definition on disk", async () => {
    await drip(["apply"]);
    const run = await drip(["simulate", COURSE, "--enrolled-at", "2026-10-23T10:00:00Z", "--tz", "Europe/London", "--json"]);
    expect(run.code).toBe(0);
    const t = JSON.parse(run.out);
    expect(t.received).toEqual(["article", "self-release", "dynamic-release"]);
    expect(t.entries.map((e: { step: string }) => e.step)).toEqual(["book", "keep-it-away", "last-call"]);
    expect(t.entries[0]).toMatchObject({ at: "2026-10-29T09:00:00.000Z" });
    expect((await drip(["simulate", COURSE, "--enrolled-at", "2026-11-23T10:00:00Z", "--tz", "UTC"])).code).toBe(2);
  });
});
