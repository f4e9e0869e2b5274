/**
 * Blog-to-newsletter: a feed definition (newsletters/feeds.ts) points at the blog's RSS or
 * Atom feed. Each check is a conditional request (If-None-Match / If-Modified-Since), parsed
 * with @rowanmanning/feed-parser; every item's GUID goes into a ledger in the store, so an
 * item is turned into an issue once, whatever happens later (a second check, a restart, an
 * edit of the post's title). The first check only fills the ledger: the back catalogue is
 * never sent. A feed that is down or malformed is recorded and tried again at the next check;
 * nothing else stops.
 *
 * Cadence: one issue per new post, or a weekly digest. A digest collects the posts the ledger
 * holds in no issue yet (seen since the first poll) into one issue on the given weekday in the
 * clinic's zone (the first check on or after that day's `at`; a check missed on the day makes
 * it at the next one). The week it was made for is stored with the issue's link to its posts in
 * one transaction, so a restart, a second check or an edited post never makes it twice; an
 * empty week makes nothing and says so.
 */
import { createHash } from "node:crypto";
import { parseFeed } from "@rowanmanning/feed-parser";
import { Temporal } from "temporal-polyfill";
import { z } from "zod";
import { formatPath } from "../sequences/errors.ts";
import type { FeedItemInput, FeedState, Store } from "../store/types.ts";
import { blogButtonHtml, markdownToHtml } from "./markdown.ts";
import type { Newsletters } from "./service.ts";

export interface FeedDefinition {
  /** Permanent id: the GUID ledger is keyed on it. */
  id: string;
  /** The blog's RSS/Atom URL (the shipped definition reads DRIP_FEED_URL); undefined = off. */
  url: string | undefined;
  /** The topic whose members get the issues. */
  topic: string;
  /** One issue per new post, or a weekly digest of the new posts (see FeedCadence). */
  cadence: FeedCadence;
  /** draft: staff approve with `drip newsletter send|schedule`; send: at `local` in each reader's morning. */
  mode: { kind: "draft" } | { kind: "send"; local: string };
}

export const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * `{ kind: "per-post" }`: an issue for each new post. `{ digest: "weekly", weekday, at?, title? }`:
 * one issue a week with every post since the last digest (title, link, summary), made on
 * `weekday` from `at` (HH:MM, default 00:00) in the clinic's zone (the default sequence's);
 * `title` heads the issue and starts its subject (default "This week on the blog").
 */
export type FeedCadence = { kind: "per-post" } | { digest: "weekly"; weekday: Weekday; at?: string; title?: string };

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

const definitionSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, { error: "id must be lower-case letters, digits and dashes" }),
  url: z.url({ error: "url must be an absolute URL (set DRIP_FEED_URL)" }).optional(),
  topic: z.string().min(1),
  cadence: z.union(
    [
      z.object({ kind: z.literal("per-post") }).strict(),
      z
        .object({
          digest: z.literal("weekly", { error: 'cadence.digest must be "weekly"' }),
          weekday: z.enum(WEEKDAYS, { error: `cadence.weekday must be one of ${WEEKDAYS.join(", ")}` }),
          at: z.string().regex(HHMM, { error: "cadence.at must be HH:MM, e.g. 07:00" }).optional(),
          title: z.string().trim().min(1).max(80).optional(),
        })
        .strict(),
    ],
    { error: 'cadence must be { kind: "per-post" } or { digest: "weekly", weekday: "monday" }' },
  ),
  mode: z.union([
    z.object({ kind: z.literal("draft") }),
    z.object({ kind: z.literal("send"), local: z.string().regex(HHMM, { error: "mode.local must be HH:MM, e.g. 09:00" }) }),
  ]),
});

