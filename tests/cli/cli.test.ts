/**
 * The staff CLI, run in-process: exact --json shapes, the simulate timeline worked out by
 * hand (day N counts calendar days in the subscriber's zone, 09:00 local; New York springs
 * forward on Sunday 2026-03-08), preview, and the 0/1/2 exit codes.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.ts";
import { drip } from "../helpers/cli.ts";

const START = "2026-03-06T15:00:00Z"; // Friday 10:00 in New York (EST, -05:00)

describe("drip list", () => {
  it("--json prints [{id, name, steps: [{id, schedule, subject}]}] in step order", async () => {
    const run = await drip(["list", "--json"]);
    expect(run.code).toBe(0);
    expect(run.err).toBe("");
    expect(JSON.parse(run.out)).toEqual([
      {
        id: "hip-pain-course",
        name: "Outer hip and leg pain that isn't your IT band",
        steps: [
          { id: "article", schedule: "immediately", subject: "Outer leg pain? It may start in your hip" },
          { id: "self-release", schedule: "day 2 at 09:00", subject: "Swap the foam roller for a lacrosse ball" },
          { id: "dynamic-release", schedule: "day 4 at 09:00", subject: "When holding still isn't enough: the knee-to-chest variation" },
          { id: "book", schedule: "day 6 at 09:00", subject: "Want us to find those trigger points for you?" },
          { id: "keep-it-away", schedule: "day 9 at 09:00", subject: "Keeping outer hip pain away: a short recap" },
          { id: "last-call", schedule: "day 14 at 09:00", subject: "One last note from Body Heal Therapy" },
        ],
      },
      {
        id: "post-booking",
        name: "After booking a session",
        steps: [
          { id: "thanks", schedule: "immediately", subject: "Thanks for booking with Body Heal Therapy" },
          { id: "follow-up", schedule: "day 7 at 09:00", subject: "How is your hip doing?" },
        ],
      },
    ]);
  });

  it("without --json prints one line per step", async () => {
    const run = await drip(["list"]);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^hip-pain-course {2}Outer hip and leg pain/m);
    expect(run.out).toMatch(/^ {2}last-call +day 14 at 09:00 {2}One last note from Body Heal Therapy$/m);
  });
});

const SUBJECTS = {
  article: "Outer leg pain? It may start in your hip",
  "self-release": "Swap the foam roller for a lacrosse ball",
  "dynamic-release": "When holding still isn't enough: the knee-to-chest variation",
  book: "Want us to find those trigger points for you?",
  "keep-it-away": "Keeping outer hip pain away: a short recap",
  "last-call": "One last note from Body Heal Therapy",
};

/** New York: day 0 is Fri 6 March (EST); from Sun 8 March 09:00 is EDT (-04:00 = 13:00Z). */
const NEW_YORK = [
  { step: "article", at: "2026-03-06T15:00:00.000Z", local: "2026-03-06T10:00:00-05:00" },
  { step: "self-release", at: "2026-03-08T13:00:00.000Z", local: "2026-03-08T09:00:00-04:00" },
  { step: "dynamic-release", at: "2026-03-10T13:00:00.000Z", local: "2026-03-10T09:00:00-04:00" },
  { step: "book", at: "2026-03-12T13:00:00.000Z", local: "2026-03-12T09:00:00-04:00" },
  { step: "keep-it-away", at: "2026-03-15T13:00:00.000Z", local: "2026-03-15T09:00:00-04:00" },
  { step: "last-call", at: "2026-03-20T13:00:00.000Z", local: "2026-03-20T09:00:00-04:00" },
] as const;

