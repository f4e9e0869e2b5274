import { describe, expect, it } from "vitest";
import { formatLocal, isValidTimeZone, nextWindowInstant, parseLocalTime, planStep, resolveZone, type PlanInput } from "../../src/schedule/index.ts";
import type { SendWindow, Weekday } from "../../src/sequences/types.ts";

const ALL: Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const NO_SUNDAY: Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat"];
const WEEKDAYS: Weekday[] = ["mon", "tue", "wed", "thu", "fri"];
const win = (weekdays: Weekday[], start = "08:00", end = "20:00"): SendWindow => ({ start, end, weekdays });

function plan(start: string, zone: string | null | undefined, day: number, at: string, weekdays: Weekday[] = ALL) {
  const input: PlanInput = {
    schedule: { kind: "day", day, at },
    start: new Date(start),
    timezone: zone,
    defaultTimezone: "Europe/London",
    window: win(weekdays),
  };
  return planStep(input);
}

describe("planStep: day N at HH:MM across DST", () => {
  it.each([
    // America/New_York, spring forward 2026-03-08 02:00 EST → 03:00 EDT (07:00Z).
    ["NY day before change, EST", "2026-03-06T15:00:00Z", "America/New_York", 1, "09:00", "2026-03-07T14:00:00.000Z"],
    ["NY day after change, EDT", "2026-03-06T15:00:00Z", "America/New_York", 3, "09:00", "2026-03-09T13:00:00.000Z"],
    ["NY 02:30 in the gap → 03:00 EDT", "2026-03-06T15:00:00Z", "America/New_York", 2, "02:30", "2026-03-08T07:00:00.000Z"],
    ["NY 01:59 just before the gap", "2026-03-06T15:00:00Z", "America/New_York", 2, "01:59", "2026-03-08T06:59:00.000Z"],
    ["NY 03:00 right after the gap", "2026-03-06T15:00:00Z", "America/New_York", 2, "03:00", "2026-03-08T07:00:00.000Z"],
    // America/New_York, fall back 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
    ["NY day before fall back, EDT", "2026-10-30T14:00:00Z", "America/New_York", 1, "09:00", "2026-10-31T13:00:00.000Z"],
    ["NY day after fall back, EST", "2026-10-30T14:00:00Z", "America/New_York", 3, "09:00", "2026-11-02T14:00:00.000Z"],
    ["NY 01:30 ambiguous → earlier (EDT)", "2026-10-30T14:00:00Z", "America/New_York", 2, "01:30", "2026-11-01T05:30:00.000Z"],
    ["NY 02:30 on fall-back day (EST)", "2026-10-30T14:00:00Z", "America/New_York", 2, "02:30", "2026-11-01T07:30:00.000Z"],
    // Europe/London, gap 2026-03-29 01:00 GMT → 02:00 BST (01:00Z).
    ["London before spring change", "2026-03-27T12:00:00Z", "Europe/London", 1, "09:00", "2026-03-28T09:00:00.000Z"],
    ["London after spring change", "2026-03-27T12:00:00Z", "Europe/London", 3, "09:00", "2026-03-30T08:00:00.000Z"],
    ["London 01:30 in the gap → 02:00 BST", "2026-03-27T12:00:00Z", "Europe/London", 2, "01:30", "2026-03-29T01:00:00.000Z"],
    // Europe/London, ambiguity 2026-10-25 01:00–02:00.
    ["London before autumn change", "2026-10-23T12:00:00Z", "Europe/London", 1, "09:00", "2026-10-24T08:00:00.000Z"],
    ["London after autumn change", "2026-10-23T12:00:00Z", "Europe/London", 3, "09:00", "2026-10-26T09:00:00.000Z"],
    ["London 01:30 ambiguous → earlier (BST)", "2026-10-23T12:00:00Z", "Europe/London", 2, "01:30", "2026-10-25T00:30:00.000Z"],
    // Australia/Lord_Howe: +10:30 ↔ +11:00 (30-minute DST).
    ["Lord Howe before October gap", "2026-10-02T00:00:00Z", "Australia/Lord_Howe", 1, "09:00", "2026-10-02T22:30:00.000Z"],
    ["Lord Howe 02:15 in the gap → 02:30 +11:00", "2026-10-02T00:00:00Z", "Australia/Lord_Howe", 2, "02:15", "2026-10-03T15:30:00.000Z"],
    ["Lord Howe after October gap", "2026-10-02T00:00:00Z", "Australia/Lord_Howe", 3, "09:00", "2026-10-04T22:00:00.000Z"],
    ["Lord Howe 01:45 ambiguous → earlier (+11:00)", "2026-04-03T00:00:00Z", "Australia/Lord_Howe", 2, "01:45", "2026-04-04T14:45:00.000Z"],
    ["Lord Howe after April change", "2026-04-03T00:00:00Z", "Australia/Lord_Howe", 3, "09:00", "2026-04-05T22:30:00.000Z"],
    // Fixed and odd offsets.
    ["Kolkata day 0", "2026-01-15T00:00:00Z", "Asia/Kolkata", 0, "09:00", "2026-01-15T03:30:00.000Z"],
    ["Chatham winter (+12:45)", "2026-07-15T00:00:00Z", "Pacific/Chatham", 1, "09:00", "2026-07-15T20:15:00.000Z"],
    ["Chatham summer (+13:45)", "2026-01-15T00:00:00Z", "Pacific/Chatham", 1, "09:00", "2026-01-15T19:15:00.000Z"],
    // Local calendar date, not UTC date.
    ["NY 23:50 local: day 1 is next local date (same UTC date)", "2026-01-15T04:50:00Z", "America/New_York", 1, "09:00", "2026-01-15T14:00:00.000Z"],
    ["NY 23:50 local: day 0 is the local start date", "2026-01-15T04:50:00Z", "America/New_York", 0, "09:00", "2026-01-14T14:00:00.000Z"],
    ["Kolkata 00:30 local: day 1 is two UTC dates later", "2026-01-14T19:00:00Z", "Asia/Kolkata", 1, "09:00", "2026-01-16T03:30:00.000Z"],
  ])("%s", (_name, start, zone, day, at, expected) => {
    const r = plan(start, zone, day, at);
    expect(r.at.toISOString()).toBe(expected);
    expect(r.zone).toBe(zone);
    expect(r.warnings).toEqual([]);
  });

  it("counts calendar days: 09:00 to 09:00 across spring forward is 47h, across fall back 49h", () => {
    const h = (a: Date, b: Date) => (b.getTime() - a.getTime()) / 3_600_000;
    const spring = [1, 3].map((d) => plan("2026-03-06T15:00:00Z", "America/New_York", d, "09:00").at);
    const fall = [1, 3].map((d) => plan("2026-10-30T14:00:00Z", "America/New_York", d, "09:00").at);
    expect(h(spring[0]!, spring[1]!)).toBe(47);
    expect(h(fall[0]!, fall[1]!)).toBe(49);
  });
});

