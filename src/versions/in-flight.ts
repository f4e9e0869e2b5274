/**
 * An enrollment whose step was claimed while a live edit was applied gets a deferred re-plan
 * (the claim is never touched). Once the claim is released, the tick places it here, from the
 * definition now running: pure, no store, no clock.
 */
import { formatLocal, nextWindowInstant, planStep, resolveZone } from "../schedule/index.ts";
import type { Schedule, SendWindow, Sequence, SubscriberFields } from "../sequences/types.ts";
import type { Enrollment, EnrollmentPosition } from "../store/types.ts";
import { planSequence } from "./plan.ts";
import type { SequenceSnapshot } from "./snapshot.ts";
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

export interface InFlightTimeline {
  /** Steps received before `now` under the live version (or the new one when nothing is live yet). */
  received: string[];
  /** The rest, under the new definition: step, UTC instant, local time, subject. */
  entries: { step: string; at: string; local: string; subject: string }[];
}

/**
 * `drip simulate --enrolled-at`: someone who started at `start` is in flight at `now`. What
 * they received follows the live version's schedule; what is left follows the new definition
 * by the plan's rules (src/versions/plan.ts).
 */
export function inFlightTimeline(
  live: SequenceSnapshot | null,
  sequence: Sequence,
  next: SequenceSnapshot,
  subscriber: SubscriberFields,
  start: Date,
  now: Date,
): InFlightTimeline {
  const base = live ?? next;
  const planned = (schedule: Schedule, window: SendWindow, defaultTimezone: string) =>
    planStep({ schedule, start, timezone: subscriber.timezone, defaultTimezone, window }).at;
  const done = base.steps.filter((s) => planned(s.schedule, base.sendWindow, base.defaultTimezone).getTime() <= now.getTime()).map((s) => s.id);
  const waiting = base.steps.find((s) => !done.includes(s.id));
  const position: EnrollmentPosition = {
    enrollmentId: 0,
    subscriberId: "simulated",
    timezone: subscriber.timezone,
    status: waiting ? "active" : "completed",
    startedAt: start,
    nextStepId: waiting?.id ?? null,
    nextDueAt: waiting ? planned(waiting.schedule, base.sendWindow, base.defaultTimezone) : null,
    done,
    lastDoneAt: done.length > 0 ? now : null,
    claimed: false,
  };
  let remaining: string[];
  let first: Date | null = null;
  if (live && live.hash !== next.hash) {
    const outcome = planSequence({ live, next, sequence, enrollments: [position], now }).outcomes[0];
    remaining = outcome?.remaining ?? [];
    first = outcome?.after.dueAt ?? null;
  } else remaining = sequence.steps.filter((s) => !done.includes(s.id)).map((s) => s.id);
  const zone = resolveZone(subscriber.timezone, sequence.defaultTimezone).zone;
  let last = now;
  const entries = remaining.map((id, i) => {
    const step = sequence.steps.find((s) => s.id === id)!;
    let at = i === 0 && first ? first : planned(step.schedule, sequence.sendWindow, sequence.defaultTimezone);
    if (at.getTime() < last.getTime()) at = nextWindowInstant(last, zone, sequence.sendWindow);
    last = at;
    return {
      step: id,
      at: at.toISOString(),
      local: formatLocal(at, zone),
      subject: typeof step.subject === "function" ? step.subject(subscriber) : step.subject,
    };
  });
  return { received: done, entries };
}
