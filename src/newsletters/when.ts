/**
 * When each delivery of an issue is due: one instant, or a local time in each subscriber's
 * own zone. Pure (no clock, no store): the per-zone instants are computed once per distinct
 * zone of the audience and handed to the store's set-based planning.
 */
import { Temporal } from "temporal-polyfill";
import { resolveZone } from "../schedule/index.ts";
import { localToInstant, requireLocalTime } from "../schedule/local-time.ts";
import type { DeliveryPlan } from "../store/types.ts";

export interface LocalPlan {
  plan: DeliveryPlan;
  /** Zones where that local moment had already passed when scheduled (and what was done). */
  passed: string[];
  first: Date;
  last: Date;
}

/**
 * `time` on `date` in each zone. Where that moment has already passed, `ifPassed` says what
 * happens: "next-day" (the same time the next day) or "now"; undefined → the caller must ask.
 * Unknown or empty zones use `defaultZone`.
 */
export function localPlan(zones: readonly string[], date: string, time: string, defaultZone: string, now: Date, ifPassed?: "next-day" | "now"): LocalPlan {
  const day = Temporal.PlainDate.from(date);
  const at = requireLocalTime(time, "--local");
  const byZone: Record<string, number> = {};
  const passed: string[] = [];
  const instant = (zone: string) => {
    let ms = localToInstant(day, at, zone).epochMilliseconds;
    if (ms <= now.getTime()) {
      passed.push(zone);
      if (ifPassed === "next-day") ms = localToInstant(day.add({ days: 1 }), at, zone).epochMilliseconds;
      else ms = now.getTime();
    }
    return ms;
  };
  for (const tz of zones) {
    const { zone } = resolveZone(tz, defaultZone);
    byZone[tz] = instant(zone);
  }
  const fallbackZone = resolveZone(defaultZone, "UTC").zone;
  const before = passed.length;
  const fallback = instant(fallbackZone);
  passed.length = before; // the fallback is only used by subscribers listed above
  const all = Object.values(byZone);
  const first = new Date(Math.min(fallback, ...all));
  const last = new Date(Math.max(fallback, ...all));
  return { plan: { byZone, fallback }, passed: [...new Set(passed)].sort(), first, last };
}

/** "YYYY-MM-DD", a real calendar day. */
export function isCalendarDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  try {
    Temporal.PlainDate.from(s, { overflow: "reject" });
    return true;
  } catch {
    return false;
  }
}
