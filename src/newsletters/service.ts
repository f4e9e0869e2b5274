/**
 * Newsletter operations as plain functions over the store: list, preview, test, audience,
 * schedule, send, cancel, status, missing. The CLI (`drip newsletter …`) and the staff
 * dashboard both call these; nothing here reads the clock (`now` is an input) or prints.
 *
 * Scheduling snapshots the issue: its subject, preview and body are stored with the schedule,
 * and that snapshot is what goes out. Editing the file afterwards changes nothing until staff
 * schedule (or send) again, which re-plans what has not gone out with the new snapshot.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Transport, outgoingMessage } from "../delivery/transport.ts";
import { DripError } from "../errors.ts";
import { emailSchema } from "../lifecycle/input.ts";
import type { LinkContext } from "../render/links.ts";
import { buildLinks } from "../render/links.ts";
import type { RenderedEmail } from "../render/render.ts";
import { formatIssue } from "../sequences/errors.ts";
import type { AudienceFilter, IssueReport, IssueSchedule, IssueSnapshot, MissingRecipient, Store, Subscriber } from "../store/types.ts";
import { signToken } from "../tokens.ts";
import { type IssueFile, SLUG, loadIssueFiles, parseIssue } from "./issue-file.ts";
import { issueWebUrl, renderIssue, topicUnsubscribeUrl } from "./render.ts";
import type { Topic, TopicSource } from "./topics.ts";
import { isCalendarDate, localPlan } from "./when.ts";

export interface NewslettersOptions {
  store: Store;
  topics: TopicSource;
  /** DRIP_NEWSLETTERS_DIR (issue files). */
  dir: string;
  emailsDir: string;
  links: LinkContext;
  secret: string;
  from: string;
  unsubscribeMailto?: string | undefined;
  postalAddress: string;
  transport: Transport;
  sender: () => { name: string; organization: string };
  /** Zone for subscribers without a valid one (the default sequence's). */
  defaultZone: () => string;
}

export type When = { kind: "at"; at: Date } | { kind: "local"; time: string; date: string; ifPassed?: "next-day" | "now" } | { kind: "now" };

export interface ScheduleResult {
  issueId: string;
  planned: number;
  first: Date;
  last: Date;
  /** Zones whose local moment had already passed (handled as `ifPassed` said). */
  passed: string[];
  /** It was scheduled before: the new snapshot and times replace what had not gone out. */
  rescheduled: boolean;
}

export interface IssueListing {
  id: string;
  subject: string;
  topicId: string;
  /** "file" (not scheduled yet), draft, scheduled, cancelled. */
  status: string;
  source: string;
  file: string | null;
  /** The file differs from the scheduled snapshot (edited after scheduling). */
  editedSinceScheduled: boolean;
  publishedAt: Date | null;
  report: IssueReport | null;
}

const SAMPLE: Subscriber = {
  id: "sample",
  email: "sam@example.com",
  name: "Sam",
  timezone: "Europe/London",
  status: "active",
  tags: [],
  consentSource: null,
  consentAt: null,
  consentIp: null,
  createdAt: new Date(0),
  unsubscribedAt: null,
};

export class Newsletters {
  constructor(private readonly o: NewslettersOptions) {}

  topics(): readonly Topic[] {
    return this.o.topics.topics();
  }

  private topic(id: string): Topic {
    const t = this.topics().find((x) => x.id === id);
    if (!t) throw new DripError("config", `topic "${id}" is not declared in newsletters/topics.ts`);
    return t;
  }

  /** The clinic's zone (the default sequence's): where a feed's weekly digest day is counted. */
  clinicZone(): string {
    return this.o.defaultZone();
  }

  /** Every issue file, validated; problems as `drip validate` prints them. */
  files() {
    return loadIssueFiles(this.o.dir, this.topics());
  }

  /** One issue file by id, validated; null when there is no such file. */
  file(id: string): IssueFile | null {
    if (!SLUG.test(id)) throw new DripError("usage", `"${id}" is not an issue id: ids are file names in newsletters/ without .md`);
    const path = join(this.o.dir, `${id}.md`);
    if (!existsSync(path)) return null;
    const { issue, issues } = parseIssue(path, readFileSync(path, "utf8"), this.topics());
    if (!issue)
      throw new DripError("invalid_input", `${issues.length} problem${issues.length === 1 ? "" : "s"} in ${path}:\n${issues.map(formatIssue).join("\n")}`);
    return issue;
  }

