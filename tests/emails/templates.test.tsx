/**
 * The course templates: every email carries the footer the law and the reader need, booking
 * links keep their UTM parameters, images have alt text, nothing is fetched from the network,
 * and rendering is deterministic. What the emails *say* is covered by the renderer's
 * text-part snapshots, not here.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import mjml2html from "mjml";
import { render } from "react-email";
import { describe, expect, it } from "vitest";
import Article from "../../emails/article.tsx";
import Book from "../../emails/book.tsx";
import { sampleFor } from "../../emails/components/sample-props.ts";
import DynamicRelease from "../../emails/dynamic-release.tsx";
import LastCall from "../../emails/last-call.tsx";
import SelfRelease from "../../emails/self-release.tsx";
import type { EmailProps, ReactTemplate } from "../../src/sequences/types.ts";

const templates: { step: string; T: ReactTemplate & { PreviewProps: EmailProps }; books: boolean }[] = [
  { step: "article", T: Article, books: false },
  { step: "self-release", T: SelfRelease, books: false },
  { step: "dynamic-release", T: DynamicRelease, books: false },
  { step: "book", T: Book, books: true },
  { step: "last-call", T: LastCall, books: true },
];

/** How React escapes text and attribute values. */
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
const unescapeAttr = (s: string) =>
  s
    .replace(/&amp;/g, "&")
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'");

const hrefs = (html: string) => [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => unescapeAttr(m[1]!));
const imgTags = (html: string) => [...html.matchAll(/<img\b[^>]*>/g)].map((m) => m[0]);

/** Shared checks for both kinds of template: footer, links, images, no network. */
function expectFooterAndHygiene(html: string, props: EmailProps, esc: (s: string) => string) {
  expect(html).toContain(esc(props.sender.organization));
  expect(html).toContain(esc(props.sender.postalAddress));
  expect(html).toContain(esc(props.reason));
  const links = hrefs(html);
  expect(links).toContain(props.links.unsubscribe);
  expect(links).toContain(props.links.preferences);
  expect(html).toMatch(/>\s*Unsubscribe\s*<\/a>/);
  expect(html).toMatch(/>\s*Manage preferences\s*<\/a>/);
  for (const href of links) expect(href).toMatch(/^https:\/\//);
  for (const tag of imgTags(html)) {
    expect(tag).toMatch(/\salt="[^"]*\S[^"]*"/);
    expect(tag).toMatch(/\ssrc="https:\/\//);
  }
  // No web fonts, stylesheets or other fetches beyond the images.
  expect(html).not.toMatch(/<link\b|@import|fonts\.googleapis|<script\b/i);
  expect(html).toMatch(/<html[^>]*\slang="en"/);
  expect(html).toContain('name="color-scheme" content="light dark"');
  expect(html).toContain("prefers-color-scheme: dark");
}

describe("React course templates", () => {
  for (const { step, T, books } of templates) {
    describe(step, () => {
      const props = sampleFor(step);

      it("carries the footer, https links, alt text and no network fetches", async () => {
        const html = await render(<T {...props} />);
        expectFooterAndHygiene(html, props, esc);
        expect(html).toContain(esc(props.preview));
      });

      it("renders byte-identical HTML twice", async () => {
        expect(await render(<T {...props} />)).toBe(await render(<T {...props} />));
      });

      it("has preview props for React Email's preview server", () => {
        expect(T.PreviewProps.links.booking).toContain(`utm_content=${step}`);
      });

      if (books) {
        it("links to the booking page with its UTM parameters", async () => {
          const html = await render(<T {...props} />);
          expect(props.links.booking).toContain(`utm_source=drip&utm_medium=email&utm_campaign=hip-pain-course&utm_content=${step}`);
          expect(html).toContain(`href="${props.links.booking.replace(/&/g, "&amp;")}"`);
          expect(hrefs(html)).toContain(props.links.booking);
        });
      }
    });
  }

  it("greets by first name, or neutrally when the name is empty", async () => {
    const props = sampleFor("article");
    expect(await render(<Article {...props} />)).toContain("Hi Sam,");
    const anonymous = await render(<Article {...props} subscriber={{ ...props.subscriber, name: "  " }} />);
    expect(anonymous).toContain("Hello,");
    expect(anonymous).not.toMatch(/Hi\s*,/);
  });

  // The article's picture pointed at DRIP_SITE_URL/images/outer-hip-pain.png, which nothing
  // ships: readers saw an empty box with alt text. No real picture can be made here, so the
  // emails carry none; one added later must come with its file (see the README).
  it.each(templates.map((t) => t.step))("%s: carries no image", async (step) => {
    const { T } = templates.find((t) => t.step === step)!;
    expect(imgTags(await render(<T {...T.PreviewProps} />))).toEqual([]);
  });
});

describe("MJML template keep-it-away.mjml", () => {
  const file = fileURLToPath(new URL("../../emails/keep-it-away.mjml", import.meta.url));
  const source = readFileSync(file, "utf8");
  const props = sampleFor("keep-it-away");
  const PLACEHOLDER = /\{\{\s*([a-zA-Z.]+)\s*\}\}/g;
  const values: Record<string, string | string[]> = {
    "subscriber.name": props.subscriber.name,
    "subscriber.email": props.subscriber.email,
    "links.unsubscribe": props.links.unsubscribe,
    "links.preferences": props.links.preferences,
    "links.booking": props.links.booking,
    "links.site": props.links.site,
    "sender.organization": props.sender.organization,
    "sender.name": props.sender.name,
    "sender.postalAddress": props.sender.postalAddress,
    "sender.lines": [props.sender.organization, props.sender.postalAddress],
    greeting: "Hi Sam,",
    reason: props.reason,
    preview: props.preview,
  };
  const mjmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  const filled = () =>
    source.replace(PLACEHOLDER, (_m, name: string) => {
      const value = values[name]!;
      return typeof value === "string" ? mjmlEscape(value) : value.map(mjmlEscape).join("<br />");
    });

  it("uses only the placeholders the renderer knows, and never the (possibly empty) name", () => {
    const used = [...source.matchAll(PLACEHOLDER)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(Object.keys(values)).toContain(name);
    expect(used).not.toContain("subscriber.name");
    expect(used).toContain("preview");
    expect(used).toContain("greeting");
  });

  it("compiles under strict validation with its placeholders in place, as the renderer does", async () => {
    const result = await mjml2html(source, { validationLevel: "strict" });
    expect(result.errors).toEqual([]);
    expect(result.html).toContain("{{links.unsubscribe}}");
  });

  it("compiles with sample values and carries the footer, https links and no network fetches", async () => {
    const { html, errors } = await mjml2html(filled(), { validationLevel: "strict" });
    expect(errors).toEqual([]);
    expectFooterAndHygiene(html, props, mjmlEscape);
    expect(html).toContain(mjmlEscape(props.preview));
    expect(html).not.toContain("{{");
    expect(hrefs(html)).toContain(props.links.booking);
  });

  it("compiles to byte-identical HTML twice", async () => {
    const a = await mjml2html(filled(), { validationLevel: "strict" });
    const b = await mjml2html(filled(), { validationLevel: "strict" });
    expect(a.html).toBe(b.html);
  });
});
