/**
 * Local-time planning of sequence steps. Pure: no wall clock reads, no I/O.
 *
 * The hazard: "day 3 at 09:00" means 09:00 on the subscriber's wall clock, three calendar
 * days after they started, in THEIR zone. Adding 3 × 24h in UTC drifts by an hour across
 * a DST change, and using the UTC date puts a subscriber who signs up at 23:50 local on
 * the wrong day. Twice a year local wall times also stop mapping 1:1 to instants:
 *
 * - Calendar days, not 24h periods: we take the start's date in the resolved zone, add N
 *   days to that date, then attach the local time. Across DST the UTC gap is 23h or 25h.
 * - Spring-forward gap (the wall time does not exist, e.g. New York 2026-03-08 02:30):
 *   the step goes out at the first valid instant after the gap, i.e. the transition
 *   itself (03:00 EDT). Temporal's "compatible"/"later" would shift by the gap length
 *   (03:30), which is not the first valid instant, so we detect the gap and use the
 *   transition instant.
 * - Fall-back ambiguity (the wall time happens twice, e.g. 01:30 on 2026-11-01): the
 *   EARLIER instant, so the step is never later than promised and never sent twice.
 * - A planned day outside the send window's weekdays moves forward to the next allowed
 *   day at the same local time, re-applying the rules above on that day.
 * - An unknown or empty subscriber zone falls back to the sequence default with a
 *   warning; planning never throws for bad subscriber data.
 */
import { Temporal } from "temporal-polyfill";
import type { Schedule, SendWindow } from "../sequences/types.ts";
import { localToInstant, requireLocalTime, toZoned, weekdayOf } from "./local-time.ts";
import { resolveZone } from "./zone.ts";

export interface PlanInput {
  /** { kind: "immediately" } | { kind: "day", day: number, at: "HH:MM" } */
  schedule: Schedule;
  /** Enrollment start instant. */
  start: Date;
  /** The subscriber's IANA zone (may be empty/invalid). */
  timezone: string | null | undefined;
  /** The sequence's default zone (assumed valid). */
  defaultTimezone: string;
  window: SendWindow;
}

export interface PlanResult {
  at: Date;
  zone: string;
  warnings: string[];
}

/** How many consecutive local dates to try before giving up (a week plus slack for skipped dates). */
const MAX_DAYS = 14;

function requireWeekdays(window: SendWindow): ReadonlySet<string> {
  if (window.weekdays.length === 0) {
    throw new Error("The send window allows no weekdays: at least one weekday is required to plan a step.");
  }
  return new Set(window.weekdays);
}

/**
 * The first instant on or after local `date` whose local date is an allowed weekday,
 * at local `time` (gap → transition instant, ambiguous → earlier).
 */
function onAllowedDay(date: Temporal.PlainDate, time: Temporal.PlainTime, zone: string, allowed: ReadonlySet<string>): Temporal.ZonedDateTime {
  let d = date;
  for (let i = 0; i < MAX_DAYS; i++) {
    const at = localToInstant(d, time, zone);
    if (allowed.has(weekdayOf(at))) return at;
    d = d.add({ days: 1 });
  }
  throw new Error(`No allowed weekday found within ${MAX_DAYS} days of ${date.toString()} in ${zone}.`);
}

/** Plan when a step goes out. See the top-of-file comment for the rules. */
export function planStep(input: PlanInput): PlanResult {
  const { schedule, start, window } = input;
  const allowed = requireWeekdays(window);
  const { zone, warning } = resolveZone(input.timezone, input.defaultTimezone);
  const warnings = warning ? [warning] : [];
  const startZoned = toZoned(start, zone);

  if (schedule.kind === "immediately") {
    return { at: new Date(start.getTime()), zone, warnings };
  }

  if (!Number.isInteger(schedule.day) || schedule.day < 0) {
    throw new Error(`Step day must be a whole number of days >= 0, got ${schedule.day}.`);
  }
  const time = requireLocalTime(schedule.at, "Step time");
  const date = startZoned.toPlainDate().add({ days: schedule.day });
  const at = onAllowedDay(date, time, zone, allowed);
  return { at: new Date(at.epochMilliseconds), zone, warnings };
}

/**
 * The first instant >= `after` inside the send window in `zone`: an allowed weekday and a
 * local time of day in [window.start, window.end). If `after` is already inside, returns
 * it; otherwise the next window opening (local `start` on the next allowed day, with the
 * gap/ambiguity rules of planStep).
 */
export function nextWindowInstant(after: Date, zone: string, window: SendWindow): Date {
  const allowed = requireWeekdays(window);
  const open = requireLocalTime(window.start, "Send window start");
  const close = requireLocalTime(window.end, "Send window end");
  if (Temporal.PlainTime.compare(open, close) >= 0) {
    throw new Error(`Send window start ${window.start} must be before its end ${window.end}.`);
  }
  const now = toZoned(after, zone);
  const tod = now.toPlainTime();
  if (allowed.has(weekdayOf(now)) && Temporal.PlainTime.compare(tod, open) >= 0 && Temporal.PlainTime.compare(tod, close) < 0) {
    return new Date(after.getTime());
  }
  let d = now.toPlainDate();
  for (let i = 0; i < MAX_DAYS; i++) {
    const at = onAllowedDay(d, open, zone, allowed);
    if (at.epochMilliseconds >= after.getTime()) return new Date(at.epochMilliseconds);
    d = at.toPlainDate().add({ days: 1 });
  }
  throw new Error(`No send window opening found within ${MAX_DAYS} days after ${now.toString()}.`);
}