describe("planStep: send window weekdays", () => {
  it.each([
    ["Sunday excluded → Monday same local time", "2026-01-15T15:00:00Z", "America/New_York", 3, "09:00", NO_SUNDAY, "2026-01-19T14:00:00.000Z"],
    ["Sunday 2026-03-08 excluded → Monday in EDT", "2026-03-06T15:00:00Z", "America/New_York", 2, "09:00", WEEKDAYS, "2026-03-09T13:00:00.000Z"],
    ["Saturday → Monday (weekdays only)", "2026-01-15T15:00:00Z", "America/New_York", 2, "09:00", WEEKDAYS, "2026-01-19T14:00:00.000Z"],
    ["moved onto a gap day re-applies the gap rule", "2026-03-06T15:00:00Z", "America/New_York", 1, "02:30", ["sun"] as Weekday[], "2026-03-08T07:00:00.000Z"],
    ["allowed day is kept", "2026-01-15T15:00:00Z", "America/New_York", 1, "09:00", NO_SUNDAY, "2026-01-16T14:00:00.000Z"],
  ])("%s", (_name, start, zone, day, at, weekdays, expected) => {
    expect(plan(start, zone, day, at, weekdays).at.toISOString()).toBe(expected);
  });

  it("throws a clear error when the window allows no weekdays", () => {
    expect(() => plan("2026-01-15T15:00:00Z", "America/New_York", 1, "09:00", [])).toThrow(/no weekdays/);
  });
});

describe("planStep: immediately", () => {
  it.each([
    ["at 03:00 local on an excluded Sunday", "2026-03-08T07:30:00.123Z", "America/New_York", WEEKDAYS],
    ["bad zone still sends now", "2026-01-15T12:00:00.000Z", "Mars/Olympus", ALL],
  ])("%s → exactly the start instant", (_name, start, zone, weekdays) => {
    const r = planStep({
      schedule: { kind: "immediately" },
      start: new Date(start),
      timezone: zone,
      defaultTimezone: "Europe/London",
      window: win(weekdays),
    });
    expect(r.at.toISOString()).toBe(start);
  });
});

describe("planStep: zone fallback", () => {
  it.each([
    ["unknown zone", "Mars/Olympus", /"Mars\/Olympus".*Europe\/London/],
    ["empty zone", "", /no time zone.*Europe\/London/],
    ["null zone", null, /no time zone.*Europe\/London/],
    ["undefined zone", undefined, /no time zone.*Europe\/London/],
  ])("%s → default zone with a warning", (_name, zone, warning) => {
    const r = plan("2026-01-15T12:00:00Z", zone, 1, "09:00");
    expect(r.at.toISOString()).toBe("2026-01-16T09:00:00.000Z");
    expect(r.zone).toBe("Europe/London");
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(warning);
  });
});

