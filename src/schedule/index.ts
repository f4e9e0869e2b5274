/** Pure local-time planning: zones, "HH:MM" times, step instants and send windows. */
export { planStep, nextWindowInstant } from "./plan.ts";
export type { PlanInput, PlanResult } from "./plan.ts";
export { canonicalTimeZone, isValidTimeZone, resolveZone } from "./zone.ts";
export { formatLocal, parseLocalTime } from "./local-time.ts";
