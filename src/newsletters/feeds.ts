/**
 * Blog-to-newsletter: a feed definition (newsletters/feeds.ts) points at the blog's RSS or
 * Atom feed. Each check is a conditional request (If-None-Match / If-Modified-Since), parsed
 * with @rowanmanning/feed-parser; every item's GUID goes into a ledger in the store, so an
 * item is turned into an issue once, whatever happens later (a second check, a restart, an
 * edit of the post's title). The first check only fills the ledger: the back catalogue is
 * never sent. A feed that is down or malformed is recorded and tried again at the next check;
 * nothing else stops.
 */
import { createHash } from "node:crypto";
import { parseFeed } from "@rowanmanning/feed-parser";
import { z } from "zod";
import type { FeedItemInput, Store } from "../store/types.ts";
import { blogButtonHtml, markdownToHtml } from "./markdown.ts";
import type { Newsletters } from "./service.ts";

export interface FeedDefinition {
  /** Permanent id: the GUID ledger is keyed on it. */
  id: string;
  /** The blog's RSS/Atom URL (the shipped definition reads DRIP_FEED_URL); undefined = off. */
  url: string | undefined;
  /** The topic whose members get the issues. */
  topic: string;
  /** One issue per new post. */
  cadence: { kind: "per-post" };
  /** draft: staff approve with `drip newsletter send|schedule`; send: at `local` in each reader's morning. */
  mode: { kind: "draft" } | { kind: "send"; local: string };
}

const definitionSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, { error: "id must be lower-case letters, digits and dashes" }),
  url: z.url({ error: "url must be an absolute URL (set DRIP_FEED_URL)" }).optional(),
  topic: z.string().min(1),
  cadence: z.object({ kind: z.literal("per-post") }),
  mode: z.union([
    z.object({ kind: z.literal("draft") }),
    z.object({ kind: z.literal("send"), local: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: "mode.local must be HH:MM, e.g. 09:00" }) }),
  ]),
});

/** newsletters/feeds.ts: `export default defineFeeds(({ feedUrl }) => [...])`. */
export function defineFeeds(build: (env: { feedUrl: string | undefined }) => FeedDefinition[]) {
  return (env: { feedUrl: string | undefined }): FeedDefinition[] => z.array(definitionSchema).parse(build(env)) as FeedDefinition[];
}

export interface FeedCheck {
  feedId: string;
  status: "off" | "first-poll" | "not-modified" | "checked" | "error";
  /** Items seen before the first poll (or older than it): remembered, never sent. */
  skipped: number;
  /** Issues created (drafts, or scheduled in send mode). */
  created: string[];
  message: string;
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

export async function checkFeed(def: FeedDefinition, deps: FeedDeps, now: Date): Promise<FeedCheck> {
  const { store } = deps;
  const result: FeedCheck = { feedId: def.id, status: "checked", skipped: 0, created: [], message: "" };
  if (!def.url) return { ...result, status: "off", message: "no feed URL (set DRIP_FEED_URL)" };
  const state = await store.getFeedState(def.id);
  const first = state === null;
  const headers: Record<string, string> = { Accept: "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5" };
  if (state?.etag) headers["If-None-Match"] = state.etag;
  if (state?.lastModified) headers["If-Modified-Since"] = state.lastModified;
  const fail = async (message: string): Promise<FeedCheck> => {
    // Recorded and tried again at the next check; the first poll is not counted as done.
    if (state) await store.saveFeedState({ ...state, lastPolledAt: now, lastError: message });
    deps.log?.(`warning: feed ${def.id}: ${message}; will try again at the next check`);
    return { ...result, status: "error", message };
  };
  let res: Response;
  try {
    res = await (deps.fetch ?? fetch)(def.url, { headers, signal: AbortSignal.timeout(15_000), redirect: "follow" });
  } catch (err) {
    return fail(`could not fetch ${def.url}: ${(err as Error).message}`);
  }
  if (res.status === 304 && state) {
    await store.saveFeedState({ ...state, lastPolledAt: now, lastError: null });
    return { ...result, status: "not-modified", message: "not modified since the last check" };
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
          description: i.description ?? i.content ?? "",
        },
      ];
    });
  } catch (err) {
    return fail(`${def.url} is not a readable RSS or Atom feed: ${(err as Error).message}`);
  }
  const validators = { etag: res.headers.get("etag"), lastModified: res.headers.get("last-modified") };
  const descriptions = new Map(items.map((i) => [i.guid, (i as FeedItemInput & { description: string }).description]));
  const ledger = items.map(({ guid, title, url, publishedAt }) => ({ guid, title, url, publishedAt }));
  const fresh = await store.recordFeedItems(def.id, ledger, now);
  const firstPolledAt = state?.firstPolledAt ?? now;
  if (first) {
    await store.saveFeedState({ feedId: def.id, ...validators, firstPolledAt: now, lastPolledAt: now, lastError: null });
    return {
      ...result,
      status: "first-poll",
      skipped: fresh.length,
      message: `first check: ${fresh.length} existing item${fresh.length === 1 ? "" : "s"} remembered and skipped (the back catalogue is never sent); new posts from now on become issues`,
    };
  }
  for (const item of fresh) {
    // A post dated before the first check that shows up only now is back catalogue too.
    if (item.publishedAt && item.publishedAt < firstPolledAt) {
      result.skipped++;
      continue;
    }
    const id = issueIdFor(def.id, item.guid, item.title);
    const summary = plain(descriptions.get(item.guid) ?? "").slice(0, 400);
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
  await store.saveFeedState({ feedId: def.id, ...validators, firstPolledAt, lastPolledAt: now, lastError: null });
  result.message = `${result.created.length} new post${result.created.length === 1 ? "" : "s"}${def.mode.kind === "send" ? ` scheduled for ${def.mode.local} in each reader's zone` : " saved as drafts (approve with drip newsletter send|schedule)"}${result.skipped ? `; ${result.skipped} older than the first check skipped` : ""}`;
  return result;
}
