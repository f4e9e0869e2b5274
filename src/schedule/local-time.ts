/**
 * Local wall-clock helpers: "HH:MM" parsing, ISO formatting with offsets, and turning a
 * local date + time into an instant under the module's DST rules (see plan.ts).
 * Pure: no wall clock, no I/O.
 */
import { Temporal } from "temporal-polyfill";
import type { Weekday } from "../sequences/types.ts";

/** Parse "HH:MM" (00:00–23:59, two digits each) → {hour, minute}, or null when invalid. */
export function parseLocalTime(s: string): { hour: number; minute: number } | null {
  if (typeof s !== "string") return null;
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) return null;
  const hour = Number(m[1]);
  const minute = Number(m[2]);
  if (hour > 23 || minute > 59) return null;
  return { hour, minute };
}

/** Parse "HH:MM" into a PlainTime or throw a clear Error (inputs are validated elsewhere). */
export function requireLocalTime(s: string, what: string): Temporal.PlainTime {
  const t = parseLocalTime(s);
  if (!t) throw new Error(`${what} must be a "HH:MM" local time between 00:00 and 23:59, got ${JSON.stringify(s)}.`);
  return new Temporal.PlainTime(t.hour, t.minute);
}

/** Convert a JS Date to a ZonedDateTime in `zone`; throws on an invalid Date. */
export function toZoned(at: Date, zone: string): Temporal.ZonedDateTime {
  const ms = at.getTime();
  if (!Number.isFinite(ms)) throw new Error("Expected a valid Date, got an invalid Date.");
  return Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(zone);
}

/**
 * ISO 8601 local time with seconds and the zone's numeric offset, e.g.
 * "2026-03-09T09:00:00-04:00" or "2026-01-15T09:00:00+05:30". Never "Z": UTC gives "+00:00".
 * Sub-second parts are truncated. Throws a RangeError for an unknown zone.
 */
export function formatLocal(at: Date, zone: string): string {
  return toZoned(at, zone).toString({ timeZoneName: "never", smallestUnit: "second", offset: "auto" });
}

/**
 * The instant of local `date` + `time` in `zone`:
 * - a wall time that does not exist (spring-forward gap) → the instant the gap ends
 *   (the transition itself, e.g. New York 02:30 on 2026-03-08 → 03:00 EDT);
 * - an ambiguous wall time (fall back) → the earlier of the two instants;
 * - otherwise the single matching instant.
 */
export function localToInstant(date: Temporal.PlainDate, time: Temporal.PlainTime, zone: string): Temporal.ZonedDateTime {
  const wall = date.toPlainDateTime(time);
  const earlier = wall.toZonedDateTime(zone, { disambiguation: "earlier" });
  if (Temporal.PlainDateTime.compare(earlier.toPlainDateTime(), wall) === 0) return earlier; // exists (or ambiguous → earlier)
  // In a gap: "earlier" lies before the gap (shifted back by the gap length); the next
  // transition after it is the end of the gap.
  const end = earlier.getTimeZoneTransition("next");
  if (end === null) throw new Error(`No time zone transition found after ${wall.toString()} in ${zone}.`);
  return end;
}

const WEEKDAYS: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** The Weekday name of a Temporal dayOfWeek (1 = Monday … 7 = Sunday). */
export function weekdayOf(d: { dayOfWeek: number }): Weekday {
  const w = WEEKDAYS[d.dayOfWeek - 1];
  if (!w) throw new Error(`Invalid ISO day of week ${d.dayOfWeek}.`);
  return w;
}
