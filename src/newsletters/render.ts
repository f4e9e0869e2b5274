/**
 * One newsletter issue for one subscriber: the stored snapshot's body in the course layout,
 * with this reader's links (one-click leave of *this topic*, preferences, view in browser),
 * a text part and the list headers (List-Id names the topic, RFC 2919). Deterministic, like
 * course steps: a re-sent batch carries the same bytes.
 */
import { join } from "node:path";
import type { ComponentType } from "react";
import Newsletter, { type NewsletterEmailProps } from "../../emails/newsletter.tsx";
import { listHeaders, type ListContext, type RenderedEmail } from "../render/render.ts";
import { renderReactEmail } from "../render/react.ts";
import { htmlToText } from "../render/text.ts";
import type { EmailLinks, SubscriberFields } from "../sequences/types.ts";
import type { IssueSnapshot } from "../store/types.ts";
import type { Topic } from "./topics.ts";
import { ensureTypeScript } from "../typescript-imports.ts";

export interface IssueRenderInput {
  issue: Pick<IssueSnapshot, "id" | "subject" | "preview" | "bodyHtml" | "template">;
  topic: Topic;
  subscriber: SubscriberFields;
  /** `unsubscribe` leaves this topic (see topicLinks). */
  links: EmailLinks;
  webUrl: string;
  sender: { name: string; organization: string };
  postalAddress: string;
  list: ListContext;
  emailsDir: string;
}

/** The archive page of an issue. */
export const issueWebUrl = (publicUrl: string, issueId: string) => `${publicUrl.replace(/\/+$/, "")}/newsletters/${issueId}`;

/** A reader's one-click link that leaves one topic (the page offers leaving everything too). */
export function topicUnsubscribeUrl(publicUrl: string, token: string, topicId: string, issueId: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/unsubscribe/${token}?topic=${encodeURIComponent(topicId)}&issue=${encodeURIComponent(issueId)}`;
}

const templates = new Map<string, ComponentType<NewsletterEmailProps>>();

/** A custom template named in the front matter (emails/<name>.tsx), loaded once. */
export async function loadIssueTemplate(emailsDir: string, name: string | null): Promise<ComponentType<NewsletterEmailProps>> {
  if (!name) return Newsletter;
  const path = join(emailsDir, name);
  let t = templates.get(path);
  if (!t) {
    await ensureTypeScript();
    const mod = (await import(path)) as { default?: ComponentType<NewsletterEmailProps> };
    if (typeof mod.default !== "function") throw new Error(`${name} has no default export (a React Email component)`);
    t = mod.default;
    templates.set(path, t);
  }
  return t;
}

export async function renderIssue(input: IssueRenderInput): Promise<RenderedEmail> {
  const { issue, topic } = input;
  const template = await loadIssueTemplate(input.emailsDir, issue.template);
  const html = renderReactEmail(template, {
    preview: issue.preview,
    subscriber: input.subscriber,
    links: input.links,
    sender: { ...input.sender, postalAddress: input.postalAddress },
    reason: `You're getting this because you chose to receive ${topic.name} from ${input.sender.organization}.`,
    bodyHtml: issue.bodyHtml,
    webUrl: input.webUrl,
  });
  const headers = listHeaders(input.links, { id: topic.id, name: topic.name }, input.list);
  // One list per topic: <topic.topics.sending-domain>, apart from the sequences' lists.
  headers["List-Id"] = headers["List-Id"]!.replace(`<${topic.id}.list.`, `<${topic.id}.topics.`);
  return {
    subject: issue.subject,
    preview: issue.preview,
    html,
    text: htmlToText(html),
    headers,
    tags: [
      { name: "newsletter", value: issue.id },
      { name: "topic", value: topic.id },
    ],
  };
}