/** newsletters/feeds.ts: `export default defineFeeds(({ feedUrl }) => [...])`. */
export function defineFeeds(build: (env: { feedUrl: string | undefined }) => FeedDefinition[]) {
  return (env: { feedUrl: string | undefined }): FeedDefinition[] => {
    // One sentence naming the key (feeds[0].cadence.weekday: …), as drip validate prints it.
    const parsed = z.array(definitionSchema).safeParse(build(env));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`feeds${formatPath(issue.path)}: ${issue.message}`);
    }
    const seen = new Set<string>();
    for (const f of parsed.data) {
      if (seen.has(f.id)) throw new Error(`feed id "${f.id}" is declared twice`);
      seen.add(f.id);
    }
    return parsed.data as FeedDefinition[];
  };
}

export interface FeedCheck {
  feedId: string;
  status: "off" | "first-poll" | "not-modified" | "checked" | "error";
  /** Items seen before the first poll (or older than it): remembered, never sent. */
  skipped: number;
  /** Issues created (drafts, or scheduled in send mode). */
  created: string[];
  /** Weekly digest cadence: the week due (its local date) and what this check did about it. */
  digest?: { week: string; outcome: "created" | "empty" | "done" | "waiting"; next: string };
  message: string;
}

/** Is this definition a weekly digest? */
export const isDigest = (c: FeedCadence): c is Extract<FeedCadence, { digest: "weekly" }> => "digest" in c;

/** A human line for the cadence ("one issue per post", "weekly digest on monday from 07:00"). */
export const describeCadence = (c: FeedCadence) => (isDigest(c) ? `weekly digest on ${c.weekday} from ${c.at ?? "00:00"}` : "one issue per post");

/**
 * The digest week that is due at `now`: the local date of the latest `weekday` whose `at` has
 * come in `zone`, today's local date, and the next digest day.
 */
export function digestWeek(c: { weekday: Weekday; at?: string }, zone: string, now: Date): { due: string; today: string; next: string } {
  const here = Temporal.Instant.fromEpochMilliseconds(now.getTime()).toZonedDateTimeISO(zone);
  const today = here.toPlainDate();
  const back = (today.dayOfWeek - (WEEKDAYS.indexOf(c.weekday) + 1) + 7) % 7;
  let due = today.subtract({ days: back });
  if (back === 0 && Temporal.PlainTime.compare(here.toPlainTime(), Temporal.PlainTime.from(c.at ?? "00:00")) < 0) due = due.subtract({ days: 7 });
  return { due: due.toString(), today: today.toString(), next: due.add({ days: 7 }).toString() };
}

export interface FeedDeps {
  store: Store;
  newsletters: Newsletters;
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

const slugify = (s: string) =>
  s
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^\w\s-]/g, "")
    .trim()
    .replace(/[\s_]+/g, "-")
    .replace(/-+/g, "-")
    .slice(0, 50)
    .replace(/-$/, "");

/** An issue id for a feed item: its title, plus a short hash of its GUID (stable, unique). */
export const issueIdFor = (feedId: string, guid: string, title: string) =>
  `${feedId}-${slugify(title) || "post"}-${createHash("sha256").update(guid).digest("hex").slice(0, 6)}`;

