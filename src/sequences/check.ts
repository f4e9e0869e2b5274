/**
 * Compliance by construction: every step of every sequence is rendered for a sample
 * subscriber and its output checked for what the law and the mailbox providers require
 * (unsubscribe link, postal address, subject and preview, https links, alt text).
 */
import { buildLinks, type LinkContext } from "../render/links.ts";
import { type ListContext, type RenderedEmail, renderStep } from "../render/render.ts";
import type { SequenceIssue } from "./errors.ts";
import type { Sequence, SubscriberFields } from "./types.ts";

export const SAMPLE_SUBSCRIBER: SubscriberFields = { email: "sam.sample@example.com", name: "Sam", timezone: "Europe/London", tags: [] };

/** Links for checks: always https, whatever the local config says (images are checked against publicUrl). */
export const SAMPLE_LINKS: LinkContext = {
  publicUrl: "https://drip.example.com",
  bookingUrl: "https://clinic.example.com/book",
  siteUrl: "https://clinic.example.com",
};
export const SAMPLE_POSTAL_ADDRESS = "1 Sample Street, Sampleton, SA1 1AA";
/** The sender for checks (List-Id and Message-ID domains). */
export const SAMPLE_LIST: ListContext = { from: "hello@clinic.example.com" };
export const MAX_SUBJECT = 150;

const decode = (s: string) =>
  s
    .replace(/&amp;/g, "&")
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">");

/** Problems in one rendered email; `path` is the step's path in the definition. */
export function checkRendered(email: RenderedEmail, path: string, expect: { unsubscribe: string; postalAddress: string }): SequenceIssue[] {
  const issues: SequenceIssue[] = [];
  const html = email.html;
  if (!email.subject) issues.push({ path: `${path}.subject`, message: "the subject is empty: write one" });
  else if (email.subject.length > MAX_SUBJECT)
    issues.push({ path: `${path}.subject`, message: `the subject is ${email.subject.length} characters long: keep it to ${MAX_SUBJECT} or fewer` });
  if (/[\r\n]/.test(email.subject)) issues.push({ path: `${path}.subject`, message: "the subject contains a line break: keep it on one line" });
  if (!email.preview) issues.push({ path: `${path}.preview`, message: "the preview text is empty: write a short inbox snippet" });
  const hrefs = [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => decode(m[1]!));
  if (!hrefs.includes(expect.unsubscribe))
    issues.push({ path: `${path}.template`, message: "the email body has no unsubscribe link: render links.unsubscribe (the shared Layout footer does)" });
  if (!decode(html).includes(expect.postalAddress))
    issues.push({
      path: `${path}.template`,
      message: "the email body does not show the postal address: render sender.postalAddress (the shared Layout footer does)",
    });
  for (const href of hrefs) {
    if (!/^(https:|mailto:)/.test(href)) issues.push({ path: `${path}.template`, message: `link ${JSON.stringify(href)} is not https: use https links only` });
  }
  for (const m of html.matchAll(/<img\b[^>]*>/g)) {
    const alt = /\salt="([^"]*)"/.exec(m[0]);
    if (!alt || !alt[1]!.trim()) issues.push({ path: `${path}.template`, message: `an image has no alt text (${m[0].slice(0, 80)}…): describe it in alt` });
    const src = /\ssrc="([^"]*)"/.exec(m[0]);
    const url = src ? decode(src[1]!) : "";
    if (!url.startsWith("https:"))
      issues.push({
        path: `${path}.template`,
        message: `image source ${JSON.stringify(url)} is not an absolute https URL: mail apps load images from the web, so give the full https:// address`,
      });
    // drip serves no files: an image on its own address would show as an empty box.
    else if (url.startsWith(`${SAMPLE_LINKS.publicUrl}/`))
      issues.push({
        path: `${path}.template`,
        message: `image source ${JSON.stringify(url)} is on drip's own address, which serves no images: host the file on the clinic's site (links.site) and check it loads`,
      });
    // Without a size, the layout jumps (or collapses) while images are off or loading.
    if (!/\swidth="\d+"/.test(m[0]) || !/\sheight="\d+"/.test(m[0]))
      issues.push({ path: `${path}.template`, message: `an image has no width and height attributes (${m[0].slice(0, 80)}…): set both, in pixels` });
  }
  return issues;
}

/** Render every step of a sequence for the sample subscriber and check it. */
export async function checkSequence(sequence: Sequence, emailsDir: string, subscriber: SubscriberFields = SAMPLE_SUBSCRIBER): Promise<SequenceIssue[]> {
  const issues: SequenceIssue[] = [];
  for (const [i, step] of sequence.steps.entries()) {
    const path = `steps[${i}]`;
    const links = buildLinks(SAMPLE_LINKS, "sample-token.0000", sequence.id, step.id);
    let email: RenderedEmail;
    try {
      email = await renderStep({ sequence, step, subscriber, links, postalAddress: SAMPLE_POSTAL_ADDRESS, list: SAMPLE_LIST, emailsDir });
    } catch (err) {
      issues.push({ path: `${path}.template`, message: `step "${step.id}" failed to render: ${(err as Error).message}` });
      continue;
    }
    issues.push(...checkRendered(email, path, { unsubscribe: links.unsubscribe, postalAddress: SAMPLE_POSTAL_ADDRESS }));
  }
  return issues;
}