describe("isValidTimeZone / resolveZone", () => {
  it.each([
    ["America/New_York", true],
    ["Australia/Lord_Howe", true],
    ["UTC", true],
    ["Mars/Olympus", false],
    ["", false],
    ["+05:00", false],
  ])("isValidTimeZone(%j) = %s", (tz, ok) => {
    expect(isValidTimeZone(tz)).toBe(ok);
  });

  it.each([
    ["Asia/Kolkata", "Asia/Kolkata", false],
    ["Mars/Olympus", "UTC", true],
    ["", "UTC", true],
    [null, "UTC", true],
  ])("resolveZone(%j) → %s (warning: %s)", (tz, zone, warns) => {
    const r = resolveZone(tz, "UTC");
    expect(r.zone).toBe(zone);
    expect(r.warning !== undefined).toBe(warns);
  });
});

describe("formatLocal", () => {
  it.each([
    ["2026-03-09T13:00:00Z", "America/New_York", "2026-03-09T09:00:00-04:00"],
    ["2026-01-15T14:00:00Z", "America/New_York", "2026-01-15T09:00:00-05:00"],
    ["2026-11-01T05:30:00Z", "America/New_York", "2026-11-01T01:30:00-04:00"],
    ["2026-11-01T06:30:00Z", "America/New_York", "2026-11-01T01:30:00-05:00"],
    ["2026-07-01T12:00:00Z", "Europe/London", "2026-07-01T13:00:00+01:00"],
    ["2026-01-15T03:30:00Z", "Asia/Kolkata", "2026-01-15T09:00:00+05:30"],
    ["2026-07-15T00:00:00Z", "Pacific/Chatham", "2026-07-15T12:45:00+12:45"],
    ["2026-01-15T00:00:00Z", "Pacific/Chatham", "2026-01-15T13:45:00+13:45"],
    ["2026-10-03T15:30:00Z", "Australia/Lord_Howe", "2026-10-04T02:30:00+11:00"],
    ["2026-04-04T15:15:00Z", "Australia/Lord_Howe", "2026-04-05T01:45:00+10:30"],
    ["2026-01-15T12:00:00.999Z", "UTC", "2026-01-15T12:00:00+00:00"],
  ])("formatLocal(%s, %s) = %s", (at, zone, expected) => {
    expect(formatLocal(new Date(at), zone)).toBe(expected);
  });
});

describe("parseLocalTime", () => {
  it.each([
    ["00:00", { hour: 0, minute: 0 }],
    ["09:05", { hour: 9, minute: 5 }],
    ["23:59", { hour: 23, minute: 59 }],
    ["24:00", null],
    ["12:60", null],
    ["9:5", null],
    ["9:05", null],
    ["ab:cd", null],
    ["", null],
    ["09:05:00", null],
    [" 09:05", null],
  ])("parseLocalTime(%j)", (s, expected) => {
    expect(parseLocalTime(s)).toEqual(expected);
  });
});

describe("nextWindowInstant", () => {
  it.each([
    ["inside → same instant", "2026-01-15T15:00:00.250Z", "America/New_York", win(WEEKDAYS), "2026-01-15T15:00:00.250Z"],
    ["exactly at window start → same instant", "2026-01-15T13:00:00Z", "America/New_York", win(WEEKDAYS), "2026-01-15T13:00:00.000Z"],
    ["03:00 local → same-day window start", "2026-01-15T08:00:00Z", "America/New_York", win(WEEKDAYS), "2026-01-15T13:00:00.000Z"],
    ["after end (Wed 21:00) → Thu start", "2026-01-15T02:00:00Z", "America/New_York", win(WEEKDAYS), "2026-01-15T13:00:00.000Z"],
    ["exactly at end (exclusive) → next day", "2026-01-16T01:00:00Z", "America/New_York", win(WEEKDAYS), "2026-01-16T13:00:00.000Z"],
    ["after end on Friday → Monday", "2026-01-17T01:30:00Z", "America/New_York", win(WEEKDAYS), "2026-01-19T13:00:00.000Z"],
    ["Saturday inside hours → Monday", "2026-01-17T15:00:00Z", "America/New_York", win(WEEKDAYS), "2026-01-19T13:00:00.000Z"],
    ["window start in the gap → gap end", "2026-03-08T06:00:00Z", "America/New_York", win(ALL, "02:30", "06:00"), "2026-03-08T07:00:00.000Z"],
    ["Lord Howe after end → next day start (+11:00)", "2026-10-04T08:00:00Z", "Australia/Lord_Howe", win(ALL, "09:00", "17:00"), "2026-10-04T22:00:00.000Z"],
    ["Kolkata before start", "2026-01-15T00:00:00Z", "Asia/Kolkata", win(ALL), "2026-01-15T02:30:00.000Z"],
  ])("%s", (_name, after, zone, window, expected) => {
    expect(nextWindowInstant(new Date(after), zone, window).toISOString()).toBe(expected);
  });

  it("throws when the window allows no weekdays", () => {
    expect(() => nextWindowInstant(new Date("2026-01-15T12:00:00Z"), "UTC", win([]))).toThrow(/no weekdays/);
  });
});
