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

  /**
   * The newsletter lane's send-time rules, read fresh (the engine runs them when it claims a
   * delivery and again right before every provider request for a written batch): the issue
   * still exists and is not cancelled, its topic is still declared, and the reader is still a
   * member of it (leaving the topic since scheduling wins). Returns the deliveries that must not
   * go out, by send id, with the reason.
   */
  async check(claims: readonly ClaimedSend[], now: Date): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const byIssue = new Map<string, ClaimedSend[]>();
    for (const c of claims) {
      const id = issueIdOf(c.sequenceId);
      if (id !== null) byIssue.set(id, [...(byIssue.get(id) ?? []), c]);
    }
    for (const [issueId, group] of byIssue) {
      // Cancellation is read fresh: a cached "scheduled" must not outlive a cancel.
      this.cache.delete(issueId);
      const issue = await this.issue(issueId, now);
      const topic = issue ? this.o.topics.topics().find((t) => t.id === issue.topicId) : undefined;
      const all = !issue
        ? `issue "${issueId}" no longer exists`
        : issue.status === "cancelled"
          ? "cancelled"
          : !topic
            ? `topic "${issue.topicId}" is no longer declared`
            : null;
      if (all) {
        for (const c of group) out.set(c.sendId, all);
        continue;
      }
      const members = await this.o.store.topicMembersAmong(
        topic!.id,
        group.map((c) => c.subscriber.id),
      );
      for (const c of group) if (!members.has(c.subscriber.id)) out.set(c.sendId, "left the topic");
    }
    return out;
  }

  async prepare(claim: ClaimedSend, now: Date): Promise<{ message: OutgoingMessage } | { skip: string }> {
    const skip = (await this.check([claim], now)).get(claim.sendId);
    if (skip) return { skip };
    const issueId = issueIdOf(claim.sequenceId)!;
    const issue = (await this.issue(issueId, now))!;
    const topic = this.o.topics.topics().find((t) => t.id === issue.topicId)!;
    const sub = claim.subscriber;
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
