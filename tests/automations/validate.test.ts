/**
 * Automations are validated like sequences: shapes with paths, references to what exists,
 * and no loops (`drip validate` prints the cycle). Also: the repo's own set validates, and a
 * second sequence file does not change which sequence the signup page offers.
 */
import { describe, expect, it } from "vitest";
import { checkAutomations, compileAutomations, describeCycle, findCycle } from "../../src/automations/compile.ts";
import { defineAutomations } from "../../src/automations/define.ts";
import { loadAutomationSet } from "../../src/automations/load.ts";
import { defineForms } from "../../src/forms/define.ts";
import { SEQUENCES_DIR } from "../../src/paths.ts";
import { defineSequence } from "../../src/sequences/define.ts";
import { SequenceError } from "../../src/sequences/errors.ts";
import { listSequenceFiles, loadSequenceFiles } from "../../src/sequences/load.ts";
import type { SequenceDefinition } from "../../src/sequences/types.ts";
import { runDrip, tinySequence } from "../support/engine-helpers.ts";

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SequenceError) return e.issues;
    throw e;
  }
  throw new Error("expected a SequenceError");
};

const drip = (argv: string[]) => runDrip(argv, { env: { DATABASE_URL: ":memory:", DRIP_SECRET: "v".repeat(40) }, cwd: process.cwd() });

