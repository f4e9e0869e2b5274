/**
 * Where an enrollment stands in time when a subscriber changes: pure functions of the
 * sequence, the enrollment and `now` (no store, no clock). Shared by the lifecycle door
 * (re-plan on a zone change, resume, return after unsubscribing) and the tick (a re-plan
 * deferred while a send was claimed).
 */
import { nextWindowInstant, planStep, resolveZone } from "../schedule/index.ts";
import type { Sequence } from "../sequences/types.ts";
import type { Enrollment, EnrollmentPlan, Subscriber } from "../store/types.ts";

/** Where a new enrollment starts: its first step and when it is due. */
export function planEnrollment(sequence: Sequence, subscriber: Pick<Subscriber, "timezone">, start: Date): EnrollmentPlan & { warnings: string[] } {
  const first = sequence.steps[0]!;
  const plan = planStep({
    schedule: first.schedule,
    start,
    timezone: subscriber.timezone,
    defaultTimezone: sequence.defaultTimezone,
    window: sequence.sendWindow,
  });
  return { sequenceId: sequence.id, startedAt: start, firstStepId: first.id, firstDueAt: plan.at, warnings: plan.warnings };
}

/** The due time of the enrollment's next step in the subscriber's (new) zone; null when it has none. */
export function replannedDue(sequence: Sequence | undefined, enrollment: Pick<Enrollment, "nextStepId" | "startedAt">, timezone: string): Date | null {
  const step = sequence?.steps.find((s) => s.id === enrollment.nextStepId);
  if (!sequence || !step) return null;
  return planStep({ schedule: step.schedule, start: enrollment.startedAt, timezone, defaultTimezone: sequence.defaultTimezone, window: sequence.sendWindow })
    .at;
}

/**
 * Coming back after unsubscribing: the course picks up at the first step not yet sent,
 * in the subscriber's next send window, and the start slides so the steps after it keep
 * their spacing. Null when every step was sent (nothing left to resume).
 */
export function resumeAfterReturn(
  sequence: Sequence,
  enrollment: Pick<Enrollment, "startedAt">,
  sentStepIds: ReadonlySet<string>,
  timezone: string,
  now: Date,
): { stepId: string; dueAt: Date; startedAt: Date } | null {
  const step = sequence.steps.find((s) => !sentStepIds.has(s.id));
  if (!step) return null;
  const planned = planStep({
    schedule: step.schedule,
    start: enrollment.startedAt,
    timezone,
    defaultTimezone: sequence.defaultTimezone,
    window: sequence.sendWindow,
  }).at;
  const startedAt = new Date(enrollment.startedAt.getTime() + Math.max(0, now.getTime() - planned.getTime()));
  const zone = resolveZone(timezone, sequence.defaultTimezone).zone;
  const dueAt = nextWindowInstant(now, zone, sequence.sendWindow);
  return { stepId: step.id, dueAt, startedAt };
}