const escapeMd = (s: string) => s.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!).replace(/([\\`*_[\]#])/g, "\\$1");
const plain = (html: string) =>
  html
    .replace(/<[^>]*>/g, " ")
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/\s+/g, " ")
    .trim();

const safeHttps = (url: string | null) => {
  if (!url?.startsWith("https://")) return null;
  try {
    return new URL(url).href;
  } catch {
    return null;
  }
};

export async function checkFeed(def: FeedDefinition, deps: FeedDeps, now: Date): Promise<FeedCheck> {
  const { store } = deps;
  const digest = isDigest(def.cadence);
  const result: FeedCheck = { feedId: def.id, status: "checked", skipped: 0, created: [], message: "" };
  if (!def.url) return { ...result, status: "off", message: "no feed URL (set DRIP_FEED_URL)" };
  const state = await store.getFeedState(def.id);
  const first = state === null;
  const headers: Record<string, string> = { Accept: "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5" };
  if (state?.etag) headers["If-None-Match"] = state.etag;
  if (state?.lastModified) headers["If-Modified-Since"] = state.lastModified;
  // A weekly digest is made from the ledger, so it is due whatever the feed answered this time.
  const thenDigest = async (r: FeedCheck): Promise<FeedCheck> => (digest && !first ? weeklyDigest(def, deps, now, r) : r);
  const fail = async (message: string): Promise<FeedCheck> => {
    // Recorded and tried again at the next check; the first poll is not counted as done.
    if (state) await store.saveFeedState({ ...state, lastPolledAt: now, lastError: message });
    deps.log?.(`warning: feed ${def.id}: ${message}; will try again at the next check`);
    return thenDigest({ ...result, status: "error", message });
  };
  let res: Response;
  try {
    res = await (deps.fetch ?? fetch)(def.url, { headers, signal: AbortSignal.timeout(15_000), redirect: "follow" });
  } catch (err) {
    return fail(`could not fetch ${def.url}: ${(err as Error).message}`);
  }
  if (res.status === 304 && state) {
    await store.saveFeedState({ ...state, lastPolledAt: now, lastError: null });
    return thenDigest({ ...result, status: "not-modified", message: "not modified since the last check" });
  }
  if (!res.ok) return fail(`${def.url} answered ${res.status}`);
  let items: FeedItemInput[];
  try {
    const feed = parseFeed(await res.text());
    items = feed.items.flatMap((i) => {
      const guid = i.id ?? i.url ?? null;
      if (!guid) return [];
      return [
        {
          guid,
          title: (i.title ?? "").trim() || "New post",
          url: i.url ?? null,
          publishedAt: i.published ?? i.updated ?? null,
          summary: plain(i.description ?? i.content ?? "").slice(0, 400),
        },
      ];
    });
  } catch (err) {
    return fail(`${def.url} is not a readable RSS or Atom feed: ${(err as Error).message}`);
  }
  const validators = { etag: res.headers.get("etag"), lastModified: res.headers.get("last-modified") };
  const fresh = await store.recordFeedItems(def.id, items, now);
  const firstPolledAt = state?.firstPolledAt ?? now;
  if (first) {
    // A digest's first week is the one under way: the back catalogue never makes one.
    const lastDigestOn = isDigest(def.cadence) ? digestWeek(def.cadence, deps.newsletters.clinicZone(), now).due : null;
    await store.saveFeedState({ feedId: def.id, ...validators, firstPolledAt: now, lastPolledAt: now, lastError: null, lastDigestOn });
    return {
      ...result,
      status: "first-poll",
      skipped: fresh.length,
      message: `first check: ${fresh.length} existing item${fresh.length === 1 ? "" : "s"} remembered and skipped (the back catalogue is never sent); new posts from now on become issues`,
    };
  }
  let waiting = 0;
  for (const item of fresh) {
    // A post dated before the first check that shows up only now is back catalogue too.
    if (item.publishedAt && item.publishedAt < firstPolledAt) {
      result.skipped++;
      continue;
    }
    // A digest collects it later (pendingFeedItems).
    if (digest) {
      waiting++;
      continue;
    }
    const id = issueIdFor(def.id, item.guid, item.title);
    const summary = item.summary ?? "";
    const markdown = `# ${escapeMd(item.title)}\n\n${summary ? escapeMd(summary) : "A new article is up on our blog."}\n`;
    const safeUrl = item.url?.startsWith("https://") ? item.url : null;
    await deps.newsletters.saveDraft(
      {
        id,
        topicId: def.topic,
        subject: item.title.slice(0, 150),
        preview: (summary || `New on the blog: ${item.title}`).slice(0, 200),
        bodyHtml: markdownToHtml(markdown) + (safeUrl ? blogButtonHtml(safeUrl) : ""),
        source: `feed:${def.id}`,
      },
      now,
    );
    await store.linkFeedItem(def.id, item.guid, id);
    if (def.mode.kind === "send") {
      const date = now.toISOString().slice(0, 10);
      await deps.newsletters.schedule(id, { kind: "local", time: def.mode.local, date, ifPassed: "next-day" }, now);
    }
    result.created.push(id);
  }
  await store.saveFeedState({ feedId: def.id, ...validators, firstPolledAt, lastPolledAt: now, lastError: null, lastDigestOn: state?.lastDigestOn ?? null });
  const older = result.skipped ? `; ${result.skipped} older than the first check skipped` : "";
  result.message = digest
    ? `${waiting} new post${waiting === 1 ? "" : "s"} kept for the weekly digest${older}`
    : `${result.created.length} new post${result.created.length === 1 ? "" : "s"}${def.mode.kind === "send" ? ` scheduled for ${def.mode.local} in each reader's zone` : " saved as drafts (approve with drip newsletter send|schedule)"}${older}`;
  return thenDigest(result);
}

/**
 * The weekly digest step of a check: when a digest week has come that was not handled yet,
 * collect every pending post into one issue (or record the week as empty), in one transaction
 * with the week's mark; then schedule it in send mode.
 */
async function weeklyDigest(def: FeedDefinition, deps: FeedDeps, now: Date, result: FeedCheck): Promise<FeedCheck> {
  if (!isDigest(def.cadence)) return result;
  const cadence = def.cadence;
  const { due, today, next } = digestWeek(cadence, deps.newsletters.clinicZone(), now);
  const day = `${cadence.weekday} ${due}`;
  const id = `${def.id}-digest-${due}`;
  const say = (outcome: NonNullable<FeedCheck["digest"]>["outcome"], line: string): FeedCheck => ({
    ...result,
    digest: { week: due, outcome, next },
    message: `${result.message}; ${line}`,
  });
  const made = await deps.store.transaction(async (tx): Promise<{ outcome: "done" | "empty" | "created"; posts: number }> => {
    const state = (await tx.getFeedState(def.id)) as FeedState;
    if (state.lastDigestOn !== null && state.lastDigestOn >= due) return { outcome: "done", posts: 0 };
    const items = await tx.pendingFeedItems(def.id);
    await tx.saveFeedState({ ...state, lastDigestOn: due });
    if (items.length === 0) return { outcome: "empty", posts: 0 };
    const title = cadence.title ?? "This week on the blog";
    const lines = [`# ${escapeMd(title)}`, ""];
    for (const item of items) {
      const url = safeHttps(item.url);
      lines.push(url ? `## [${escapeMd(item.title)}](<${url}>)` : `## ${escapeMd(item.title)}`, "");
      if (item.summary) lines.push(escapeMd(item.summary), "");
      if (url) lines.push(`[Read it on the blog](<${url}>)`, "");
    }
    const more = items.length > 1 ? ` and ${items.length - 1} more` : "";
    await deps.newsletters.saveDraft(
      {
        id,
        topicId: def.topic,
        subject: `${title}: ${items[0]!.title}`.slice(0, 150 - more.length) + more,
        preview: items
          .map((i) => i.title)
          .join(" · ")
          .slice(0, 200),
        bodyHtml: markdownToHtml(lines.join("\n")),
        source: `feed:${def.id}`,
      },
      now,
      tx,
    );
    for (const item of items) await tx.linkFeedItem(def.id, item.guid, id);
    return { outcome: "created", posts: items.length };
  });
  if (made.outcome === "done") return say("waiting", `the digest for ${day} is done; the next is due ${cadence.weekday} ${next}`);
  if (made.outcome === "empty") return say("empty", `no new posts since the last digest: no digest for ${day}`);
  if (def.mode.kind === "send") await deps.newsletters.schedule(id, { kind: "local", time: def.mode.local, date: today, ifPassed: "next-day" }, now);
  result.created.push(id);
  const late = today !== due ? ` (made late, on ${today}: no check ran on the day)` : "";
  return say(
    "created",
    `the digest for ${day}${late} collects ${made.posts} post${made.posts === 1 ? "" : "s"}: ${def.mode.kind === "send" ? `scheduled for ${def.mode.local} in each reader's zone` : "saved as a draft (approve with drip newsletter send|schedule)"}`,
  );
}
