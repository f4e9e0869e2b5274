/**
 * Pieces the live-edit tests share: a seeded generator, sequences built from plain step
 * lists, subscribers enrolled at chosen times, and ticking an engine through to the end.
 */
import type { Engine } from "../../src/engine/engine.ts";
import type { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { day, defineSequence } from "../../src/sequences/define.ts";
import type { Sequence } from "../../src/sequences/types.ts";
import type { Store } from "../../src/store/types.ts";
import { TinyEmail } from "../support/engine-helpers.ts";

/** mulberry32: a small seeded generator, so a failing case can be replayed from its seed. */
export function seeded(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}

export interface StepSpec {
  id: string;
  day: number;
  at: string;
  subject?: string;
  formerly?: string[];
  backfill?: boolean;
}

export function courseOf(steps: readonly StepSpec[], opts: { id?: string; continueCompleted?: { withinDays: number } } = {}): Sequence {
  return defineSequence({
    id: opts.id ?? "course",
    name: "Course",
    sender: { name: "Course sender", organization: "Course Clinic" },
    reason: "You get this because a test enrolled you.",
    defaultTimezone: "Europe/London",
    sendWindow: { start: "08:00", end: "20:00", weekdays: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] },
    ...(opts.continueCompleted ? { continueCompleted: opts.continueCompleted } : {}),
    steps: steps.map((s) => ({
      id: s.id,
      schedule: day(s.day, s.at),
      template: TinyEmail,
      subject: s.subject ?? `About ${s.id}`,
      preview: `Preview of ${s.id}.`,
      ...(s.formerly ? { formerly: s.formerly } : {}),
      ...(s.backfill ? { backfill: true } : {}),
    })),
  });
}

/** Tick at every due time up to `until` (all of them when omitted); returns the last instant ticked. */
export async function tickThrough(store: Store, engine: Engine, until?: Date, max = 2_000): Promise<void> {
  for (let i = 0; i < max; i++) {
    const next = (await store.status()).nextDueAt;
    if (!next || (until && next.getTime() > until.getTime())) return;
    await engine.tick(next);
  }
  throw new Error(`still due after ${max} ticks`);
}

export async function enrollAt(lifecycle: Lifecycle, email: string, timezone: string, start: Date, sequenceId = "course") {
  const res = await lifecycle.subscribe({ email, name: "Pat", timezone, tags: [] }, { confirmed: true, source: "test", sequenceId }, start);
  if (res.kind !== "ok") throw new Error(`${email} not subscribed`);
  return res.subscriber;
}