  /** The content that would go out now: the file if there is one, else the stored snapshot (a feed draft). */
  private async content(
    id: string,
  ): Promise<{ snapshot: Omit<IssueSnapshot, "createdAt" | "updatedAt" | "status" | "schedule" | "publishedAt">; stored: IssueSnapshot | null }> {
    const stored = await this.o.store.getIssue(id);
    const f = this.file(id);
    if (f) {
      return {
        snapshot: {
          id,
          topicId: f.topicId,
          subject: f.subject,
          preview: f.preview,
          bodyHtml: f.bodyHtml,
          template: f.template,
          audience: f.audience,
          source: "file",
        },
        stored,
      };
    }
    if (stored) return { snapshot: stored, stored };
    const known = (await this.list()).map((i) => i.id);
    throw new DripError(
      "not_found",
      `no newsletter issue "${id}"${known.length ? `: known issues are ${known.join(", ")} (see drip newsletter list)` : ": add one as newsletters/<id>.md"}`,
    );
  }

  async list(): Promise<IssueListing[]> {
    const { issues: files } = this.files();
    const stored = new Map((await this.o.store.listIssues()).map((i) => [i.id, i]));
    const out: IssueListing[] = [];
    for (const f of files) {
      const s = stored.get(f.id);
      stored.delete(f.id);
      out.push({
        id: f.id,
        subject: s?.subject ?? f.subject,
        topicId: f.topicId,
        status: s?.status ?? "file",
        source: "file",
        file: f.file,
        editedSinceScheduled: Boolean(s && s.status === "scheduled" && (s.subject !== f.subject || s.preview !== f.preview || s.bodyHtml !== f.bodyHtml)),
        publishedAt: s?.publishedAt ?? null,
        report: s && s.status !== "draft" ? await this.o.store.issueReport(f.id) : null,
      });
    }
    for (const s of stored.values())
      out.push({
        id: s.id,
        subject: s.subject,
        topicId: s.topicId,
        status: s.status,
        source: s.source,
        file: null,
        editedSinceScheduled: false,
        publishedAt: s.publishedAt,
        report: s.status !== "draft" ? await this.o.store.issueReport(s.id) : null,
      });
    return out;
  }

  /** Render an issue for one reader (a sample one by default): what preview and test show. */
  async render(id: string, subscriber: Subscriber = SAMPLE): Promise<RenderedEmail> {
    const { snapshot } = await this.content(id);
    return this.renderFor(snapshot, subscriber);
  }

  private renderFor(issue: Pick<IssueSnapshot, "id" | "topicId" | "subject" | "preview" | "bodyHtml" | "template">, subscriber: Subscriber) {
    const topic = this.topic(issue.topicId);
    const token = signToken(this.o.secret, "manage", subscriber.id);
    const links = {
      ...buildLinks(this.o.links, token, `newsletter-${issue.id}`, "issue"),
      unsubscribe: topicUnsubscribeUrl(this.o.links.publicUrl, token, topic.id, issue.id),
    };
    return renderIssue({
      issue,
      topic,
      subscriber,
      links,
      webUrl: issueWebUrl(this.o.links.publicUrl, issue.id),
      sender: this.o.sender(),
      postalAddress: this.o.postalAddress,
      list: this.o,
      emailsDir: this.o.emailsDir,
    });
  }

  /** One email to `to` through the real transport, subject prefixed [Test]; nothing is recorded. */
  async test(id: string, to: string, now: Date): Promise<{ ok: boolean; detail: string }> {
    const address = emailSchema.safeParse(to);
    if (!address.success) throw new DripError("usage", `--to "${to}" is not an email address`);
    const email = await this.render(id, { ...SAMPLE, id: "test", email: address.data, name: "" });
    const sender = this.o.sender();
    const message = outgoingMessage(
      `test-${id}-${randomUUID()}`,
      { name: sender.name, address: this.o.from },
      address.data,
      { ...email, subject: `[Test] ${email.subject}` },
      now,
    );
    const r = await this.o.transport.send(message);
    return r.ok ? { ok: true, detail: r.providerMessageId ?? "sent" } : { ok: false, detail: r.reason };
  }

