/**
 * An enrollment whose step was claimed while a live edit was applied gets a deferred re-plan
 * (the claim is never touched). Once the claim is released, the tick places it here, from the
 * definition now running: pure, no store, no clock.
 */
import { nextWindowInstant, planStep, resolveZone } from "../schedule/index.ts";
import type { Sequence } from "../sequences/types.ts";
import type { Enrollment } from "../store/types.ts";
import { stepIndex } from "../engine/advance.ts";

/**
 * null when its next step is still in the definition and not passed over (an ordinary
 * re-plan then applies). Otherwise the next step after its cursor it has not passed over
 * (due as planned from its start, or at the next moment inside the window once that passed),
 * or `{stepId: null}` when none is left (completed).
 */
export function placeAfterEdit(
  sequence: Sequence,
  enrollment: Pick<Enrollment, "nextStepId" | "cursor" | "startedAt" | "passOver">,
  timezone: string,
  now: Date,
): { stepId: string | null; dueAt: Date | null } | null {
  const passOver = new Set(enrollment.passOver ?? []);
  const waiting = enrollment.nextStepId === null ? -1 : stepIndex(sequence, enrollment.nextStepId);
  if (waiting >= 0 && !passOver.has(sequence.steps[waiting]!.id)) return null;
  const from = enrollment.cursor === null ? -1 : stepIndex(sequence, enrollment.cursor);
  const step = sequence.steps.slice(from + 1).find((s) => !passOver.has(s.id) && s.id !== enrollment.cursor);
  if (!step) return { stepId: null, dueAt: null };
  const planned = planStep({
    schedule: step.schedule,
    start: enrollment.startedAt,
    timezone,
    defaultTimezone: sequence.defaultTimezone,
    window: sequence.sendWindow,
  }).at;
  if (planned.getTime() > now.getTime()) return { stepId: step.id, dueAt: planned };
  return { stepId: step.id, dueAt: nextWindowInstant(now, resolveZone(timezone, sequence.defaultTimezone).zone, sequence.sendWindow) };
}
