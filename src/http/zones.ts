/**
 * The time-zone field of the signup and preferences pages: the zones under their canonical
 * IANA names, grouped by region, each labelled with its offset at the page's clock
 * ("(UTC+05:30) Kolkata"), and a small script that selects the browser's own zone.
 */
import { createHash } from "node:crypto";
import { Temporal } from "temporal-polyfill";
import { canonicalTimeZone, isValidTimeZone } from "../schedule/index.ts";
import { Html, esc } from "./html.ts";

/**
 * The zones offered: every zone this runtime lists (Node 20's ICU lists CLDR's spellings, such
 * as Asia/Calcutta, and leaves out UTC) under its canonical name (Asia/Kolkata), plus UTC,
 * sorted. Only the choices: the fields accept every valid zone (see the subscriber schema).
 */
export const ZONE_CHOICES: readonly string[] = [...new Set([...Intl.supportedValuesOf("timeZone"), "UTC"].map((z) => canonicalTimeZone(z) ?? z))].sort();
const LISTED = new Set(ZONE_CHOICES);

/** The first part of a zone name, as a reader would say it. */
const REGIONS: ReadonlyMap<string, string> = new Map([
  ["Africa", "Africa"],
  ["America", "Americas"],
  ["Antarctica", "Antarctica"],
  ["Arctic", "Arctic"],
  ["Asia", "Asia"],
  ["Atlantic", "Atlantic Ocean"],
  ["Australia", "Australia"],
  ["Europe", "Europe"],
  ["Indian", "Indian Ocean"],
  ["Pacific", "Pacific Ocean"],
]);

const words = (s: string) => s.replace(/_/g, " ");

/** "Kolkata", "Buenos Aires, Argentina", "Center, North Dakota"; UTC and Etc zones as they are. */
function placeName(zone: string): string {
  if (zone === "UTC") return "Coordinated Universal Time";
  const parts = zone.split("/");
  if (parts[0] === "Etc" || parts.length < 2) return zone;
  return parts.length > 2 ? `${words(parts.at(-1)!)}, ${words(parts.slice(1, -1).join(" "))}` : words(parts[1]!);
}

/** The UTC offset of `zone` at `now`: "+05:30", "−04:00" (a real minus sign, read as "minus"). */
function offsetAt(zone: string, now: Date): string {
  const offset = Temporal.Instant.fromEpochMilliseconds(now.getTime()).toZonedDateTimeISO(zone).offset;
  return offset.replace(/^-/, "−");
}

function offsetMinutes(zone: string, now: Date): number {
  return Temporal.Instant.fromEpochMilliseconds(now.getTime()).toZonedDateTimeISO(zone).offsetNanoseconds / 60e9;
}

/** "(UTC+05:30) Kolkata": the offset at `now` (the page's clock), then the place. */
export function zoneLabel(zone: string, now: Date): string {
  return `(UTC${offsetAt(zone, now)}) ${placeName(zone)}`;
}

/**
 * Offsets change only at transitions, and today's transitions fall on quarter hours (UTC),
 * so the options are built once per quarter hour of the page's clock (about 420 zones:
 * tens of milliseconds), not on every page view.
 */
const QUARTER_HOUR = 15 * 60_000;
let built: { quarter: number; options: string } | null = null;

function zoneOptions(now: Date): string {
  const quarter = Math.floor(now.getTime() / QUARTER_HOUR);
  if (built?.quarter === quarter) return built.options;
  const at = new Date(quarter * QUARTER_HOUR);
  const option = (z: string) => `<option value="${esc(z)}">${esc(zoneLabel(z, at))}</option>`;
  const byOffset = (a: string, b: string) => offsetMinutes(a, at) - offsetMinutes(b, at) || placeName(a).localeCompare(placeName(b), "en");
  const groups = [...REGIONS].map(([prefix, label]) => {
    const zones = ZONE_CHOICES.filter((z) => z.startsWith(`${prefix}/`)).sort(byOffset);
    return zones.length ? `<optgroup label="${esc(label)}">${zones.map(option).join("")}</optgroup>` : "";
  });
  const others = ZONE_CHOICES.filter((z) => !REGIONS.has(z.split("/")[0]!)); // UTC (and any zone outside the regions)
  built = { quarter, options: others.map(option).join("") + groups.join("") };
  return built.options;
}

/**
 * The time-zone <select> (id and name "timezone") with `selected` chosen, always: a stored
 * legacy spelling selects its canonical option (Asia/Calcutta → Asia/Kolkata), a valid zone
 * missing from the list comes first, and "" (no zone yet) is an option of its own, so that a
 * form saved without touching the field posts back the current zone (a select with nothing
 * selected would post its first option).
 */
export function zoneSelect(selected: string, now: Date, noZoneLabel = "Not set: the course's own time zone"): Html {
  const canonical = selected === "" ? null : canonicalTimeZone(selected);
  const listed = canonical !== null && LISTED.has(canonical);
  const own =
    selected === ""
      ? `<option value="" selected>${esc(noZoneLabel)}</option>`
      : !listed && isValidTimeZone(selected)
        ? `<option value="${esc(selected)}" selected>${esc(zoneLabel(selected, now))}</option>`
        : "";
  const options = listed ? zoneOptions(now).replace(`<option value="${esc(canonical)}">`, `<option value="${esc(canonical)}" selected>`) : zoneOptions(now);
  return new Html(`<select id="timezone" name="timezone">${own}${options}</select>`);
}

/**
 * Which option the browser's zone selects: the option of that name, or else the option that
 * the browser's own Intl (`canon`) resolves to the same zone. So a browser that reports
 * Asia/Calcutta (CLDR's spelling, Node 20 and some Chromium builds) finds Asia/Kolkata, and
 * one that reports Asia/Kolkata finds it directly. null: no option (Etc/GMT+5, or nothing).
 *
 * It runs in the browser too: TZ_SCRIPT carries its source text, so it is plain JavaScript
 * once types are stripped, with no inner functions (nothing a transform would wrap in a
 * helper the page lacks, such as esbuild's __name).
 */
export function matchZone(reported: string, options: readonly string[], canon: (zone: string) => string | null): string | null {
  if (!reported) return null;
  if (options.indexOf(reported) >= 0) return reported;
  const want = canon(reported);
  if (!want) return null;
  for (let i = 0; i < options.length; i++) {
    if (options[i] && canon(options[i]!) === want) return options[i]!;
  }
  return null;
}

/**
 * Selects the browser's zone when JavaScript runs (matchZone, with the browser's own Intl),
 * adding it first when the list has no option for it (a browser may say Etc/GMT+5); the page
 * works without it. The CSP allows exactly this script by its hash, computed from the text.
 */
export const TZ_SCRIPT = `(function(){try{var s=document.getElementById("timezone");var z=Intl.DateTimeFormat().resolvedOptions().timeZone;if(!s||!z)return;var v=[];for(var i=0;i<s.options.length;i++)v.push(s.options[i].value);var m=(${matchZone.toString()})(z,v,function(x){try{return new Intl.DateTimeFormat("en-US",{timeZone:x}).resolvedOptions().timeZone}catch(e){return null}});if(m===null){s.add(new Option(z,z),0);m=z}s.value=m}catch(e){}})();`;
export const TZ_SCRIPT_HASH = `sha256-${createHash("sha256").update(TZ_SCRIPT).digest("base64")}`;
