/**
 * Time zone validation and fallback. Pure: no wall clock, no I/O.
 */
import { Temporal } from "temporal-polyfill";

/**
 * True when `tz` is a time zone name Temporal knows (IANA names such as "Europe/London",
 * plus "UTC"). Empty strings and numeric offsets ("+05:00") are rejected: a subscriber's
 * zone must be a named zone so that DST rules apply.
 */
export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== "string") return false;
  const trimmed = tz.trim();
  if (trimmed === "" || trimmed !== tz || /^[+\-−]/.test(tz)) return false;
  try {
    Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(tz);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolve a subscriber zone: valid → itself (case-normalized, e.g. "europe/london" →
 * "Europe/London"); empty/unknown → `fallback` plus a warning naming both zones.
 * Never throws for a bad subscriber zone; `fallback` is assumed valid.
 */
export function resolveZone(tz: string | null | undefined, fallback: string): { zone: string; warning?: string } {
  if (tz === null || tz === undefined || tz.trim() === "") {
    return { zone: fallback, warning: `Subscriber has no time zone; using the sequence default ${fallback}.` };
  }
  if (!isValidTimeZone(tz)) {
    return { zone: fallback, warning: `Unknown time zone "${tz}"; using the sequence default ${fallback}.` };
  }
  return { zone: Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(tz).timeZoneId };
}
