/**
 * `drip validate` rejects every broken sequence fixture with its file, the path inside the
 * definition and a sentence saying what is wrong; the real sequences validate.
 * Each fixture breaks exactly one thing of a base that validates (fixtures/sequences/valid.ts),
 * so each must produce exactly one issue.
 */
import { describe, expect, it } from "vitest";
import { day, defineSequence, immediately } from "../../src/sequences/define.ts";
import { SequenceError } from "../../src/sequences/errors.ts";
import { drip } from "../helpers/cli.ts";
import { Tiny, validSequence, validSteps } from "../fixtures/sequences/_base.ts";

const FIXTURES = "tests/fixtures/sequences";

const broken: { file: string; path: string; phrase: string }[] = [
  { file: "duplicate-step-ids.ts", path: "steps[2].id", phrase: 'step id "tips" is already used by steps[1]' },
  { file: "missing-mjml-template.ts", path: "steps[1].template", phrase: "nope.mjml: the MJML template file does not exist" },
  { file: "negative-day.ts", path: "steps[1].schedule.day", phrase: "day must be 0 or more" },
  { file: "fractional-day.ts", path: "steps[2].schedule.day", phrase: "day must be a whole number of days" },
  { file: "day-as-string.ts", path: "steps[1].schedule.day", phrase: "day must be a number" },
  { file: "invalid-time.ts", path: "steps[3].schedule.at", phrase: '"25:00" is not a valid 24-hour time' },
  { file: "invalid-time-zone.ts", path: "defaultTimezone", phrase: '"Europe/Atlantis" is not an IANA time zone' },
  { file: "outside-send-window.ts", path: "steps[3].schedule.at", phrase: "21:30 is outside the send window 08:00–20:00" },
  { file: "steps-out-of-order.ts", path: "steps[2].schedule", phrase: 'step "invite" is scheduled before the step above it' },
  { file: "empty-subject.ts", path: "steps[1].subject", phrase: "subject must not be empty" },
  { file: "subject-too-long.ts", path: "steps[2].subject", phrase: "the subject is 151 characters long" },
  { file: "no-unsubscribe-link.ts", path: "steps[0].template", phrase: "no unsubscribe link" },
  { file: "no-postal-address.ts", path: "steps[1].template", phrase: "does not show the postal address" },
  { file: "http-link.ts", path: "steps[2].template", phrase: 'link "http://clinic.example.com/blog/gluteus-minimus" is not https' },
  { file: "image-without-alt.ts", path: "steps[1].template", phrase: "an image has no alt text" },
  { file: "relative-image.ts", path: "steps[1].template", phrase: 'image source "/images/outer-hip-pain.png" is not an absolute https URL' },
  { file: "image-on-drip.ts", path: "steps[1].template", phrase: "is on drip's own address, which serves no images" },
  { file: "image-without-size.ts", path: "steps[1].template", phrase: "an image has no width and height attributes" },
  { file: "empty-weekdays.ts", path: "sendWindow.weekdays", phrase: "the send window needs at least one weekday" },
];