describe("drip simulate", () => {
  it("--json: the New York timeline across the spring-forward change", async () => {
    const run = await drip(["simulate", "hip-pain-course", "--start", START, "--tz", "America/New_York", "--json"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toEqual(NEW_YORK.map((e) => ({ ...e, subject: SUBJECTS[e.step], skipped: null })));
  });

  it("--tag booked skips the booking steps with a reason, at the same times", async () => {
    const run = await drip(["simulate", "hip-pain-course", "--start", START, "--tz", "America/New_York", "--tag", "booked", "--json"]);
    expect(run.code).toBe(0);
    const booked = new Set(["book", "last-call"]);
    expect(JSON.parse(run.out)).toEqual(
      NEW_YORK.map((e) => ({ ...e, subject: SUBJECTS[e.step], skipped: booked.has(e.step) ? 'subscriber has tag "booked"' : null })),
    );
  });

  it("a start just before local midnight counts days from the local date, not the UTC one", async () => {
    // 23:30 on Sat 7 March in New York is already Sunday 8 March in UTC.
    const run = await drip(["simulate", "hip-pain-course", "--start", "2026-03-08T04:30:00Z", "--tz", "America/New_York", "--json"]);
    const entries = JSON.parse(run.out) as { step: string; local: string }[];
    expect(entries.slice(0, 2)).toMatchObject([
      { step: "article", local: "2026-03-07T23:30:00-05:00" },
      { step: "self-release", local: "2026-03-09T09:00:00-04:00" },
    ]);
  });

  it("an invalid zone falls back to the sequence default (Europe/London) with a warning", async () => {
    const run = await drip(["simulate", "hip-pain-course", "--start", START, "--tz", "Mars/Olympus_Mons", "--json"]);
    expect(run.code).toBe(0);
    expect(run.err).toContain('warning: Unknown time zone "Mars/Olympus_Mons"; using the sequence default Europe/London.');
    const entries = JSON.parse(run.out) as { step: string; at: string; local: string }[];
    expect(entries.map((e) => [e.step, e.at, e.local])).toEqual([
      ["article", "2026-03-06T15:00:00.000Z", "2026-03-06T15:00:00+00:00"],
      ["self-release", "2026-03-08T09:00:00.000Z", "2026-03-08T09:00:00+00:00"],
      ["dynamic-release", "2026-03-10T09:00:00.000Z", "2026-03-10T09:00:00+00:00"],
      ["book", "2026-03-12T09:00:00.000Z", "2026-03-12T09:00:00+00:00"],
      ["keep-it-away", "2026-03-15T09:00:00.000Z", "2026-03-15T09:00:00+00:00"],
      ["last-call", "2026-03-20T09:00:00.000Z", "2026-03-20T09:00:00+00:00"],
    ]);
  });

  it("the table names the zone it fell back to and shows skip reasons", async () => {
    const run = await drip(["simulate", "hip-pain-course", "--start", START, "--tz", "", "--tag", "booked"]);
    expect(run.code).toBe(0);
    expect(run.err).toContain("using the sequence default Europe/London");
    expect(run.err).toContain("(times below are in Europe/London)");
    expect(run.out).toMatch(/^book +2026-03-12T09:00:00\+00:00 {2}2026-03-12T09:00:00\.000Z {2}skipped: subscriber has tag "booked"$/m);
  });

  it.each([["2026-03-06T15:00:00"], ["next friday"], ["2026-02-30T09:00:00Z"]])("--start %j is a usage error (exit 2)", async (start) => {
    const run = await drip(["simulate", "hip-pain-course", "--start", start, "--tz", "America/New_York"]);
    expect(run.code).toBe(2);
    expect(run.out).toBe("");
    expect(run.err).toContain("is not an ISO 8601 instant");
  });

  it("a missing --start or --tz is a usage error", async () => {
    expect((await drip(["simulate", "hip-pain-course", "--tz", "UTC"])).code).toBe(2);
    expect((await drip(["simulate", "hip-pain-course", "--start", START])).code).toBe(2);
  });

  it("an unknown sequence is a usage error", async () => {
    const run = await drip(["simulate", "no-such-course", "--start", START, "--tz", "UTC"]);
    expect(run.code).toBe(2);
    expect(run.err).toContain('no sequence "no-such-course": known sequences are hip-pain-course');
  });
});

describe("drip preview", () => {
  const env = { DRIP_PUBLIC_URL: "https://drip.clinic.example", DRIP_POSTAL_ADDRESS: "9 Preview Road, Testville, TE5 7ST" };

  it("--format text prints the subject, preview and text part with the unsubscribe URL", async () => {
    const run = await drip(["preview", "hip-pain-course", "article", "--format", "text"], env);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^Subject: Outer leg pain\? It may start in your hip\nPreview: Sam, here is the muscle/);
    expect(run.out).toContain("https://drip.clinic.example/unsubscribe/preview-token.0000");
    expect(run.out).toContain("9 Preview Road, Testville, TE5 7ST");
    expect(run.out).not.toMatch(/<(?!https:\/\/)/); // no markup: only link brackets
  });

  it("--format html (the default) prints the HTML document; --subscriber sets the fields", async () => {
    const run = await drip(["preview", "hip-pain-course", "article", "--subscriber", '{"name":"Ana <b>"}'], env);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^<!DOCTYPE html/i);
    expect(run.out).toContain('href="https://drip.clinic.example/unsubscribe/preview-token.0000"');
    expect(run.out).toContain("Ana &lt;b&gt;");
    expect(run.out).not.toContain("Ana <b>");
  });

  it("renders the MJML step too", async () => {
    const run = await drip(["preview", "hip-pain-course", "keep-it-away", "--format", "text"], env);
    expect(run.code).toBe(0);
    expect(run.out).toContain("Subject: Keeping outer hip pain away: a short recap");
    expect(run.out).toContain("https://drip.clinic.example/unsubscribe/preview-token.0000");
  });

  it.each([
    [["preview", "no-such-course", "article"], 'no sequence "no-such-course"'],
    [["preview", "hip-pain-course", "no-such-step"], 'sequence "hip-pain-course" has no step "no-such-step": its steps are article, self-release'],
    [["preview", "hip-pain-course", "article", "--format", "pdf"], '--format must be html or text, not "pdf"'],
    [["preview", "hip-pain-course", "article", "--subscriber", "{nope"], "--subscriber is not valid JSON"],
    [["preview", "hip-pain-course", "article", "--subscriber", '{"company":"x"}'], "--subscriber:"],
    [["preview", "hip-pain-course"], "missing required argument 'step'"],
  ])("%j is a usage error (exit 2)", async (argv, message) => {
    const run = await drip(argv, env);
    expect(run.code).toBe(2);
    expect(run.out).toBe("");
    expect(run.err).toContain(message);
  });

  it("an invalid configuration fails the work (exit 1) naming the variable", async () => {
    const run = await drip(["preview", "hip-pain-course", "article"], { DRIP_PUBLIC_URL: "http://clinic.example" });
    expect(run.code).toBe(1);
    expect(run.err).toContain("DRIP_PUBLIC_URL must use https");
  });
});

