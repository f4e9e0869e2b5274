/**
 * The time-zone picker on the signup and preferences pages: canonical names grouped by region,
 * labels with the offset at the page's clock, and the browser's zone pre-selected whichever
 * spelling the browser reports (Asia/Kolkata or Asia/Calcutta, Europe/Kyiv or Europe/Kiev).
 */
import { runInNewContext } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ZONE_CHOICES, matchZone, zoneLabel } from "../../src/http/zones.ts";
import { canonicalTimeZone } from "../../src/schedule/index.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { LEGACY_ZONES } from "../support/zones.ts";
import { type Harness, activeReader, harness, pageText } from "./harness.ts";
import { FakeOption, fakeSelect } from "../support/fake-select.ts";

/** A browser whose Intl speaks CLDR's names (Node 20, Debian's Chromium): Asia/Calcutta. */
const cldrCanon = (zone: string): string | null => {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
};
/** A browser whose Intl speaks current IANA names (Firefox, recent Chrome): Asia/Kolkata. */
const ianaCanon = canonicalTimeZone;

describe("matchZone (which option the browser's zone selects)", () => {
  it("selects Asia/Kolkata and Europe/Kyiv whichever spelling the browser reports", () => {
    for (const canon of [cldrCanon, ianaCanon]) {
      expect(matchZone("Asia/Kolkata", ZONE_CHOICES, canon)).toBe("Asia/Kolkata");
      expect(matchZone("Asia/Calcutta", ZONE_CHOICES, canon)).toBe("Asia/Kolkata");
      expect(matchZone("Europe/Kyiv", ZONE_CHOICES, canon)).toBe("Europe/Kyiv");
      expect(matchZone("Europe/Kiev", ZONE_CHOICES, canon)).toBe("Europe/Kyiv");
    }
  });

  it("finds the option for every zone the runtime lists and every legacy spelling, in either kind of browser", () => {
    // Each browser's Intl answers the same for the same zone: asked once per zone (a new
    // Intl.DateTimeFormat per question made this test seconds long; matchZone asks per option).
    const remembered = (canon: (zone: string) => string | null) => {
      const seen = new Map<string, string | null>();
      return (zone: string) => {
        if (!seen.has(zone)) seen.set(zone, canon(zone));
        return seen.get(zone)!;
      };
    };
    const browsers = [
      { name: "CLDR", canon: remembered(cldrCanon) },
      { name: "IANA", canon: remembered(ianaCanon) },
    ];
    for (const zone of [...Intl.supportedValuesOf("timeZone"), ...LEGACY_ZONES]) {
      const want = canonicalTimeZone(zone);
      expect(ZONE_CHOICES, zone).toContain(want);
      for (const { name, canon } of browsers) {
        // A browser reports its zone through its own Intl, so already in its own spelling.
        expect(matchZone(canon(zone)!, ZONE_CHOICES, canon), `${zone} (${name})`).toBe(want);
      }
    }
  });

  it("finds nothing for a zone the list lacks (Etc/GMT+5) or for nothing at all", () => {
    expect(matchZone("Etc/GMT+5", ZONE_CHOICES, cldrCanon)).toBeNull();
    expect(matchZone("", ZONE_CHOICES, cldrCanon)).toBeNull();
    expect(matchZone("Mars/Olympus_Mons", ZONE_CHOICES, cldrCanon)).toBeNull();
  });
});

describe("the zone choices", () => {
  it("are canonical names, once each, with UTC", () => {
    for (const zone of ZONE_CHOICES) expect(canonicalTimeZone(zone), zone).toBe(zone);
    expect(new Set(ZONE_CHOICES).size).toBe(ZONE_CHOICES.length);
    expect(ZONE_CHOICES).toEqual(expect.arrayContaining(["UTC", "Asia/Kolkata", "Europe/Kyiv", "America/New_York"]));
    expect(ZONE_CHOICES).not.toEqual(expect.arrayContaining(["Asia/Calcutta"]));
    expect(ZONE_CHOICES).not.toEqual(expect.arrayContaining(["Europe/Kiev"]));
  });

  it.each([
    ["Asia/Kolkata", "2026-01-15T12:00:00Z", "(UTC+05:30) Kolkata"],
    ["Europe/London", "2026-01-15T12:00:00Z", "(UTC+00:00) London"],
    ["Europe/London", "2026-07-15T12:00:00Z", "(UTC+01:00) London"],
    ["America/New_York", "2026-07-15T12:00:00Z", "(UTC−04:00) New York"],
    ["America/Argentina/Buenos_Aires", "2026-07-15T12:00:00Z", "(UTC−03:00) Buenos Aires, Argentina"],
    ["Australia/Sydney", "2026-01-15T12:00:00Z", "(UTC+11:00) Sydney"],
    ["Asia/Kathmandu", "2026-01-15T12:00:00Z", "(UTC+05:45) Kathmandu"],
  ])("labels %s at %s as %s", (zone, at, label) => {
    expect(zoneLabel(zone, new Date(at))).toBe(label);
  });
});

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.close();
  cleanupTempDirs();
});

