/**
 * One function from (step, subscriber, links) to {subject, preview, html, text, headers}.
 * React Email components and MJML files render through the same path. Output is
 * deterministic: the same input gives byte-identical output, because the provider's
 * idempotency check compares payloads (a re-sent batch must match the first one exactly).
 */
import { join } from "node:path";
import type { EmailProps, EmailLinks, Sequence, StepDefinition, SubscriberFields, Template, TextOrFn } from "../sequences/types.ts";
import { compileMjml, fillMjml } from "./mjml.ts";
import { renderReactEmail } from "./react.ts";
import { htmlToText } from "./text.ts";

export interface RenderInput {
  sequence: Sequence;
  step: StepDefinition;
  subscriber: SubscriberFields;
  links: EmailLinks;
  postalAddress: string;
  /** Folder holding MJML templates (emails/). */
  emailsDir: string;
}

export interface RenderedEmail {
  subject: string;
  preview: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  /** Provider tags so webhooks and dashboards can tell steps apart. */
  tags: { name: string; value: string }[];
}

export const isMjml = (t: Template): t is Extract<Template, { kind: "mjml" }> =>
  typeof t === "object" && t !== null && (t as { kind?: unknown }).kind === "mjml";

const resolveText = (v: TextOrFn, s: SubscriberFields) => (typeof v === "function" ? v(s) : v).trim();

/** Build the props a template receives. */
export function emailProps(input: RenderInput, preview: string): EmailProps {
  return {
    preview,
    subscriber: input.subscriber,
    links: input.links,
    sender: { organization: input.sequence.sender.organization, name: input.sequence.sender.name, postalAddress: input.postalAddress },
    reason: input.sequence.reason,
  };
}

/** The headers every sequence email carries (RFC 2369 + RFC 8058 one-click). */
export function listHeaders(links: EmailLinks): Record<string, string> {
  return {
    "List-Unsubscribe": `<${links.unsubscribe}>`,
    // RFC 8058 §3.1: mailbox providers POST "List-Unsubscribe=One-Click" to the URL above.
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  };
}

export async function renderStep(input: RenderInput): Promise<RenderedEmail> {
  const { step, subscriber } = input;
  const subject = resolveText(step.subject, subscriber);
  const preview = resolveText(step.preview, subscriber);
  const props = emailProps(input, preview);
  let html: string;
  if (isMjml(step.template)) {
    const compiled = await compileMjml(join(input.emailsDir, step.template.file));
    html = fillMjml(compiled, props);
  } else {
    html = renderReactEmail(step.template, props);
  }
  return {
    subject,
    preview,
    html,
    text: htmlToText(html),
    headers: listHeaders(input.links),
    tags: [
      { name: "sequence", value: input.sequence.id },
      { name: "step", value: step.id },
    ],
  };
}
