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
    // Many subscribers leave the name empty: the email must still read well ("Hello,", not "Dear ,").
    try {
      const nameless = await renderStep({
        sequence,
        step,
        subscriber: { ...subscriber, name: "" },
        links,
        postalAddress: SAMPLE_POSTAL_ADDRESS,
        list: SAMPLE_LIST,
        emailsDir,
      });
      issues.push(...checkEmptyName(nameless, path));
    } catch (err) {
      issues.push({ path: `${path}.template`, message: `step "${step.id}" failed to render for a subscriber with no name: ${(err as Error).message}` });
    }
  }
  return issues;
}

/** A word, spaces, then a comma: what "Dear {name}," becomes when the name is empty. */
const EMPTY_SLOT = /[\p{L}][ \u00a0]+[,!.?]/u;

/** Problems in an email rendered for a subscriber with an empty name. */
export function checkEmptyName(email: RenderedEmail, path: string): SequenceIssue[] {
  const issues: SequenceIssue[] = [];
  const parts: [string, string][] = [
    ["subject", email.subject],
    ["preview", email.preview],
    ["template", email.text],
  ];
  for (const [part, value] of parts) {
    for (const line of value.split("\n")) {
      const m = EMPTY_SLOT.exec(line);
      if (!m) continue;
      const start = Math.max(0, m.index - 20);
      issues.push({
        path: `${path}.${part}`,
        message: `with an empty subscriber name it reads "${line.slice(start, m.index + m[0].length).trim()}": fall back to a greeting without the name (as <Greeting> and {{greeting}} do)`,
      });
      break;
    }
  }
  return issues;
}

/** Warnings that do not stop a sequence: two steps planned for the same moment go out together. */
export function scheduleWarnings(sequence: Sequence): SequenceIssue[] {
  const at = new Map<string, string>();
  const warnings: SequenceIssue[] = [];
  for (const [i, step] of sequence.steps.entries()) {
    const key = step.schedule.kind === "immediately" ? "day 0, at once" : `day ${step.schedule.day} at ${step.schedule.at}`;
    const other = at.get(key);
    if (other)
      warnings.push({
        path: `steps[${i}].schedule`,
        message: `steps "${other}" and "${step.id}" are both planned for ${key}: they would arrive together; give one another day or time`,
      });
    else at.set(key, step.id);
  }
  return warnings;
}
