/**
 * renderStep: one function from (step, subscriber, links) to {subject, preview, html, text,
 * headers, tags}, for React Email and MJML alike. Deterministic, escaped, with a text part
 * written for people. The course emails' text parts are snapshot-tested (files under
 * __snapshots__/text/, reviewed like copy).
 */
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import course from "../../sequences/hip-pain-course.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import { buildLinks } from "../../src/render/links.ts";
import { TemplateError } from "../../src/render/mjml.ts";
import { listHeaders, type RenderInput, renderStep } from "../../src/render/render.ts";
import { SAMPLE_LINKS, SAMPLE_LIST, SAMPLE_POSTAL_ADDRESS, SAMPLE_SUBSCRIBER } from "../../src/sequences/check.ts";
import { defineSequence, immediately, mjml } from "../../src/sequences/define.ts";
import type { Sequence, SubscriberFields } from "../../src/sequences/types.ts";
import { validSequence } from "../fixtures/sequences/_base.ts";

const FIXTURE_EMAILS = fileURLToPath(new URL("../fixtures/emails/", import.meta.url));
const TOKEN = "sample-token.0000";

function input(stepId: string, subscriber: SubscriberFields = SAMPLE_SUBSCRIBER, sequence: Sequence = course, emailsDir = EMAILS_DIR): RenderInput {
  const step = sequence.steps.find((s) => s.id === stepId);
  if (!step) throw new Error(`no step ${stepId}`);
  return {
    sequence,
    step,
    subscriber,
    links: buildLinks(SAMPLE_LINKS, TOKEN, sequence.id, step.id),
    postalAddress: SAMPLE_POSTAL_ADDRESS,
    list: SAMPLE_LIST,
    emailsDir,
  };
}

const hrefs = (html: string) => [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, "&"));

/** A sequence with one MJML step from tests/fixtures/emails/. */
const mjmlFixture = (file: string) =>
  defineSequence(
    validSequence(`fixture-${file.replace(/\W+/g, "-")}`, [{ id: "only", schedule: immediately(), template: mjml(file), subject: "S", preview: "P" }]),
  );

describe("renderStep output", () => {
  it.each(["article", "keep-it-away"])("%s: the same input renders byte-identical output", async (step) => {
    const a = await renderStep(input(step));
    const b = await renderStep(input(step));
    expect(b.html).toBe(a.html);
    expect(b.text).toBe(a.text);
    expect(b).toEqual(a);
  });

  it("an MJML step renders identically from a fresh compile and from the cache", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drip-mjml-"));
    copyFileSync(join(EMAILS_DIR, "keep-it-away.mjml"), join(dir, "keep-it-away.mjml"));
    const cached = await renderStep(input("keep-it-away"));
    const fresh = await renderStep(input("keep-it-away", SAMPLE_SUBSCRIBER, course, dir));
    expect(fresh.html).toBe(cached.html);
  });

  it.each(course.steps.map((s) => s.id))("%s: List-Unsubscribe headers and provider tags", async (step) => {
    const email = await renderStep(input(step));
    expect(email.headers).toEqual({
      "List-Id": "Outer hip and leg pain that isn't your IT band <hip-pain-course.list.clinic.example.com>",
      "List-Unsubscribe": `<https://drip.example.com/unsubscribe/${TOKEN}>`,
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    });
    expect(email.tags).toEqual([
      { name: "sequence", value: "hip-pain-course" },
      { name: "step", value: step },
    ]);
  });

  it("List-Unsubscribe offers a mailto: after the one-click https URL when DRIP_UNSUBSCRIBE_MAILTO is set", async () => {
    const email = await renderStep({ ...input("book"), list: { from: "David <hello@Clinic.Example.com>", unsubscribeMailto: "leave@clinic.example.com" } });
    expect(email.headers["List-Unsubscribe"]).toBe(`<https://drip.example.com/unsubscribe/${TOKEN}>, <mailto:leave@clinic.example.com?subject=unsubscribe>`);
    expect(email.headers["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");
    expect(email.headers["List-Id"]).toMatch(/ <hip-pain-course\.list\.clinic\.example\.com>$/);
  });

  it("List-Id is one list per sequence, its name quoted when it is not a plain phrase (RFC 2919)", () => {
    const links = buildLinks(SAMPLE_LINKS, TOKEN, "s", "a");
    expect(listHeaders(links, { id: "tips", name: "Tips: hips, knees" }, SAMPLE_LIST)["List-Id"]).toBe('"Tips: hips, knees" <tips.list.clinic.example.com>');
    expect(listHeaders(links, { id: "news", name: "Clinic news" }, SAMPLE_LIST)["List-Id"]).toBe("Clinic news <news.list.clinic.example.com>");
  });

  it("subject and preview may be functions of the subscriber, and are trimmed", async () => {
    const sam = await renderStep(input("article"));
    expect(sam.subject).toBe("Outer leg pain? It may start in your hip");
    expect(sam.preview).toBe("Sam, here is the muscle most people miss: the gluteus minimus.");
    expect(sam.html).toContain("Sam, here is the muscle most people miss");
    const nameless = await renderStep(input("article", { ...SAMPLE_SUBSCRIBER, name: "  " }));
    expect(nameless.preview).toBe("Here is the muscle most people miss: the gluteus minimus.");
  });

  it("the MJML step carries its preview text in the html", async () => {
    const email = await renderStep(input("keep-it-away"));
    expect(email.preview).toBe("The two techniques in one page, and when to get help.");
    expect(email.html).toContain("The two techniques in one page, and when to get help.");
  });
});

