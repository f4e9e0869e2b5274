/** The whole timeline of one hypothetical subscriber, computed before launch. Pure. */
import { formatLocal, planStep } from "../schedule/index.ts";
import { decide } from "./conditions.ts";
import type { Sequence, SubscriberFields } from "./types.ts";

export interface TimelineEntry {
  step: string;
  /** ISO 8601 UTC instant. */
  at: string;
  /** ISO 8601 local time with seconds and the zone's offset. */
  local: string;
  subject: string;
  /** null, or why the step is skipped. */
  skipped: string | null;
}

export interface Timeline {
  zone: string;
  warnings: string[];
  entries: TimelineEntry[];
}

export function simulate(sequence: Sequence, subscriber: SubscriberFields, start: Date): Timeline {
  const entries: TimelineEntry[] = [];
  const warnings = new Set<string>();
  let zone = sequence.defaultTimezone;
  let exited: string | null = null;
  for (const step of sequence.steps) {
    const plan = planStep({
      schedule: step.schedule,
      start,
      timezone: subscriber.timezone,
      defaultTimezone: sequence.defaultTimezone,
      window: sequence.sendWindow,
    });
    zone = plan.zone;
    for (const w of plan.warnings) warnings.add(w);
    const decision = decide(sequence, step, subscriber.tags);
    if (decision.action === "exit") exited ??= `exited the sequence: ${decision.reason}`;
    const subject = typeof step.subject === "function" ? step.subject(subscriber) : step.subject;
    entries.push({
      step: step.id,
      at: plan.at.toISOString(),
      local: formatLocal(plan.at, plan.zone),
      subject,
      skipped: exited ?? (decision.action === "skip" ? decision.reason : null),
    });
  }
  return { zone, warnings: [...warnings], entries };
}
