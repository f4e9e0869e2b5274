/**
 * `drip plan` on a known fixture: 40 subscribers at known positions, one edit of each kind;
 * the counts the plan prints (its --json shape) equal what is observed after apply and after
 * ticking to the end. A rename without `formerly` is flagged; with it, progress carries over.
 */
import { afterEach, describe, expect, it } from "vitest";
import { EMAILS_DIR } from "../../src/paths.ts";
import type { Store } from "../../src/store/types.ts";
import { applyVersion, planFor } from "../../src/versions/apply.ts";
import { planJson } from "../../src/versions/format.ts";
import { ScriptedTransport, memoryEngine } from "../support/engine-helpers.ts";
import { type StepSpec, courseOf, enrollAt, tickThrough } from "./support.ts";

const NOW = new Date("2027-03-15T22:00:00Z"); // Monday evening, after the send window; London on GMT (UTC = local)
const DAY = 86_400_000;
let store: Store | undefined;
afterEach(async () => store?.close());

const V1: StepSpec[] = [
  { id: "welcome", day: 0, at: "09:00" },
  { id: "stretch", day: 2, at: "09:00" },
  { id: "dynamic-release", day: 4, at: "09:00" },
  { id: "book", day: 6, at: "09:00" },
  { id: "habits", day: 9, at: "09:00" },
  { id: "wrap-up", day: 12, at: "09:00" },
];

async function world(v1 = V1) {
  const transport = new ScriptedTransport();
  const before = courseOf(v1);
  const w = await memoryEngine({ sequences: [before], transport });
  store = w.store;
  await applyVersion(w.store, before, EMAILS_DIR, new Date(NOW.getTime() - 90 * DAY));
  return { ...w, transport, before };
}

describe("drip plan counts = what apply and the ticks then do (40 subscribers at known positions)", () => {
  it("removed, schedule changed, added, appended: each count matches the observed one", async () => {
    const { store, engine, lifecycle, transport } = await world();
    // Starts 0..39 half-days ago (10:00 and 22:00 London): every position of the course, some finished long ago.
    for (let i = 0; i < 40; i++) await enrollAt(lifecycle, `p${i}@example.com`, "Europe/London", new Date(NOW.getTime() - i * 0.5 * DAY - 2 * 3_600_000));
    // Two finished long ago (outside continueCompleted's window).
    for (let i = 0; i < 2; i++) await enrollAt(lifecycle, `old${i}@example.com`, "Europe/London", new Date(NOW.getTime() - (80 + i) * DAY));
    await tickThrough(store, engine, NOW);
    const sentBefore = transport.calls.length;

    const v2 = courseOf(
      [
        { id: "welcome", day: 0, at: "09:00" },
        { id: "stretch", day: 2, at: "09:00" },
        { id: "bonus", day: 3, at: "09:00" },
        { id: "book", day: 5, at: "09:00" },
        { id: "habits", day: 9, at: "09:00" },
        { id: "wrap-up", day: 12, at: "09:00" },
        { id: "extra", day: 15, at: "09:00" },
      ],
      { continueCompleted: { withinDays: 10 } },
    );
    const before = await store.enrollmentPositions("course");
    const json = planJson(await planFor(store, v2, EMAILS_DIR, NOW));
    const change = (kind: string, step?: string) => json.changes.find((c) => c.kind === kind && c.step === step)!;
    await applyVersion(store, v2, EMAILS_DIR, NOW);
    engine.setSequences([v2]);
    const after = new Map((await store.enrollmentPositions("course")).map((p) => [p.enrollmentId, p]));

    // Removed: everyone who waited at dynamic-release now waits somewhere that exists.
    const wasAtRemoved = before.filter((p) => p.status === "active" && p.nextStepId === "dynamic-release");
    expect(change("step-removed", "dynamic-release").affected).toBe(wasAtRemoved.length);
    expect(wasAtRemoved.length).toBeGreaterThan(0);
    // The new bonus step (day 3) comes before the step they waited for: they are past it (no backfill).
    expect(new Set(wasAtRemoved.map((p) => after.get(p.enrollmentId)!.nextStepId))).toEqual(new Set(["book"]));
    expect(change("step-removed", "dynamic-release").effect).toContain(`${wasAtRemoved.length} to \`book\``);

    // Schedule changed (day 6 → day 5): those waiting at book are re-planned; past moments go to the next window opening (08:00).
    const wasAtBook = before.filter((p) => p.status === "active" && p.nextStepId === "book");
    const book = change("schedule-changed", "book");
    expect(book.affected).toBe(wasAtBook.length);
    expect(book.before).toBe("day 6 09:00");
    expect(book.after).toBe("day 5 09:00");
    const atWindow = wasAtBook.filter((p) => after.get(p.enrollmentId)!.nextDueAt!.toISOString() === "2027-03-16T08:00:00.000Z");
    expect(book.dueAtNextWindow).toBe(atWindow.length);
    expect(atWindow.length).toBeGreaterThan(0);
    for (const p of wasAtBook) expect(after.get(p.enrollmentId)!.nextDueAt!.getTime()).toBeGreaterThanOrEqual(NOW.getTime());

    await tickThrough(store, engine);
    const receivers = (step: string) =>
      new Set(
        transport.calls
          .slice(sentBefore)
          .filter((m) => m.tags.some((t) => t.name === "step" && t.value === step))
          .map((m) => m.to),
      );
    const enrolled = before.length;

    // Added before some people's position (no backfill): reaches exactly the counted people.
    const bonus = change("step-added", "bonus");
    expect(bonus.affected).toBe(receivers("bonus").size);
    expect(bonus.notReached).toBe(enrolled - receivers("bonus").size);
    expect(bonus.affected).toBeGreaterThan(0);
    expect(bonus.notReached).toBeGreaterThan(0);

    // Appended: those in flight and those who completed within 10 days; not the two who finished 80 days ago.
    const extra = change("step-added", "extra");
    expect(extra.affected).toBe(receivers("extra").size);
    expect(receivers("extra").has("old0@example.com")).toBe(false);
    expect(extra.notReached).toBeGreaterThanOrEqual(2);

    // Nobody got a step twice, and the sends after the edit carry the new version.
    const pairs = transport.calls.map((m) => `${m.to} ${m.tags.find((t) => t.name === "step")!.value}`);
    expect(new Set(pairs).size).toBe(pairs.length);
    const sends = await store.listSends({ sequenceId: "course", statuses: ["sent"], limit: 1000 });
    const versions = new Set(sends.map((s) => s.sequenceVersion));
    expect(versions).toEqual(new Set([json.from, json.to]));
    expect(sends.every((s) => s.templateVersion && s.templateVersion.length >= 8)).toBe(true);
  }, 60_000);
});