describe("drip validate: broken sequence fixtures", () => {
  it("the base the fixtures break validates", async () => {
    const run = await drip(["validate", `${FIXTURES}/valid.ts`]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain(`ok  ${FIXTURES}/valid.ts  fixture-valid (4 steps)`);
  }, 120_000); // a whole validate run with the TypeScript type check: ~10 s quiet, past 30 s at load 25

  // The type check (seconds each) is covered by validate-types.test.ts and by the one-run test below.
  it.each(broken)("$file → $path", async ({ file, path, phrase }) => {
    const shown = `${FIXTURES}/${file}`;
    const run = await drip(["validate", "--no-typecheck", shown]);
    expect(run.code).toBe(1);
    expect(run.out).toBe("");
    // One line per problem: "<file>: <path>: <message>".
    const line = run.err.split("\n").find((l) => l.includes(`${shown}: ${path}: `));
    expect(line, run.err).toBeDefined();
    expect(line).toContain(phrase);

    const json = await drip(["validate", "--no-typecheck", "--json", shown]);
    expect(json.code).toBe(1);
    expect(json.err).toBe("");
    const report = JSON.parse(json.out) as { ok: boolean; issues: { file: string; path: string; message: string }[] };
    expect(report.ok).toBe(false);
    expect(report.issues).toHaveLength(1);
    expect(report.issues[0]).toMatchObject({ file: shown, path });
    expect(report.issues[0]!.message).toContain(phrase);
  });

  it("reports every broken file in one run, and still accepts the good one", async () => {
    const files = [`${FIXTURES}/valid.ts`, ...broken.map((b) => `${FIXTURES}/${b.file}`)];
    const run = await drip(["validate", "--json", ...files]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.out) as { sequences: { id: string }[]; issues: { file: string; path: string }[] };
    // Files that load (their problem shows only once rendered) are listed; the rest are not.
    const renderChecked = [
      "missing-mjml-template",
      "subject-too-long",
      "no-unsubscribe-link",
      "no-postal-address",
      "http-link",
      "image-without-alt",
      "relative-image",
      "image-on-drip",
      "image-without-size",
    ];
    expect(report.sequences.map((s) => s.id).sort()).toEqual(["fixture-valid", ...renderChecked.map((f) => `fixture-${f}`)].sort());
    const key = (file: string, path: string) => `${file} ${path}`;
    expect(report.issues.map((i) => key(i.file, i.path)).sort()).toEqual(broken.map((b) => key(`${FIXTURES}/${b.file}`, b.path)).sort());
  });

  it("two files with the same sequence id: the second is named", async () => {
    const run = await drip(["validate", "sequences/hip-pain-course.ts", "./sequences/../sequences/hip-pain-course.ts"]);
    expect(run.code).toBe(1);
    expect(run.err).toContain('sequences/hip-pain-course.ts: id: sequence id "hip-pain-course" is already used by sequences/hip-pain-course.ts');
  });

  it("a file that does not export a sequence is named", async () => {
    const run = await drip(["validate", `${FIXTURES}/_base.ts`]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`${FIXTURES}/_base.ts: the file must \`export default defineSequence({...})\``);
  });
});

describe("drip validate: the real sequences", () => {
  it("validates every file in sequences/", async () => {
    const run = await drip(["validate"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^ok {2}sequences\/hip-pain-course\.ts {2}hip-pain-course \(6 steps\)$/m);
  });

  it("--json prints {ok, sequences, automations, forms, issues, warnings}", async () => {
    const run = await drip(["validate", "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toEqual({
      ok: true,
      sequences: [
        { file: "sequences/hip-pain-course.ts", id: "hip-pain-course", steps: 6 },
        { file: "sequences/post-booking.ts", id: "post-booking", steps: 2 },
      ],
      automations: [
        { id: "booked-starts-post-booking", source: "sequences/post-booking.ts: triggers[0]", on: 'tag "booked" added', do: ["enrolls in post-booking"] },
        { id: "course-finishers-join-weekly", source: "sequences/automations.ts: [0]", on: "sequence hip-pain-course completed", do: ["joins topic weekly"] },
      ],
      forms: [{ id: "hip-pain", sequence: "hip-pain-course", default: true }],
      newsletters: [{ file: "newsletters/two-ways-to-ease-outer-hip-pain.md", id: "two-ways-to-ease-outer-hip-pain", topic: "weekly" }],
      feeds: [{ id: "blog", topic: "weekly", cadence: "one issue per post", mode: "draft" }],
      issues: [],
      warnings: [],
    });
  });
});

describe("defineSequence", () => {
  it("returns the definition, frozen, with components and functions kept as they are", () => {
    const steps = validSteps();
    const seq = defineSequence(validSequence("direct", steps));
    expect(Object.isFrozen(seq)).toBe(true);
    expect(seq.__validated).toBe(true);
    expect(seq.steps[0]!.template).toBe(Tiny);
    expect(seq.steps).toBe(steps);
  });

  it("throws a SequenceError listing every problem with its path", () => {
    const steps = validSteps();
    steps[0] = { ...steps[0]!, id: "Not Kebab" };
    steps[2] = { ...steps[2]!, schedule: day(-3, "9am") };
    let error: unknown;
    try {
      defineSequence({ ...validSequence("many", steps), name: "" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SequenceError);
    const issues = (error as SequenceError).issues;
    expect(issues.map((i) => i.path).sort()).toEqual(["name", "steps[0].id", "steps[2].schedule.at", "steps[2].schedule.day"]);
    expect((error as SequenceError).message).toContain('sequence "many" is invalid');
  });

  it("accepts immediately() after nothing and equal times on the same day", () => {
    const t = { template: Tiny, subject: "s", preview: "p" };
    expect(() =>
      defineSequence(
        validSequence("same-day", [
          { id: "a", schedule: immediately(), ...t },
          { id: "b", schedule: day(0, "09:00"), ...t },
          { id: "c", schedule: day(0, "09:00"), ...t },
        ]),
      ),
    ).not.toThrow();
  });

  it("rejects a send window that closes before it opens", () => {
    const base = validSequence("window");
    expect(() => defineSequence({ ...base, sendWindow: { ...base.sendWindow, start: "20:00", end: "08:00" } })).toThrow(
      /sendWindow: send window start 20:00 must be before its end 08:00/,
    );
  });
});
