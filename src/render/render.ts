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
  /** The list headers' context: the sender address (DRIP_FROM) and the optional unsubscribe mailbox. */
  list: ListContext;
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

export interface ListContext {
  /** The sender address (DRIP_FROM): its domain names the list (List-Id) and the Message-IDs. */
  from: string;
  /** DRIP_UNSUBSCRIBE_MAILTO: a mailbox for clients that cannot use the one-click URL. */
  unsubscribeMailto?: string | undefined;
}

/** The domain of an address, bare ("hello@clinic.example") or with a display name ("Clinic <hello@clinic.example>"). */
export function domainOf(address: string): string {
  const bare = /<([^<>]+)>\s*$/.exec(address)?.[1] ?? address;
  return bare
    .slice(bare.lastIndexOf("@") + 1)
    .trim()
    .toLowerCase();
}

/** RFC 5322 atext and spaces may stand as a phrase; anything else is quoted. */
const phrase = (s: string) => (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/.test(s) ? s : `"${s.replace(/["\\]/g, "\\$&")}"`);

/**
 * The headers every sequence email carries: List-Id (RFC 2919: one list per sequence, named
 * `<sequence-id.list.sending-domain>`), List-Unsubscribe (RFC 2369: the https one-click URL
 * first, then a mailto: for clients without one-click when DRIP_UNSUBSCRIBE_MAILTO is set)
 * and List-Unsubscribe-Post (RFC 8058).
 */
export function listHeaders(links: EmailLinks, sequence: Pick<Sequence, "id" | "name">, list: ListContext): Record<string, string> {
  const unsubscribe = [`<${links.unsubscribe}>`];
  if (list.unsubscribeMailto) unsubscribe.push(`<mailto:${list.unsubscribeMailto}?subject=unsubscribe>`);
  return {
    "List-Id": `${phrase(sequence.name)} <${sequence.id}.list.${domainOf(list.from)}>`,
    "List-Unsubscribe": unsubscribe.join(", "),
    // RFC 8058 §3.1: mailbox providers POST "List-Unsubscribe=One-Click" to the https URL above.
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
    headers: listHeaders(input.links, input.sequence, input.list),
    tags: [
      { name: "sequence", value: input.sequence.id },
      { name: "step", value: step.id },
    ],
  };
}