describe("renames", () => {
  it("a removed and an added step with the same template are flagged as a rename when formerly is missing", async () => {
    const { store, lifecycle, engine } = await world();
    await enrollAt(lifecycle, "a@example.com", "Europe/London", new Date(NOW.getTime() - 5 * DAY));
    await tickThrough(store, engine, NOW);
    const renamed = courseOf(V1.map((s) => (s.id === "book" ? { ...s, id: "book-a-visit", subject: "About book" } : s)));
    const plan = await planFor(store, renamed, EMAILS_DIR, NOW);
    expect(plan.changes.find((c) => c.kind === "step-removed")).toMatchObject({ step: "book", looksLikeRename: "book-a-visit" });
    expect(plan.changes.find((c) => c.kind === "step-added")).toMatchObject({ step: "book-a-visit", looksLikeRename: "book" });
    expect(plan.warnings.join("\n")).toMatch(/"book" removed and "book-a-visit" added look like a rename.*formerly: \["book"\]/);
    expect(plan.changes.some((c) => c.kind === "step-renamed")).toBe(false);
  });

  it("with formerly, the step is renamed: the person waiting there keeps their place and due time, history moves to the new id", async () => {
    const { store, lifecycle, engine, transport } = await world();
    const sub = await enrollAt(lifecycle, "a@example.com", "Europe/London", new Date(NOW.getTime() - 5 * DAY));
    await tickThrough(store, engine, NOW);
    const waiting = (await store.getEnrollment(sub.id, "course"))!;
    expect(waiting.nextStepId).toBe("book");
    const v2 = courseOf(
      V1.map((s) =>
        s.id === "book" ? { ...s, id: "book-a-visit", formerly: ["book"] } : s.id === "welcome" ? { ...s, id: "hello", formerly: ["welcome"] } : s,
      ),
    );
    const plan = await planFor(store, v2, EMAILS_DIR, NOW);
    expect(plan.changes.filter((c) => c.kind === "step-renamed").map((c) => [c.from, c.step, c.affected])).toEqual([
      ["welcome", "hello", 1],
      ["book", "book-a-visit", 1],
    ]);
    expect(plan.warnings).toEqual([]);
    await applyVersion(store, v2, EMAILS_DIR, NOW);
    engine.setSequences([v2]);
    expect(await store.getEnrollment(sub.id, "course")).toMatchObject({ nextStepId: "book-a-visit", nextDueAt: waiting.nextDueAt });
    const history = await store.listSends({ subscriberId: sub.id, limit: 10 });
    expect(history.map((s) => s.stepId).sort()).toEqual(["dynamic-release", "hello", "stretch"]);
    await tickThrough(store, engine);
    expect(transport.stepsTo("a@example.com")).toEqual(["welcome", "stretch", "dynamic-release", "book-a-visit", "habits", "wrap-up"]);
  });
});

describe("a claimed step during apply", () => {
  it("keeps its claim; the enrollment is re-planned by the tick after the claim is recorded", async () => {
    const { store, lifecycle, engine, transport } = await world();
    const sub = await enrollAt(lifecycle, "a@example.com", "Europe/London", new Date(NOW.getTime() - 4 * DAY - 3 * 3_600_000));
    await tickThrough(store, engine, new Date(NOW.getTime() - DAY));
    // Someone else's worker holds the due step (dynamic-release, day 4) while the edit is applied.
    const claims = await store.claimDue(NOW, 10, 5 * 60_000, "other-worker");
    expect(claims.map((c) => c.stepId)).toEqual(["dynamic-release"]);
    const v2 = courseOf(V1.filter((s) => s.id !== "book"));
    const applied = await applyVersion(store, v2, EMAILS_DIR, NOW);
    expect(applied.deferred).toBe(1);
    const held = (await store.getEnrollment(sub.id, "course"))!;
    expect(held).toMatchObject({ claimed: true, nextStepId: "dynamic-release" });
    // The other worker records its send with the old definition's advance (to book, now removed).
    expect(await store.recordOutcome(claims[0]!, { status: "sent", at: NOW }, { kind: "next", stepId: "book", dueAt: new Date(NOW.getTime() + 2 * DAY) })).toBe(
      true,
    );
    engine.setSequences([v2]);
    await engine.tick(new Date(NOW.getTime() + 60_000));
    expect(await store.getEnrollment(sub.id, "course")).toMatchObject({ claimed: false, nextStepId: "habits" });
    await tickThrough(store, engine);
    expect(transport.stepsTo("a@example.com")).toEqual(["welcome", "stretch", "habits", "wrap-up"]);
  });
});
