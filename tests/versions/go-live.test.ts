/**
 * drip start and live edits: a changed definition is applied on load (the plan logged), or,
 * with DRIP_REQUIRE_APPLY=1, held while the last live version keeps running, until drip apply.
 */
import { afterEach, describe, expect, it } from "vitest";
import { EMAILS_DIR } from "../../src/paths.ts";
import type { Store } from "../../src/store/types.ts";
import { applyVersion } from "../../src/versions/apply.ts";
import { LiveVersions } from "../../src/versions/go-live.ts";
import { ScriptedTransport, memoryEngine } from "../support/engine-helpers.ts";
import { type StepSpec, courseOf, enrollAt, tickThrough } from "./support.ts";

const NOW = new Date("2027-03-15T12:00:00Z");
const DAY = 86_400_000;
let store: Store | undefined;
afterEach(async () => store?.close());

const V1: StepSpec[] = [
  { id: "welcome", day: 0, at: "09:00" },
  { id: "tips", day: 2, at: "09:00" },
  { id: "book", day: 6, at: "09:00" },
];
const V2: StepSpec[] = [
  { id: "welcome", day: 0, at: "09:00" },
  { id: "book", day: 5, at: "09:00" },
];

async function world(requireApply: boolean) {
  const transport = new ScriptedTransport();
  const v1 = courseOf(V1);
  const w = await memoryEngine({ sequences: [v1], transport });
  store = w.store;
  const lines: string[] = [];
  const live = new LiveVersions({
    store: w.store,
    apply: (s, dir, now) => w.lifecycle.applyVersion(s, dir, now),
    emailsDir: EMAILS_DIR,
    requireApply,
    log: (l) => lines.push(l),
  });
  // The first start records version 1.
  w.engine.setSequences(await live.select([v1], () => undefined, new Date(NOW.getTime() - 10 * DAY)));
  const sub = await enrollAt(w.lifecycle, "a@example.com", "Europe/London", new Date(NOW.getTime() - DAY - 3 * 3_600_000));
  await tickThrough(w.store, w.engine, NOW);
  return { ...w, transport, v1, live, lines, sub };
}

describe("drip start with a changed definition", () => {
  it("applies it on load and logs the plan (no DRIP_REQUIRE_APPLY)", async () => {
    const { store, engine, live, lines, sub, transport } = await world(false);
    expect((await store.listVersions("course")).map((v) => v.number)).toEqual([1]);
    const v2 = courseOf(V2);
    const run = await live.select([v2], (id) => engine.getSequence(id), NOW);
    expect(run).toEqual([v2]);
    expect((await store.listVersions("course")).map((v) => v.number)).toEqual([1, 2]);
    expect(lines.at(-1)).toMatch(/sequence course is live as version 2 \(1 enrollments re-planned/);
    expect(lines.at(-1)).toMatch(/step-removed\s+step `tips` removed: 1 person waiting there move \(1 to `book`\)/);
    engine.setSequences(run);
    expect((await store.getEnrollment(sub.id, "course"))?.nextStepId).toBe("book");
    await tickThrough(store, engine);
    expect(transport.stepsTo("a@example.com")).toEqual(["welcome", "book"]);
  });

  it("with DRIP_REQUIRE_APPLY=1 holds a change that moves enrolled subscribers: the last live version keeps running until drip apply", async () => {
    const { store, engine, v1, live, lines, sub, transport, lifecycle } = await world(true);
    const v2 = courseOf(V2);
    const run = await live.select([v2], (id) => engine.getSequence(id), NOW);
    expect(run).toEqual([v1]);
    expect(live.heldIds()).toEqual(["course"]);
    expect(lines.at(-1)).toMatch(/held until drip apply \(DRIP_REQUIRE_APPLY=1\), the last live version keeps running/);
    expect((await store.listVersions("course")).map((v) => v.number)).toEqual([1]);
    expect(await live.released()).toBeNull();
    // Ticks meanwhile run version 1: tips goes out on day 2.
    engine.setSequences(run);
    await tickThrough(store, engine, new Date(NOW.getTime() + 2 * DAY));
    expect(transport.stepsTo("a@example.com")).toEqual(["welcome", "tips"]);
    // Someone runs drip apply; the next tick sees it and runs version 2.
    await lifecycle.applyVersion(v2, EMAILS_DIR, new Date(NOW.getTime() + 2 * DAY));
    expect(await live.released()).toEqual([v2]);
    expect(live.heldIds()).toEqual([]);
    engine.setSequences([v2]);
    await tickThrough(store, engine);
    expect(transport.stepsTo("a@example.com")).toEqual(["welcome", "tips", "book"]);
    expect((await store.getEnrollment(sub.id, "course"))?.status).toBe("completed");
  });

  it("with DRIP_REQUIRE_APPLY=1 a change that affects nobody enrolled goes live at once (a new subject for a step everyone received)", async () => {
    const { store, live, engine } = await world(true);
    const v2 = courseOf(V1.map((s) => (s.id === "welcome" ? { ...s, subject: "Welcome aboard" } : s)));
    expect(await live.select([v2], (id) => engine.getSequence(id), NOW)).toEqual([v2]);
    expect((await store.listVersions("course")).map((v) => v.number)).toEqual([1, 2]);
  });
});

describe("versions in the database", () => {
  it("history: one row per applied change, with the changes recorded", async () => {
    const { store } = await world(false);
    await applyVersion(store, courseOf(V2), EMAILS_DIR, NOW);
    const versions = await store.listVersions("course");
    expect(versions.map((v) => v.number)).toEqual([1, 2]);
    const kinds = (versions[1]!.changes as { changes: { kind: string }[] }).changes.map((c) => c.kind);
    expect(kinds).toContain("step-removed");
    expect(kinds).toContain("schedule-changed");
  });
});