describe("the text part is written for people", () => {
  it.each(course.steps.map((s) => s.id))("%s: no layout debris, links kept", async (step) => {
    const { text, html } = await renderStep(input(step));
    // No markup, comments or CSS: the only angle brackets allowed are ones around a kept link.
    expect(text).not.toMatch(/<(?!(https:\/\/|mailto:)[^\s<>]+>)/);
    expect(text).not.toMatch(/display:\s*none|{|}|mso-|&nbsp;|&amp;|&#/i);
    // biome-ignore lint/suspicious/noMisleadingCharacterClass: each invisible character is looked for on its own
    expect(text).not.toMatch(/[\u200b-\u200f\u034f\u00ad\u2007\u2060\ufeff\u00a0]/);
    expect(text).not.toMatch(/\n\s*\n\s*\n/); // never two blank lines in a row
    expect(text).not.toMatch(/[ \t]+$/m);
    expect(text).toMatch(/^\S/);
    expect(text).toMatch(/\S\n$/);
    expect(text).toContain(`https://drip.example.com/unsubscribe/${TOKEN}`);
    expect(text).toContain(`https://drip.example.com/preferences/${TOKEN}`);
    expect(text).toContain(SAMPLE_POSTAL_ADDRESS);
    // Every https link in the html survives into the text part.
    for (const href of new Set(hrefs(html))) expect(text.replace(/\n/g, ""), href).toContain(href);
  });
});

describe("every course email reads right", () => {
  it.each(course.steps.map((s) => s.id))('%s: with an empty first name (no "Hi ,", no stray comma, no placeholder)', async (step) => {
    const { text, preview, html } = await renderStep(input(step, { ...SAMPLE_SUBSCRIBER, name: "   " }));
    expect(text).toMatch(/^(Hi \S[^\n]*,|Hello,)$/m);
    expect(text).toContain("Hello,");
    expect(`${preview}\n${text}`).not.toMatch(/\bHi\s*,|^\s*,|\s,|\{\{|undefined|null/m);
    expect(html).not.toMatch(/\{\{/);
  });

  it.each(course.steps.map((s) => s.id))('%s: greets Sam as "Hi Sam," (React and MJML alike)', async (step) => {
    expect((await renderStep(input(step))).text).toMatch(/^Hi Sam,$/m);
    expect((await renderStep(input(step, { ...SAMPLE_SUBSCRIBER, name: "  Sam " }))).text).toMatch(/^Hi Sam,$/m);
  });

  it.each(course.steps.map((s) => s.id))("%s: the footer shows the clinic's name once when the postal address starts with it", async (step) => {
    const address = "Body Heal Therapy, 1 Example Street, Example Town, EX1 2MP";
    const { text } = await renderStep({ ...input(step), postalAddress: address });
    const footer = text.slice(text.lastIndexOf("You're getting this"));
    expect(footer).toContain(address);
    expect(footer.split("Body Heal Therapy").length - 1, footer).toBe(2); // the reason line, and the address
    // An address without the name still gets the name above it.
    const other = await renderStep(input(step));
    expect(other.text).toContain(`Body Heal Therapy\n${SAMPLE_POSTAL_ADDRESS}`);
  });

  it.each(course.steps.map((s) => s.id))("%s: the hidden preview is not white-on-white and is followed by filler", async (step) => {
    const { html, preview } = await renderStep(input(step));
    const hidden = /<div[^>]*display:none[^>]*>([^<]*)<div>([^<]*)<\/div><\/div>/.exec(html);
    expect(hidden, "preview block").not.toBeNull();
    expect(hidden![0]).not.toMatch(/color:\s*#f{3,6}\b|font-size:\s*[01]px/i);
    expect(hidden![1]).toContain(preview.slice(0, 20));
    // biome-ignore lint/suspicious/noMisleadingCharacterClass: each invisible character is looked for on its own
    expect(hidden![2]).toMatch(/^[\u00a0\u200b\u200c\u200d\ufeff]{300,}$/);
  });

  it.each(course.steps.map((s) => s.id))("%s: every paragraph carries its margin inline, so spacing survives a stripped <style>", async (step) => {
    const { html } = await renderStep(input(step));
    const paragraphs = [...html.matchAll(/<(p|h1|h2)\b[^>]*>/g)].map((m) => m[0]);
    expect(paragraphs.length).toBeGreaterThan(3);
    for (const p of paragraphs) expect(p).toMatch(/style="[^"]*margin[^"]*"/);
  });
});

describe("MJML placeholders", () => {
  it("values are HTML-escaped in text and attribute positions", async () => {
    const sequence = mjmlFixture("escape.mjml");
    const name = `<b>&"' onmouseover="alert(1)`;
    const email = await renderStep(input("only", { ...SAMPLE_SUBSCRIBER, name }, sequence, FIXTURE_EMAILS));
    const escaped = "&lt;b&gt;&amp;&quot;&#39; onmouseover=&quot;alert(1)";
    expect(email.html).not.toContain("<b>");
    expect(email.html).not.toContain('onmouseover="');
    expect(email.html).toContain(`Hello ${escaped},`);
    expect(email.html).toContain(`title="${escaped}"`);
    expect(email.html).toContain(`alt="Drawn for ${escaped}"`);
    // The reader still sees the name as typed.
    expect(email.text).toContain(`Hello ${name},`);
    expect(hrefs(email.html)).toContain(`https://drip.example.com/unsubscribe/${TOKEN}`);
  });

  it("an unknown placeholder is a TemplateError naming the file and the placeholder", async () => {
    const sequence = mjmlFixture("unknown-placeholder.mjml");
    const error = await renderStep(input("only", SAMPLE_SUBSCRIBER, sequence, FIXTURE_EMAILS)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).file).toBe(join(FIXTURE_EMAILS, "unknown-placeholder.mjml"));
    expect((error as TemplateError).message).toMatch(/unknown-placeholder\.mjml:5: unknown placeholder \{\{subscriber\.company\}\}/);
    expect((error as TemplateError).message).toContain("{{subscriber.name}}");
  });

  it("invalid MJML is a TemplateError naming the file", async () => {
    const sequence = mjmlFixture("invalid.mjml");
    const error = await renderStep(input("only", SAMPLE_SUBSCRIBER, sequence, FIXTURE_EMAILS)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toMatch(/invalid\.mjml: invalid MJML: .*mj-text/);
  });

  it("a missing file is a TemplateError naming the file", async () => {
    const sequence = mjmlFixture("nope.mjml");
    const error = await renderStep(input("only", SAMPLE_SUBSCRIBER, sequence, FIXTURE_EMAILS)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toContain("nope.mjml: the MJML template file does not exist");
  });
});

/** Where the course brief puts a booking link. */
const BOOKING_STEPS = new Set(["book", "keep-it-away", "last-call"]);

describe("the course emails", () => {
  it("has the six steps of the brief, one of them in MJML", () => {
    expect(course.steps.map((s) => s.id)).toEqual(["article", "self-release", "dynamic-release", "book", "keep-it-away", "last-call"]);
    expect(course.steps.find((s) => s.id === "keep-it-away")!.template).toEqual({ kind: "mjml", file: "keep-it-away.mjml" });
  });

  for (const { id: step } of course.steps) {
    describe(step, () => {
      it("html: unsubscribe and preferences links, postal address, booking link with UTM where the brief puts one", async () => {
        const { html } = await renderStep(input(step));
        const links = hrefs(html);
        expect(links).toContain(`https://drip.example.com/unsubscribe/${TOKEN}`);
        expect(links).toContain(`https://drip.example.com/preferences/${TOKEN}`);
        expect(html).toContain(SAMPLE_POSTAL_ADDRESS);
        expect(html).toContain("Body Heal Therapy");
        const booking = links.filter((l) => l.startsWith(SAMPLE_LINKS.bookingUrl));
        if (BOOKING_STEPS.has(step)) expect(booking.length).toBeGreaterThan(0);
        for (const link of booking) {
          const u = new URL(link);
          expect(`${u.origin}${u.pathname}`).toBe(SAMPLE_LINKS.bookingUrl);
          expect(Object.fromEntries(u.searchParams)).toEqual({
            utm_source: "drip",
            utm_medium: "email",
            utm_campaign: "hip-pain-course",
            utm_content: step,
          });
        }
        for (const link of links) expect(link).toMatch(/^https:\/\//);
      });

      it("text part (snapshot)", async () => {
        const email = await renderStep(input(step));
        await expect(`Subject: ${email.subject}\nPreview: ${email.preview}\n\n${email.text}`).toMatchFileSnapshot(`./__snapshots__/text/${step}.txt`);
      });
    });
  }
});