const selectOf = (page: string) => /<select id="timezone" name="timezone">([\s\S]*?)<\/select>/.exec(page)![1]!;
const optionLabel = (select: string, zone: string) => new RegExp(`<option value="${zone}"(?: selected)?>([^<]*)</option>`).exec(select)?.[1];

describe("the signup page's time-zone field", () => {
  it("groups the zones by region, with readable labels", async () => {
    const select = selectOf(await pageText(await h.req("/")));
    const groups = [...select.matchAll(/<optgroup label="([^"]+)">/g)].map((m) => m[1]);
    expect(groups).toEqual(["Africa", "Americas", "Antarctica", "Arctic", "Asia", "Atlantic Ocean", "Australia", "Europe", "Indian Ocean", "Pacific Ocean"]);
    const kolkata = /<optgroup label="Asia">([\s\S]*?)<\/optgroup>/.exec(select)![1]!;
    expect(optionLabel(kolkata, "Asia/Kolkata")).toBe("(UTC+05:30) Kolkata");
    expect(select).not.toContain('value="Asia/Calcutta"');
    expect(select.match(/<option /g)).toHaveLength(ZONE_CHOICES.length);
  });

  it("shows each zone's offset at the page's clock: London +01:00 in summer, +00:00 in winter", async () => {
    h.setNow(new Date("2026-07-01T10:00:00Z"));
    const summer = selectOf(await pageText(await h.req("/")));
    expect(optionLabel(summer, "Europe/London")).toBe("(UTC+01:00) London");
    expect(optionLabel(summer, "America/New_York")).toBe("(UTC−04:00) New York");
    expect(optionLabel(summer, "Australia/Sydney")).toBe("(UTC+10:00) Sydney");
    h.setNow(new Date("2026-12-01T10:00:00Z"));
    const winter = selectOf(await pageText(await h.req("/")));
    expect(optionLabel(winter, "Europe/London")).toBe("(UTC+00:00) London");
    expect(optionLabel(winter, "America/New_York")).toBe("(UTC−05:00) New York");
    expect(optionLabel(winter, "Australia/Sydney")).toBe("(UTC+11:00) Sydney");
  });

  it("stores a legacy zone posted by the form under its canonical name", async () => {
    const page = await (await h.req("/")).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const res = await h.req("/subscribe", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email: "kyiv@example.com", name: "", timezone: "Europe/Kiev", csrf }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await h.app.store.findSubscriberByEmail("kyiv@example.com")).toMatchObject({ timezone: "Europe/Kyiv" });
  });

  it("pre-selects the browser's zone through the page's own script, whichever spelling the browser reports", async () => {
    const page = await (await h.req("/")).text();
    const script = /<script>([\s\S]*?)<\/script>/.exec(page)![1]!;
    const values = [...selectOf(page).matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]!);
    for (const [reported, want] of [
      ["Asia/Kolkata", "Asia/Kolkata"],
      ["Asia/Calcutta", "Asia/Kolkata"],
      ["Europe/Kyiv", "Europe/Kyiv"],
      ["Europe/Kiev", "Europe/Kyiv"],
      ["America/New_York", "America/New_York"],
      ["UTC", "UTC"],
    ]) {
      for (const canon of [cldrCanon, ianaCanon]) {
        const select = fakeSelect(values, "Europe/London");
        runInNewContext(script, fakeBrowser(select, reported!, canon));
        expect(select.value, reported).toBe(want);
        expect(select.options).toHaveLength(values.length); // found, not added
      }
    }
  });
});

describe("the preferences page's time-zone field", () => {
  it("uses the same grouped list, with offsets at the page's clock, and selects the canonical option for a stored legacy zone", async () => {
    const reader = await activeReader(h, "ann@example.com");
    await h.app.store.updateSubscriber(reader.id, { timezone: "Asia/Calcutta" });
    const prefs = /href="([^"]*\/preferences\/[^"]+)"/.exec(String(reader.article.html))![1]!.replace(/&amp;/g, "&");
    h.setNow(new Date("2026-07-01T10:00:00Z"));
    const select = selectOf(await pageText(await h.req(prefs)));
    expect(select).toContain('<optgroup label="Asia">');
    expect(select).toContain('<option value="Asia/Kolkata" selected>(UTC+05:30) Kolkata</option>');
    expect(optionLabel(select, "Europe/London")).toBe("(UTC+01:00) London");
  });
});

/** Just enough of a browser for the page's script: a select, Option, and an Intl that canonicalises as `canon` does. */
function fakeBrowser(select: ReturnType<typeof fakeSelect>, reported: string, canon: (zone: string) => string | null) {
  function DateTimeFormat(_locale?: string, opts?: { timeZone?: string }) {
    const zone = opts?.timeZone === undefined ? reported : canon(opts.timeZone);
    if (zone === null) throw new RangeError(`Invalid time zone specified: ${opts?.timeZone}`);
    return { resolvedOptions: () => ({ timeZone: zone }) };
  }
  return { document: { getElementById: (id: string) => (id === "timezone" ? select : null) }, Option: FakeOption, Intl: { DateTimeFormat } };
}