const quietIO = { out: () => {}, err: () => {}, env: {}, cwd: ".", now: () => new Date(0), isTTY: false };
const program = await buildProgram(quietIO);

describe("usage and help", () => {
  it("an unknown command exits 2", async () => {
    const run = await drip(["frobnicate"]);
    expect(run.code).toBe(2);
    expect(run.err).toContain("unknown command 'frobnicate'");
  });

  it("an unknown option exits 2", async () => {
    const run = await drip(["list", "--frobnicate"]);
    expect(run.code).toBe(2);
    expect(run.err).toContain("unknown option '--frobnicate'");
  });

  it("drip --version and -V print package.json's version", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ["--version", "-V"]) {
      const run = await drip([flag]);
      expect(run.code).toBe(0);
      expect(run.out).toBe(`${version}\n`);
    }
  });

  it("drip --help lists the staff commands", async () => {
    const run = await drip(["--help"]);
    expect(run.code).toBe(0);
    for (const name of ["list", "validate", "preview", "simulate"]) expect(run.out).toMatch(new RegExp(`^ {2}${name} `, "m"));
  });

  const commands = program.commands.filter((c) => c.name() !== "help").map((c) => [c.name(), c.description()] as const);

  it("every command has a description", () => {
    expect(commands.map(([name]) => name)).toEqual(expect.arrayContaining(["list", "validate", "preview", "simulate"]));
    for (const [name, description] of commands) expect(description, name).not.toBe("");
  });

  it.each(commands)("drip %s: the lazy command table loads the module that registers it", async (name) => {
    const only = await buildProgram(quietIO, [name, "--help"]);
    expect(only.commands.map((c) => c.name())).toContain(name);
  });

  it.each(commands)("drip %s --help exits 0 with its description", async (name, description) => {
    const run = await drip([name, "--help"]);
    expect(run.code).toBe(0);
    expect(run.err).toBe("");
    expect(run.out).toContain(`Usage: drip ${name}`);
    // Commander wraps long descriptions; compare with whitespace folded.
    expect(run.out.replace(/\s+/g, " ")).toContain(description.replace(/\s+/g, " "));
  });
});
