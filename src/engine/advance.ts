/**
 * Where an enrollment goes after a step: pure functions of the sequence definition, the
 * claim and `now` (no store, no clock).
 */
import { planStep } from "../schedule/index.ts";
import type { Sequence, StepDefinition } from "../sequences/types.ts";
import type { Advance, ClaimedSend } from "../store/types.ts";

/**
 * planStep is pure in the step, the sequence's zone and window, the start and the zone; the
 * engine asks it twice per email with the same start. Remembered per step object (a reloaded
 * definition is a new object), bounded per step.
 */
const planned = new WeakMap<StepDefinition, Map<string, { at: number; zone: string; warnings: string[] }>>();

export function planFor(sequence: Sequence, step: StepDefinition, start: Date, timezone: string) {
  let byStep = planned.get(step);
  if (!byStep) planned.set(step, (byStep = new Map()));
  const key = `${start.getTime()} ${timezone} ${sequence.defaultTimezone} ${JSON.stringify(sequence.sendWindow)} ${JSON.stringify(step.schedule)}`;
  let p = byStep.get(key);
  if (!p) {
    const r = planStep({ schedule: step.schedule, start, timezone, defaultTimezone: sequence.defaultTimezone, window: sequence.sendWindow });
    p = { at: r.at.getTime(), zone: r.zone, warnings: r.warnings };
    if (byStep.size >= 5_000) byStep.clear();
    byStep.set(key, p);
  }
  return { at: new Date(p.at), zone: p.zone, warnings: [...p.warnings] };
}

/**
 * The advance after a step: the next step's due time in the subscriber's zone, or completed.
 * A step handled more than `latenessMs` late (downtime, a back-dated import) slides the rest
 * of the course by its delay, so the remaining steps keep their spacing instead of all
 * coming due at once.
 */
export function advanceAfter(sequence: Sequence, index: number, claim: ClaimedSend, now: Date, latenessMs: number): Advance {
  // Steps a live edit said this enrollment does not receive (received already, or added before its position).
  const next = sequence.steps.slice(index + 1).find((s) => !claim.passOver?.includes(s.id));
  if (!next) return { kind: "completed" };
  const tz = claim.subscriber.timezone;
  const planned = planFor(sequence, sequence.steps[index]!, claim.startedAt, tz).at;
  const delay = now.getTime() - planned.getTime();
  const start = delay > latenessMs ? new Date(claim.startedAt.getTime() + delay) : claim.startedAt;
  const plan = planFor(sequence, next, start, tz);
  return { kind: "next", stepId: next.id, dueAt: plan.at, ...(start !== claim.startedAt ? { startedAt: start } : {}) };
}

/** A removed step: continue with the first step planned after the removed one was due. */
export function advanceAfterRemoved(sequence: Sequence, claim: ClaimedSend): Advance {
  for (const step of sequence.steps) {
    if (claim.passOver?.includes(step.id)) continue;
    const at = planFor(sequence, step, claim.startedAt, claim.subscriber.timezone).at;
    if (at.getTime() > claim.dueAt.getTime()) return { kind: "next", stepId: step.id, dueAt: at };
  }
  return { kind: "completed" };
}

/** The advance after a claimed step, from the current definition (or exit, if it is gone). */
export function advanceFor(sequence: Sequence | undefined, claim: ClaimedSend, now: Date, latenessMs: number): Advance {
  if (!sequence) return { kind: "exited", reason: `sequence "${claim.sequenceId}" is not loaded` };
  const index = stepIndex(sequence, claim.stepId);
  return index < 0 ? advanceAfterRemoved(sequence, claim) : advanceAfter(sequence, index, claim, now, latenessMs);
}

/** Where a step is in the definition, by its id or a former one (a claim taken before a rename). */
export function stepIndex(sequence: Sequence, stepId: string): number {
  const i = sequence.steps.findIndex((s) => s.id === stepId);
  return i >= 0 ? i : sequence.steps.findIndex((s) => s.formerly?.includes(stepId));
}
