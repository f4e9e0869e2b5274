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
 * The current IANA name of the zones whose name CLDR (and so Intl on Node 20, and some
 * browsers) still gives in an older spelling. Only renames within one country: a zone that
 * the IANA data merely links to another country's zone (Europe/Vatican to Europe/Rome)
 * keeps its own name, as ECMAScript's Intl does.
 */
const IANA_NAMES: ReadonlyMap<string, string> = new Map([
  ["Africa/Asmera", "Africa/Asmara"],
  ["America/Buenos_Aires", "America/Argentina/Buenos_Aires"],
  ["America/Catamarca", "America/Argentina/Catamarca"],
  ["America/Coral_Harbour", "America/Atikokan"],
  ["America/Cordoba", "America/Argentina/Cordoba"],
  ["America/Godthab", "America/Nuuk"],
  ["America/Indianapolis", "America/Indiana/Indianapolis"],
  ["America/Jujuy", "America/Argentina/Jujuy"],
  ["America/Louisville", "America/Kentucky/Louisville"],
  ["America/Mendoza", "America/Argentina/Mendoza"],
  ["Asia/Calcutta", "Asia/Kolkata"],
  ["Asia/Katmandu", "Asia/Kathmandu"],
  ["Asia/Rangoon", "Asia/Yangon"],
  ["Asia/Saigon", "Asia/Ho_Chi_Minh"],
  ["Atlantic/Faeroe", "Atlantic/Faroe"],
  ["Europe/Kiev", "Europe/Kyiv"],
  ["Pacific/Enderbury", "Pacific/Kanton"],
  ["Pacific/Ponape", "Pacific/Pohnpei"],
  ["Pacific/Truk", "Pacific/Chuuk"],
]);

const canonicalCache = new Map<string, string | null>();

/**
 * The name drip stores for a zone: its current IANA name (Asia/Calcutta → Asia/Kolkata,
 * Europe/Kiev → Europe/Kyiv, US/Eastern → America/New_York, Etc/UTC → UTC, europe/london →
 * Europe/London); null when `tz` is not a valid zone. Intl first resolves links and case
 * (to CLDR's names on Node 20's ICU), then the few names CLDR keeps in an older spelling are
 * renamed. A runtime whose Intl already answers with IANA names needs no rename.
 */
export function canonicalTimeZone(tz: string): string | null {
  const cached = canonicalCache.get(tz);
  if (cached !== undefined) return cached;
  let canonical: string | null = null;
  if (isValidTimeZone(tz)) {
    try {
      const id = new Intl.DateTimeFormat("en-US", { timeZone: tz }).resolvedOptions().timeZone;
      canonical = IANA_NAMES.get(id) ?? id;
    } catch {
      canonical = null;
    }
  }
  if (canonicalCache.size < 2_000) canonicalCache.set(tz, canonical);
  return canonical;
}

/**
 * Resolve a subscriber zone: valid → itself (case-normalized, e.g. "europe/london" →
 * "Europe/London"); empty/unknown → `fallback` plus a warning naming both zones.
 * Never throws for a bad subscriber zone; `fallback` is assumed valid.
 */
export function resolveZone(tz: string | null | undefined, fallback: string): { zone: string; warning?: string } {
  // Pure in its two strings, and asked once or twice per email sent: remembered (bounded).
  const key = `${tz ?? "\u0000"}\u0001${fallback}`;
  const known = resolved.get(key);
  if (known) return { ...known };
  const r = resolveZoneUncached(tz, fallback);
  if (resolved.size >= 2_000) resolved.clear();
  resolved.set(key, r);
  return { ...r };
}

const resolved = new Map<string, { zone: string; warning?: string }>();

function resolveZoneUncached(tz: string | null | undefined, fallback: string): { zone: string; warning?: string } {
  if (tz === null || tz === undefined || tz.trim() === "") {
    return { zone: fallback, warning: `Subscriber has no time zone; using the sequence default ${fallback}.` };
  }
  if (!isValidTimeZone(tz)) {
    return { zone: fallback, warning: `Unknown time zone "${tz}"; using the sequence default ${fallback}.` };
  }
  return { zone: Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(tz).timeZoneId };
}
