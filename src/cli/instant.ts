import { Temporal } from "temporal-polyfill";

// Its own module, not io.ts: every command imports io.ts, and the Temporal polyfill costs a
// start tens of milliseconds that `drip status` and most commands never need.

/**
 * Parse an ISO 8601 instant that states its offset (Z or ±HH:MM), strictly: null for a bare
 * local time (it would silently mean the machine's zone) or an impossible date (Date.parse
 * rolls 2026-02-30 over to 2 March).
 */
export function parseInstant(s: string): Date | null {
  try {
    return new Date(Temporal.Instant.from(s).epochMilliseconds);
  } catch {
    return null;
  }
}
