/**
 * Canonical time-zone names: every spelling a person, a browser or an old export may use
 * (Asia/Calcutta, Europe/Kiev, US/Eastern, Etc/UTC, lower case) becomes the current IANA name
 * (Asia/Kolkata, Europe/Kyiv, America/New_York, UTC), which is what drip stores.
 */
import { Temporal } from "temporal-polyfill";
import { describe, expect, it } from "vitest";
import { subscriberInputSchema } from "../../src/lifecycle/input.ts";
import { canonicalTimeZone } from "../../src/schedule/index.ts";
import { LEGACY_ZONES } from "../support/zones.ts";

const offsetsAt = (zone: string) =>
  ["2026-01-15T12:00:00Z", "2026-07-15T12:00:00Z", "2027-03-30T00:30:00Z"].map((t) => Temporal.Instant.from(t).toZonedDateTimeISO(zone).offset);

describe("canonicalTimeZone", () => {
  it.each([
    ["Asia/Calcutta", "Asia/Kolkata"],
    ["Asia/Kolkata", "Asia/Kolkata"],
    ["Europe/Kiev", "Europe/Kyiv"],
    ["Europe/Kyiv", "Europe/Kyiv"],
    ["US/Eastern", "America/New_York"],
    ["America/New_York", "America/New_York"],
    ["Etc/UTC", "UTC"],
    ["UTC", "UTC"],
    ["GMT", "UTC"],
    ["europe/london", "Europe/London"],
    ["America/Buenos_Aires", "America/Argentina/Buenos_Aires"],
    ["Asia/Saigon", "Asia/Ho_Chi_Minh"],
    ["Pacific/Enderbury", "Pacific/Kanton"],
    ["Etc/GMT+5", "Etc/GMT+5"],
  ])("%s → %s", (zone, canonical) => {
    expect(canonicalTimeZone(zone)).toBe(canonical);
  });

  it.each(["", " Europe/London", "Mars/Olympus_Mons", "+05:30", "Europe/London\n"])("refuses %j (null)", (zone) => {
    expect(canonicalTimeZone(zone)).toBeNull();
  });

  it("maps every zone this runtime lists, and the legacy spellings, to a name that is its own canonical form, with the same offsets", () => {
    for (const zone of [...Intl.supportedValuesOf("timeZone"), ...LEGACY_ZONES]) {
      const canonical = canonicalTimeZone(zone);
      expect(canonical, zone).not.toBeNull();
      expect(canonicalTimeZone(canonical!), zone).toBe(canonical);
      expect(offsetsAt(canonical!), zone).toEqual(offsetsAt(zone));
    }
  });

  it("is what every edge stores: the subscriber schema turns legacy names into canonical ones", () => {
    const parse = (timezone: string) => subscriberInputSchema.parse({ email: "a@example.com", timezone }).timezone;
    expect(parse("Asia/Calcutta")).toBe("Asia/Kolkata");
    expect(parse("Europe/Kiev")).toBe("Europe/Kyiv");
    expect(parse("US/Eastern")).toBe("America/New_York");
    expect(parse(" Asia/Kolkata ")).toBe("Asia/Kolkata");
    expect(parse("")).toBe("");
    expect(subscriberInputSchema.safeParse({ email: "a@example.com", timezone: "Nowhere/Land" }).success).toBe(false);
  });
});
