/**
 * What the engine asks of newsletters when it has claimed a delivery: re-check it at send
 * time against the stored issue (cancelled?) and the topic (left since scheduling?), then
 * render the snapshot for this reader. Everything else (claims, batches, keys, rate limit,
 * retries, recovery, recording) is the course path in src/engine/.
 */
import { type OutgoingMessage, outgoingMessage } from "../delivery/transport.ts";
import type { NewsletterSource } from "../engine/engine.ts";
import type { LinkContext } from "../render/links.ts";
import { buildLinks } from "../render/links.ts";
import type { ClaimedSend, IssueSnapshot, NewsletterStore } from "../store/types.ts";
import { issueIdOf } from "../store/types.ts";
import { signToken } from "../tokens.ts";
import { issueWebUrl, renderIssue, topicUnsubscribeUrl } from "./render.ts";
import type { TopicSource } from "./topics.ts";

export interface NewsletterDeliveryOptions {
  store: Pick<NewsletterStore, "getIssue" | "topicMembersAmong">;
  topics: TopicSource;
  links: LinkContext;
  secret: string;
  from: string;
  unsubscribeMailto?: string | undefined;
  postalAddress: string;
  emailsDir: string;
  /** Who the newsletter is from: the courses' sender (the default sequence), read when sending. */
  sender: () => { name: string; organization: string };
}

export class NewsletterDelivery implements NewsletterSource {
  /** Issues read during one tick (a page holds many deliveries of one issue); refreshed after a few seconds. */
  private cache = new Map<string, { issue: IssueSnapshot | null; at: number }>();
  constructor(private readonly o: NewsletterDeliveryOptions) {}

  private async issue(id: string, now: Date): Promise<IssueSnapshot | null> {
    const hit = this.cache.get(id);
    if (hit && Math.abs(now.getTime() - hit.at) < 5_000) return hit.issue;
    const issue = await this.o.store.getIssue(id);
    this.cache.set(id, { issue, at: now.getTime() });
    return issue;
  }

  async prepare(claim: ClaimedSend, now: Date): Promise<{ message: OutgoingMessage } | { skip: string }> {
    const issueId = issueIdOf(claim.sequenceId)!;
    // Cancellation is read fresh: a cached "scheduled" must not outlive a cancel.
    this.cache.delete(issueId);
    const issue = await this.issue(issueId, now);
    if (!issue) return { skip: `issue "${issueId}" no longer exists` };
    if (issue.status === "cancelled") return { skip: "cancelled" };
    const topic = this.o.topics.topics().find((t) => t.id === issue.topicId);
    if (!topic) return { skip: `topic "${issue.topicId}" is no longer declared` };
    const sub = claim.subscriber;
    // Re-check at send time: leaving the topic since scheduling wins.
    if (!(await this.o.store.topicMembersAmong(topic.id, [sub.id])).has(sub.id)) return { skip: "left the topic" };
    const token = signToken(this.o.secret, "manage", sub.id);
    const base = buildLinks(this.o.links, token, `newsletter-${issue.id}`, "issue");
    const links = { ...base, unsubscribe: topicUnsubscribeUrl(this.o.links.publicUrl, token, topic.id, issue.id) };
    const sender = this.o.sender();
    const email = await renderIssue({
      issue,
      topic,
      subscriber: sub,
      links,
      webUrl: issueWebUrl(this.o.links.publicUrl, issue.id),
      sender,
      postalAddress: this.o.postalAddress,
      list: this.o,
      emailsDir: this.o.emailsDir,
    });
    return {
      message: outgoingMessage(claim.sendId, { name: sender.name, address: this.o.from }, sub.email, email, now),
    };
  }
}
