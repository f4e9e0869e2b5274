/**
 * Compile-once rendering is byte-identical to a full render (property test over generated
 * subscribers, every step of the course, React and MJML), and a template whose output
 * depends on subscriber data beyond its placeholders is detected and rendered in full.
 */
import { createElement as h } from "react";
import { Text } from "react-email";
import { describe, expect, it } from "vitest";
import { Layout } from "../../emails/components/layout.tsx";
import course from "../../sequences/hip-pain-course.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import { compiledRenderer } from "../../src/render/compiled.ts";
import { buildLinks } from "../../src/render/links.ts";
import { type RenderInput, renderStep } from "../../src/render/render.ts";
import { SAMPLE_LINKS, SAMPLE_LIST, SAMPLE_POSTAL_ADDRESS } from "../../src/sequences/check.ts";
import { defineSequence, immediately } from "../../src/sequences/define.ts";
import type { EmailProps, Sequence, SubscriberFields } from "../../src/sequences/types.ts";

/** A small seeded PRNG (mulberry32): the same subscribers every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Name pieces that stress escaping and the text part: markup, entities, quotes, emoji, RTL, look-alike placeholders. */
const PIECES = [
  "Ada",
  "<b>Bo</b>",
  "Tom & Jerry",
  "O'Brien",
  '"Quoted"',
  "&amp;",
  "&lt;script&gt;",
  "😀",
  "👩🏽‍⚕️",
  "שרה",
  "محمد",
  "Zoë",
  "{{greeting}}",
  "$name",
  "a\u00a0b",
  "x  y",
  "Zq0mk",
  ">",
  "Ünïcødé",
  "李",
];

function subscriberFrom(r: () => number, i: number): SubscriberFields {
  const n = Math.floor(r() * 4); // 0 to 3 pieces: a quarter of the names are empty
  const name = Array.from({ length: n }, () => PIECES[Math.floor(r() * PIECES.length)]!)
    .join(r() < 0.5 ? " " : "")
    .slice(0, 100)
    .trim();
  const local = ["s", "o'neil", "a&b", "tom+tag", "x"][Math.floor(r() * 5)]!;
  return {
    name,
    email: `${local}${i}@example.com`,
    timezone: ["Europe/London", "America/New_York", "Asia/Jerusalem"][Math.floor(r() * 3)]!,
    tags: r() < 0.2 ? ["vip"] : [],
  };
}

function inputFor(sequence: Sequence, stepId: string, subscriber: SubscriberFields, token: string): RenderInput {
  const step = sequence.steps.find((s) => s.id === stepId)!;
  return {
    sequence,
    step,
    subscriber,
    links: buildLinks(SAMPLE_LINKS, token, sequence.id, step.id),
    postalAddress: SAMPLE_POSTAL_ADDRESS,
    list: SAMPLE_LIST,
    emailsDir: EMAILS_DIR,
  };
}

const isTricky = (name: string) => /[<&"'>]|\p{Extended_Pictographic}|[\u0590-\u06ff]/u.test(name);

describe("compile-once rendering", () => {
  it("is byte-identical to a full render for every step over 120 generated subscribers × 6 steps (HTML, text, subject, preview, headers, tags)", async () => {
    const r = rng(16);
    // No spot checks: every email compared here comes from the compiled path or its own fallback.
    const renderer = compiledRenderer({ verifyEvery: 0 });
    let trickyFilled = 0;
    const emptyFilled = { before: 0 };
    for (let i = 0; i < 120; i++) {
      const subscriber = subscriberFrom(r, i);
      const token = `tok-${Math.floor(r() * 1e9).toString(36)}.${i}`;
      for (const step of course.steps) {
        const input = inputFor(course, step.id, subscriber, token);
        const before = renderer.stats.filled;
        const fast = await renderer.render(input);
        const reference = await renderStep(input);
        expect(fast.html).toBe(reference.html);
        expect(fast.text).toBe(reference.text);
        expect(fast).toEqual(reference);
        if (renderer.stats.filled > before && isTricky(subscriber.name)) trickyFilled++;
        if (renderer.stats.filled > before && subscriber.name === "") emptyFilled.before++;
      }
    }
    // The compiled path really carried the load, tricky and empty names included.
    expect(renderer.stats.filled).toBeGreaterThan(renderer.stats.full);
    expect(renderer.stats.dynamic).toBe(0);
    expect(trickyFilled).toBeGreaterThan(60);
    expect(emptyFilled.before).toBeGreaterThan(12);
  }, 120_000);

  /** One step whose template is `body(props)` inside the real layout. */
  const oneStep = (id: string, body: (p: EmailProps) => string): Sequence =>
    defineSequence({
      id,
      name: "Probe",
      sender: { name: "Tiny sender", organization: "Tiny Clinic" },
      reason: "You get this because a test enrolled you.",
      defaultTimezone: "Europe/London",
      sendWindow: { start: "08:00", end: "20:00", weekdays: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] },
      steps: [
        {
          id: "only",
          schedule: immediately(),
          // biome-ignore lint/correctness/noChildrenProp: createElement without JSX; Layout types its children as a required prop
          template: (p: EmailProps) => h(Layout, { ...p, children: h(Text, null, body(p)) }),
          subject: "Hello",
          preview: "A preview line long enough to stand in for a marker.",
        },
      ],
    });

  it.each([
    ["a condition on the name's length", (p: EmailProps) => (p.subscriber.name.length > 12 ? "What a long name." : "Short and sweet.")],
    ["the name uppercased", (p: EmailProps) => `HELLO ${p.subscriber.name.toUpperCase()}`],
    ["the name URL-encoded into a link", (p: EmailProps) => `share: https://x.example/?n=${encodeURIComponent(p.subscriber.name)}`],
    ["a condition on the address", (p: EmailProps) => (p.subscriber.email.includes("<") || p.subscriber.email.length % 2 ? "odd" : "even")],
  ])("a template using %s is detected and rendered in full, identical to a full render", async (_what, body) => {
    const sequence = oneStep("probe", body);
    const renderer = compiledRenderer({ verifyEvery: 0 });
    const r = rng(7);
    for (let i = 0; i < 40; i++) {
      // Non-empty names: an empty name is its own shape, which no condition on the name can split.
      const subscriber = subscriberFrom(r, i);
      const input = inputFor(sequence, "only", { ...subscriber, name: subscriber.name || "Sam" }, `t${i}`);
      expect(await renderer.render(input)).toEqual(await renderStep(input));
    }
    expect(renderer.stats.filled).toBe(0);
    expect(renderer.stats.dynamic).toBeGreaterThan(0);
  });

  it("a condition the probes cannot see (one exact name) is caught by the spot check and rendered in full from then on", async () => {
    const sequence = oneStep("secret", (p) => (p.subscriber.name === "Voldemort" ? "We do not say that name." : `Hi ${p.subscriber.name}.`));
    const renderer = compiledRenderer({ verifyEvery: 1 });
    const harry = inputFor(sequence, "only", { name: "Harry", email: "h@example.com", timezone: "Europe/London", tags: [] }, "t1");
    const tom = inputFor(sequence, "only", { name: "Voldemort", email: "t@example.com", timezone: "Europe/London", tags: [] }, "t2");
    expect(await renderer.render(harry)).toEqual(await renderStep(harry));
    expect(renderer.stats.filled).toBe(1);
    expect(await renderer.render(tom)).toEqual(await renderStep(tom));
    expect(renderer.stats.mismatches).toBe(1);
    expect(await renderer.render(harry)).toEqual(await renderStep(harry));
    expect(renderer.stats.filled).toBe(1); // the shape renders in full for good
  });
});
