/**
 * The live-edit property: random subscribers at random positions, a random edit (remove,
 * rename with `formerly`, delay change, insert with and without backfill, append with
 * continueCompleted, reorder), apply, then tick through to the end. Whatever the edit:
 * - no subscriber receives a step twice (a renamed step counts as the same step);
 * - right after apply, nobody waits at a step the new definition does not have;
 * - each subscriber receives exactly the steps, in the order, the plan predicted for them.
 * Seeded: a failure names its seed, and `SEED=<n>` replays it alone.
 */
import { expect } from "vitest";
import { applyVersion, planFor } from "../../src/versions/apply.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import type { Store } from "../../src/store/types.ts";
import { ScriptedTransport, memoryEngine } from "../support/engine-helpers.ts";
import { type StepSpec, courseOf, enrollAt, seeded, tickThrough } from "./support.ts";

const ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles"];
const TIMES = ["09:00", "12:30", "18:00"];
const EDIT_AT = new Date("2027-03-15T12:00:00Z");
const DAY = 86_400_000;

const stores: Store[] = [];

type Op = "remove" | "rename" | "delay" | "insert" | "append" | "reorder";
const OPS: Op[] = ["remove", "rename", "delay", "insert", "append", "reorder"];

/** Apply random operations to a step list; schedules are re-sorted over the positions so the definition stays valid. */
function edit(rng: ReturnType<typeof seeded>, base: StepSpec[]): { steps: StepSpec[]; continueCompleted?: { withinDays: number }; ops: string[] } {
  let steps = base.map((s) => ({ ...s }));
  const ops: string[] = [];
  let continueCompleted: { withinDays: number } | undefined;
  let k = 0;
  const n = rng.int(1, 3);
  for (let i = 0; i < n; i++) {
    const op = rng.pick(OPS);
    const at = rng.int(0, steps.length - 1);
    if (op === "remove" && steps.length > 1) {
      ops.push(`remove ${steps[at]!.id}`);
      steps.splice(at, 1);
    } else if (op === "rename" && !steps[at]!.formerly && /^s\d+$/.test(steps[at]!.id)) {
      const id = `r${k++}`;
      ops.push(`rename ${steps[at]!.id} → ${id}`);
      steps[at] = { ...steps[at]!, id, formerly: [steps[at]!.id] };
    } else if (op === "delay") {
      const d = rng.int(0, 12);
      ops.push(`delay ${steps[at]!.id} → day ${d}`);
      steps[at] = { ...steps[at]!, day: d, at: rng.pick(TIMES) };
    } else if (op === "insert") {
      const id = `n${k++}`;
      const backfill = rng.chance(0.5);
      ops.push(`insert ${id} at ${at}${backfill ? " (backfill)" : ""}`);
      steps.splice(at, 0, { id, day: rng.int(0, 12), at: rng.pick(TIMES), backfill });
    } else if (op === "append") {
      const id = `a${k++}`;
      continueCompleted = { withinDays: rng.int(0, 10) };
      ops.push(`append ${id} (continueCompleted ${continueCompleted.withinDays} days)`);
      steps.push({ id, day: 14, at: rng.pick(TIMES) });
    } else if (op === "reorder" && steps.length > 1) {
      const other = rng.int(0, steps.length - 1);
      ops.push(`swap ${steps[at]!.id} ⇄ ${steps[other]!.id}`);
      [steps[at], steps[other]] = [steps[other]!, steps[at]!];
    }
  }
  // Schedules stay with the positions, sorted (steps must be listed in the order they are sent).
  const slots = steps.map((s) => ({ day: s.day, at: s.at })).sort((a, b) => a.day - b.day || a.at.localeCompare(b.at));
  steps = steps.map((s, i) => ({ ...s, ...slots[i]! }));
  return { steps, ...(continueCompleted ? { continueCompleted } : {}), ops };
}

export async function runCase(seed: number) {
  const rng = seeded(seed);
  const count = rng.int(3, 6);
  const days = Array.from({ length: count }, () => rng.int(0, 10)).sort((a, b) => a - b);
  const base: StepSpec[] = days.map((d, i) => ({ id: `s${i}`, day: d, at: "09:00" }));
  const before = courseOf(base);
  const transport = new ScriptedTransport();
  const { store, engine, lifecycle } = await memoryEngine({ sequences: [before], transport });
  stores.push(store);
  await applyVersion(store, before, EMAILS_DIR, new Date(EDIT_AT.getTime() - 20 * DAY));

  // Subscribers who started up to 16 days before the edit: some not begun, some midway, some done.
  const people = rng.int(6, 14);
  for (let i = 0; i < people; i++) {
    const start = new Date(EDIT_AT.getTime() - rng.int(0, 16 * 24) * 3_600_000);
    await enrollAt(lifecycle, `p${i}@example.com`, rng.pick(ZONES), start);
  }
  await tickThrough(store, engine, EDIT_AT);
  const sentBefore = transport.calls.length;

  const change = edit(rng, base);
  const after = courseOf(change.steps, change.continueCompleted ? { continueCompleted: change.continueCompleted } : {});
  const plan = await planFor(store, after, EMAILS_DIR, EDIT_AT);
  const applied = await applyVersion(store, after, EMAILS_DIR, EDIT_AT);
  engine.setSequences([after]);
  const context = `seed ${seed}: ${change.ops.join("; ")}`;
  expect(applied.effects, context).toEqual(plan.effects);

  // Nobody waits at a step that no longer exists.
  const ids = new Set(after.steps.map((s) => s.id));
  for (const p of await store.enrollmentPositions("course")) {
    if (p.status === "active" || p.status === "paused")
      expect(ids.has(p.nextStepId!), `${context}: enrollment ${p.enrollmentId} waits at ${p.nextStepId}`).toBe(true);
  }

  await tickThrough(store, engine);
  const renamed = new Map(change.steps.flatMap((s) => (s.formerly ?? []).map((f) => [f, s.id] as const)));
  const same = (id: string) => renamed.get(id) ?? id;
  const subs = await store.listSubscribers(null, 100);
  const predicted = new Map(plan.outcomes.map((o) => [o.subscriberId, o.remaining]));
  for (const sub of subs) {
    const all = transport.calls.filter((m) => m.to === sub.email).map((m) => same(m.tags.find((t) => t.name === "step")!.value));
    expect(new Set(all).size, `${context}: ${sub.email} received ${all.join(", ")}`).toBe(all.length);
    const afterEdit = transport.calls
      .slice(sentBefore)
      .filter((m) => m.to === sub.email)
      .map((m) => m.tags.find((t) => t.name === "step")!.value);
    expect(afterEdit, `${context}: ${sub.email}`).toEqual(plan.from === plan.to ? afterEdit : (predicted.get(sub.id) ?? []));
  }
  return plan;
}

/** Run the seeds one after another; with enough of them, every kind of change must have come up. */
export async function runProperty(seeds: readonly number[]): Promise<void> {
  const kinds = new Set<string>();
  for (const seed of seeds) {
    try {
      const plan = await runCase(seed);
      for (const c of plan.changes) kinds.add(c.kind);
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    }
  }
  if (seeds.length >= 30)
    for (const k of ["content-changed", "reordered", "schedule-changed", "step-added", "step-removed", "step-renamed"]) expect(kinds).toContain(k);
}