  async audience(id: string, sample = 10): Promise<{ issueId: string; filter: AudienceFilter; count: number; sample: Subscriber[] }> {
    const { snapshot } = await this.content(id);
    const r = await this.o.store.audience(snapshot.audience, sample);
    return { issueId: id, filter: snapshot.audience, ...r };
  }

  /**
   * Snapshot the issue and plan one delivery per audience member (set-based). Scheduling
   * again re-plans what has not gone out, with the new snapshot; sent ones are never re-sent.
   */
  async schedule(id: string, when: When, now: Date): Promise<ScheduleResult> {
    const { snapshot, stored } = await this.content(id);
    this.topic(snapshot.topicId);
    let schedule: IssueSchedule;
    let first: Date;
    let last: Date;
    let passed: string[] = [];
    let plan: { byZone: Record<string, number>; fallback: number };
    if (when.kind === "local") {
      if (!isCalendarDate(when.date)) throw new DripError("usage", `--date "${when.date}" must be a calendar date written YYYY-MM-DD`);
      if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(when.time)) throw new DripError("usage", `--local "${when.time}" must be a 24-hour time HH:MM, e.g. 09:00`);
      const zones = await this.o.store.audienceZones(snapshot.audience);
      const lp = localPlan(zones, when.date, when.time, this.o.defaultZone(), now, when.ifPassed);
      if (lp.passed.length > 0 && !when.ifPassed)
        throw new DripError(
          "usage",
          `${when.time} on ${when.date} has already passed in ${lp.passed.length} of the audience's zones (${lp.passed.slice(0, 5).join(", ")}${lp.passed.length > 5 ? ", …" : ""}): add --if-passed next-day (their ${when.time} the next day) or --if-passed now (send those at once)`,
        );
      ({ plan, first, last, passed } = lp);
      schedule = { kind: "local", time: when.time, date: when.date, passed: when.ifPassed ?? "next-day" };
    } else {
      const at = when.kind === "at" ? when.at : now;
      plan = { byZone: {}, fallback: at.getTime() };
      first = last = at;
      schedule = { kind: "at", at: at.toISOString() };
    }
    const planned = await this.o.store.transaction(async (tx) => {
      await tx.saveIssue({ ...snapshot, status: "scheduled", schedule, publishedAt: first }, now);
      return tx.planDeliveries(id, snapshot.audience, plan, now);
    });
    return { issueId: id, planned, first, last, passed, rescheduled: stored?.status === "scheduled" };
  }

  /**
   * The audience's zones where `time` on `date` has already passed at `now`: what `schedule`
   * asks about (next day or now) before it plans a local-time send. Nothing is written.
   */
  async passedZones(id: string, time: string, date: string, now: Date): Promise<string[]> {
    const { snapshot } = await this.content(id);
    const zones = await this.o.store.audienceZones(snapshot.audience);
    return localPlan(zones, date, time, this.o.defaultZone(), now).passed;
  }

  /** Cancel: what has not gone out stays unsent. Returns how many deliveries were cancelled. */
  async cancel(id: string, now: Date): Promise<number> {
    const stored = await this.o.store.getIssue(id);
    if (!stored || stored.status === "draft") throw new DripError("not_found", `issue "${id}" is not scheduled: nothing to cancel`);
    return this.o.store.cancelDeliveries(id, now);
  }

  async status(id: string): Promise<{ issue: IssueSnapshot; report: IssueReport }> {
    const issue = await this.o.store.getIssue(id);
    if (!issue) throw new DripError("not_found", `issue "${id}" has not been scheduled or sent (see drip newsletter list)`);
    return { issue, report: await this.o.store.issueReport(id) };
  }

  async missing(id: string, limit = 10_000): Promise<MissingRecipient[]> {
    await this.status(id);
    return this.o.store.missingRecipients(id, limit);
  }

  /** A draft made from outside a file (a feed item): stored, not planned. */
  async saveDraft(
    draft: Pick<IssueSnapshot, "id" | "topicId" | "subject" | "preview" | "bodyHtml" | "source">,
    now: Date,
    q: Store = this.o.store,
  ): Promise<void> {
    await q.saveIssue({ ...draft, status: "draft", template: null, audience: { topicId: draft.topicId }, schedule: null, publishedAt: null }, now);
  }
}