describe("drip validate and cycles", () => {
  it("refuses a cycle of triggers and prints it", async () => {
    const run = await drip(["validate", "tests/fixtures/sequences/valid.ts", "tests/fixtures/automations/cycle/automations.ts"]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(
      'tests/fixtures/automations/cycle/automations.ts: [0]: these automations fire each other in a loop: vip-welcome (on tag "vip" added) adds tag "welcomed" → welcomed-course (on tag "welcomed" added) adds tag "vip" → vip-welcome',
    );
  });

  it("accepts the same chain without the loop, and lists the automations", async () => {
    const run = await drip(["validate", "tests/fixtures/sequences/valid.ts", "tests/fixtures/automations/ok/automations.ts"]);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('ok  automation welcomed-course: on tag "welcomed" added, enrolls in fixture-valid');
  });

  it("the repo's sequences, automations and forms validate", async () => {
    const run = await drip(["validate", "--json"]);
    expect(run.code, run.err).toBe(0);
    const out = JSON.parse(run.out);
    expect(out.automations).toEqual([
      { id: "booked-starts-post-booking", source: "sequences/post-booking.ts: triggers[0]", on: 'tag "booked" added', do: ["enrolls in post-booking"] },
      {
        id: "course-finishers-join-weekly",
        source: "sequences/automations.ts: [0]",
        on: "sequence hip-pain-course completed",
        do: ["joins topic weekly"],
      },
    ]);
    expect(out.forms).toEqual([{ id: "hip-pain", sequence: "hip-pain-course", default: true }]);
  });

  it("a loop through completions (A's end starts B, B's end starts A) is a loop too", () => {
    const a = { ...tinySequence({ id: "a" }), triggers: [{ on: "completed" as const, sequence: "b" }] };
    const b = { ...tinySequence({ id: "b" }), triggers: [{ on: "completed" as const, sequence: "a" }] };
    const list = compileAutomations([
      { file: "a.ts", sequence: a },
      { file: "b.ts", sequence: b },
    ]);
    const cycle = findCycle(list);
    expect(cycle?.map((x) => x.id)).toEqual(["a.completed", "b.completed", "a.completed"]);
    expect(describeCycle(cycle!)).toBe("a.completed (on sequence b completed) enrolls in a → b.completed (on sequence a completed) enrolls in b → a.completed");
    expect(findCycle(compileAutomations([{ sequence: a }, { sequence: tinySequence({ id: "b" }) }]))).toBeNull();
  });

  it("references: unknown sequences, forms and topics are named with their paths", () => {
    const seq = {
      ...tinySequence({ id: "s" }),
      triggers: [
        { on: "signup" as const, form: "nope" },
        { on: "completed" as const, sequence: "gone", also: [{ exit: "gone" }] },
      ],
    };
    const issues = checkAutomations(compileAutomations([{ file: "s.ts", sequence: seq }]), {
      sequences: new Set(["s"]),
      forms: new Set(["f"]),
      topics: new Set(),
    });
    expect(issues.map((i) => `${i.file}: ${i.path}: ${i.message}`)).toEqual([
      's.ts: triggers[0].form: no form "nope": known forms are f (see `drip form list`)',
      's.ts: triggers[1].sequence: no sequence "gone": known sequences are s',
      's.ts: triggers[1].also[0]: no sequence "gone" to exit: known sequences are s',
    ]);
  });
});

describe("shapes", () => {
  const base = tinySequence({ id: "shape" });
  const withTriggers = (triggers: unknown) => ({ ...base, triggers }) as unknown as SequenceDefinition;

  it("a sequence's triggers are checked by defineSequence, with paths", () => {
    expect(issuesOf(() => defineSequence(withTriggers([{ on: "tagged", tag: "x" }])))).toEqual([
      { path: "triggers[0].on", message: 'a trigger needs `on`: "signup", "tag-added", "event", "completed" or "topic-joined"' },
    ]);
    expect(issuesOf(() => defineSequence(withTriggers([{ on: "tag-added", tag: "has space", when: { tags: { all: [] } } }])))).toEqual([
      { path: "triggers[0].tag", message: "tag must be 1–64 letters, digits, _ : . or -" },
      { path: "triggers[0].when.tags.all", message: "when.tags.all must list at least one tag (or leave it out)" },
    ]);
    expect(issuesOf(() => defineSequence(withTriggers([{ on: "event", name: "booked", dealy: { days: 1 } }])))[0]!.path).toBe("triggers[0]");
    expect(defineSequence(withTriggers([{ on: "event", name: "booked", delay: { days: 1 } }])).triggers).toHaveLength(1);
  });

  it("defineAutomations: unique ids, a delay only with enrolling, one key per action", () => {
    const on = { on: "tag-added", tag: "x" } as const;
    expect(
      issuesOf(() =>
        defineAutomations([
          { id: "a", on, do: [{ enroll: "s" }] },
          { id: "a", on, do: [{ enroll: "s" }] },
        ]),
      ),
    ).toEqual([{ path: "[1].id", message: 'automation id "a" is already used by [0]: ids must be unique' }]);
    expect(issuesOf(() => defineAutomations([{ id: "a", on, delay: { days: 1 }, do: [{ addTag: "y" }] }]))[0]!.path).toBe("[0].delay");
    expect(issuesOf(() => defineAutomations([{ id: "a", on, do: [] }]))[0]!.message).toBe("an automation needs at least one action in `do`");
    expect(issuesOf(() => defineAutomations([{ id: "a", on, do: [{ enroll: "s", addTag: "y" } as never] }]))[0]!.path).toBe("[0].do[0]");
  });

  it("defineForms: the default must be one of the forms; a redirect must be https", () => {
    const form = { id: "f", title: "F", fields: [], thankYou: { text: "Thanks" } } as const;
    expect(issuesOf(() => defineForms({ default: "g", forms: [form] }))).toEqual([
      { path: "default", message: 'default names form "g", which is not in forms: name one of f' },
    ]);
    expect(issuesOf(() => defineForms({ default: "f", forms: [{ ...form, thankYou: { redirect: "http://clinic.example/thanks" } }] }))[0]!.message).toBe(
      "thankYou.redirect must be an absolute https URL on the clinic's site",
    );
  });
});

describe("the default sequence", () => {
  it("stays the course: post-booking.ts beside it does not become the signup page's sequence", async () => {
    const loaded = await loadSequenceFiles(listSequenceFiles(SEQUENCES_DIR));
    expect(loaded.sequences.map((s) => s.sequence.id)).toEqual(["hip-pain-course", "post-booking"]);
    const set = await loadAutomationSet(SEQUENCES_DIR, loaded.sequences, { topics: new Set(["weekly"]) });
    expect(set.issues).toEqual([]);
    const form = set.forms.forms.find((f) => f.id === set.forms.default);
    expect(form?.sequence).toBe("hip-pain-course");
  });
});

describe("drip simulate follows triggers", () => {
  it("day 5: booked → post-booking starts; the course's booking steps skip from then on", async () => {
    const run = await drip(["simulate", "hip-pain-course", "--start", "2026-03-09T10:00:00Z", "--tz", "Europe/London", "--event", "booked@5", "--json"]);
    expect(run.code, run.err).toBe(0);
    const rows = JSON.parse(run.out) as { sequence?: string; step?: string; automation?: string; at: string; skipped?: string | null; note?: string }[];
    expect(rows.map((r) => r.automation ?? `${r.sequence}/${r.step}`)).toEqual([
      "hip-pain-course/article",
      "hip-pain-course/self-release",
      "hip-pain-course/dynamic-release",
      "booked-starts-post-booking",
      "post-booking/thanks",
      "hip-pain-course/book",
      "hip-pain-course/keep-it-away",
      "post-booking/follow-up",
      "hip-pain-course/last-call",
      // The course's end hands finishers to the weekly blog, only with consent (none here: see the topics tests).
      "course-finishers-join-weekly",
    ]);
    expect(rows[3]).toMatchObject({ at: "2026-03-14T10:00:00.000Z", note: 'tag "booked" added → post-booking starts' });
    expect(rows.find((r) => r.step === "book")?.skipped).toBe('subscriber has tag "booked"');
    expect(rows.find((r) => r.step === "follow-up")?.at).toBe("2026-03-21T09:00:00.000Z");
    // Without an event, nothing fires that does anything (the hand-off finds no consent): the course's own timeline, as before.
    const plain = JSON.parse((await drip(["simulate", "hip-pain-course", "--start", "2026-03-09T10:00:00Z", "--tz", "Europe/London", "--json"])).out);
    expect(plain.map((r: { step: string }) => r.step)).toEqual(["article", "self-release", "dynamic-release", "book", "keep-it-away", "last-call"]);
    // With the form's "when the course ends" consent, the course's end hands them to the weekly blog, after the last step.
    const handOff = JSON.parse(
      (await drip(["simulate", "hip-pain-course", "--start", "2026-03-09T10:00:00Z", "--tz", "Europe/London", "--consent", "weekly", "--json"])).out,
    ) as { step?: string; automation?: string; note?: string }[];
    expect(handOff.map((r) => r.step ?? r.automation)).toEqual([
      "article",
      "self-release",
      "dynamic-release",
      "book",
      "keep-it-away",
      "last-call",
      "course-finishers-join-weekly",
    ]);
    expect(handOff.at(-1)?.note).toBe("sequence hip-pain-course completed (round 1) → joins topic weekly");
    expect((await drip(["simulate", "hip-pain-course", "--start", "2026-03-09T10:00:00Z", "--tz", "UTC", "--event", "booked"])).code).toBe(2);
  });
});
