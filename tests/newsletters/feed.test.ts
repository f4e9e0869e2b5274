/**
 * Done-when: a feed served from a local test server. The first check creates nothing for old
 * items; a new item produces one issue (a draft, or scheduled in send mode) carrying its title
 * and link; a second check, a restart (a new app on the same database) and an edit of the
 * item's title produce nothing more. Conditional requests (ETag, Last-Modified) are used, and
 * a feed that is down or malformed is recorded and retried without stopping anything.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { type FeedDefinition, checkFeed } from "../../src/newsletters/feeds.ts";
import { type App, createApp } from "../../src/wiring.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

afterAll(cleanupTempDirs);

interface Post {
  guid: string;
  title: string;
  link: string;
  date: string;
}
let posts: Post[];
let mode: "ok" | "down" | "garbage" = "ok";
let version = 1;
const log: { ifNoneMatch: string | undefined; ifModifiedSince: string | undefined; status: number }[] = [];
let server: Server;
let url: string;

const rss = () => `<?xml version="1.0"?><rss version="2.0"><channel><title>Body Heal Therapy blog</title><link>https://bodyhealtherapy.example/blog</link>
${posts.map((p) => `<item><guid isPermaLink="false">${p.guid}</guid><title>${p.title}</title><link>${p.link}</link><pubDate>${new Date(p.date).toUTCString()}</pubDate><description>&lt;p&gt;About ${p.title}.&lt;/p&gt;</description></item>`).join("")}
</channel></rss>`;

beforeEach(async () => {
  posts = [
    { guid: "post-1", title: "Old post one", link: "https://bodyhealtherapy.example/blog/one", date: "2026-12-01T08:00:00Z" },
    { guid: "post-2", title: "Old post two", link: "https://bodyhealtherapy.example/blog/two", date: "2026-12-20T08:00:00Z" },
  ];
  mode = "ok";
  version = 1;
  log.length = 0;
  server = createServer((req, res) => {
    const etag = `"v${version}"`;
    const lastModified = new Date(Date.UTC(2027, 0, 1) + version * 60_000).toUTCString();
    const entry = { ifNoneMatch: req.headers["if-none-match"], ifModifiedSince: req.headers["if-modified-since"], status: 200 };
    log.push(entry);
    if (mode === "down") {
      entry.status = 503;
      res.writeHead(503).end("down");
      return;
    }
    if (req.headers["if-none-match"] === etag) {
      entry.status = 304;
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "application/rss+xml", ETag: etag, "Last-Modified": lastModified });
    res.end(mode === "garbage" ? "this is not xml at all" : rss());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.xml`;
});
afterEach(async () => new Promise<void>((r) => server.close(() => r())));

async function openApp(dir: string): Promise<App> {
  return createApp(loadConfig({ DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_FEED_URL: url }));
}

const T1 = new Date("2027-01-04T12:00:00Z");
const later = (h: number) => new Date(T1.getTime() + h * 3_600_000);

describe("blog feed → newsletter issues", () => {
  it("first check skips the back catalogue; a new post makes one draft with its title and link; re-check, restart and a title edit add nothing", async () => {
    const dir = tempDir("drip-feed-");
    let app = await openApp(dir);
    const def = app.feeds.find((f) => f.id === "blog")!;
    expect(def.url).toBe(url);
    const deps = () => ({ store: app.store, newsletters: app.newsletters });
    try {
      const first = await checkFeed(def, deps(), T1);
      expect(first).toMatchObject({ status: "first-poll", skipped: 2, created: [] });
      expect(first.message).toMatch(/back catalogue is never sent/);
      expect(await app.store.listIssues()).toEqual([]);

      // Nothing changed: a conditional request answered 304.
      expect(await checkFeed(def, deps(), later(1))).toMatchObject({ status: "not-modified", created: [] });
      expect(log.at(-1)).toMatchObject({ ifNoneMatch: '"v1"', status: 304 });
      expect(log.at(-1)?.ifModifiedSince).toBeTruthy();

      posts.unshift({ guid: "post-3", title: "Why your outer knee aches", link: "https://bodyhealtherapy.example/blog/three", date: "2027-01-05T07:00:00Z" });
      version = 2;
      const third = await checkFeed(def, deps(), later(20));
      expect(third.status).toBe("checked");
      expect(third.created).toHaveLength(1);
      const issue = (await app.store.getIssue(third.created[0]!))!;
      expect(issue).toMatchObject({ status: "draft", subject: "Why your outer knee aches", topicId: "weekly", source: "feed:blog" });
      expect(issue.bodyHtml).toContain('href="https://bodyhealtherapy.example/blog/three"');
      // A draft goes nowhere until staff approve it.
      expect((await app.store.issueReport(issue.id)).recipients).toBe(0);

      // Again with the same content: the validators changed, so make the server answer 200 again.
      version = 3;
      expect(await checkFeed(def, deps(), later(21))).toMatchObject({ status: "checked", created: [] });
    } finally {
      await app.close();
    }

    // A restart: a new app on the same database; and the post's title edited.
    app = await openApp(dir);
    try {
      posts[0]!.title = "Why your outer knee aches (updated)";
      version = 4;
      expect(await checkFeed(app.feeds[0]!, deps(), later(30))).toMatchObject({ status: "checked", created: [] });
      expect((await app.store.listIssues()).map((i) => i.subject)).toEqual(["Why your outer knee aches"]);
    } finally {
      await app.close();
    }
  });

  it("send mode schedules the new post at 09:00 in each reader's zone; a feed that is down or malformed is recorded and retried", async () => {
    const dir = tempDir("drip-feed-send-");
    const app = await openApp(dir);
    try {
      const logs: string[] = [];
      const def: FeedDefinition = { ...app.feeds[0]!, mode: { kind: "send", local: "09:00" } };
      const deps = { store: app.store, newsletters: app.newsletters, log: (l: string) => logs.push(l) };
      const outcome = await app.lifecycle.subscribe(
        { email: "r@example.com", name: "", timezone: "America/New_York", tags: [] },
        { confirmed: true, source: "test" },
        T1,
      );
      if (outcome.kind !== "ok") throw new Error("not subscribed");
      const { subscriber } = outcome;
      await app.lifecycle.joinTopic(subscriber, "weekly", { source: "test" }, T1);
      mode = "down";
      expect(await checkFeed(def, deps, T1)).toMatchObject({ status: "error" });
      mode = "ok";
      expect(await checkFeed(def, deps, T1)).toMatchObject({ status: "first-poll" });
      posts.unshift({ guid: "post-9", title: "A new post", link: "https://bodyhealtherapy.example/blog/nine", date: "2027-01-04T13:00:00Z" });
      version = 2;
      mode = "garbage";
      expect(await checkFeed(def, deps, later(1))).toMatchObject({ status: "error" });
      expect((await app.store.getFeedState("blog"))?.lastError).toMatch(/not a readable RSS or Atom feed/);
      mode = "ok";
      const r = await checkFeed(def, deps, later(2));
      expect(r.created).toHaveLength(1);
      const issue = (await app.store.getIssue(r.created[0]!))!;
      expect(issue.status).toBe("scheduled");
      // 09:00 in New York on 2027-01-04 is 14:00Z, still ahead at 14:00Z? later(2) = 14:00Z: passed → the next day.
      const delivery = await app.store.getEnrollment(subscriber.id, `newsletter:${issue.id}`);
      expect(delivery?.nextDueAt?.toISOString()).toBe("2027-01-05T14:00:00.000Z");
      expect(logs.filter((l) => l.includes("will try again"))).toHaveLength(2);
    } finally {
      await app.close();
    }
  });
});

/** A content folder whose feeds.ts makes a weekly digest on Mondays from 07:00 (London, the clinic's zone). */
function digestContent(dir: string): string {
  const content = join(dir, "newsletters");
  mkdirSync(content, { recursive: true });
  const src = (f: string) => JSON.stringify(pathToFileURL(join(process.cwd(), "src/newsletters", f)).href);
  writeFileSync(
    join(content, "topics.ts"),
    `import { defineTopics } from ${src("topics.ts")};\nexport default defineTopics([{ id: "weekly", name: "The weekly blog", description: "Weekly.", askAtSignup: true }]);\n`,
  );
  writeFileSync(
    join(content, "feeds.ts"),
    `import { defineFeeds } from ${src("feeds.ts")};\nexport default defineFeeds(({ feedUrl }) => [{ id: "blog", url: feedUrl, topic: "weekly", cadence: { digest: "weekly", weekday: "monday", at: "07:00" }, mode: { kind: "draft" } }]);\n`,
  );
  return content;
}

describe("weekly digest cadence", () => {
  // 2027-01-04 is a Monday; London is on UTC in January.
  const at = (iso: string) => new Date(iso);
  const post = (n: number, date: string): Post => ({
    guid: `post-${n}`,
    title: `New post ${n}`,
    link: `https://bodyhealtherapy.example/blog/${n}`,
    date,
  });

  it("collects the week's new posts into one issue on Monday from 07:00 London; again, a restart or an edit adds nothing; an empty week makes none and says so", async () => {
    const dir = tempDir("drip-digest-");
    const content = digestContent(dir);
    const env = { DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_FEED_URL: url, DRIP_NEWSLETTERS_DIR: content };
    const open = () => createApp(loadConfig(env));
    let app = await open();
    const check = (a: App, now: Date) => checkFeed(a.feeds[0]!, { store: a.store, newsletters: a.newsletters }, now);
    try {
      expect(app.feeds[0]!.cadence).toEqual({ digest: "weekly", weekday: "monday", at: "07:00" });
      expect(await check(app, at("2027-01-04T12:00:00Z"))).toMatchObject({ status: "first-poll", skipped: 2, created: [] });

      // Posts during the week are kept, not sent one by one.
      posts.unshift(post(3, "2027-01-05T08:00:00Z"));
      version = 2;
      const tue = await check(app, at("2027-01-05T10:00:00Z"));
      expect(tue).toMatchObject({ status: "checked", created: [], digest: { week: "2027-01-04", outcome: "waiting", next: "2027-01-11" } });
      expect(tue.message).toContain("1 new post kept for the weekly digest");
      posts.unshift(post(4, "2027-01-07T08:00:00Z"));
      version = 3;
      expect(await check(app, at("2027-01-07T10:00:00Z"))).toMatchObject({ created: [] });
    } finally {
      await app.close();
    }

    // A restart, and post 3's title edited: still one post each. Not before Monday 07:00 London.
    app = await open();
    try {
      posts[1]!.title = "New post 3 (edited)";
      version = 4;
      expect(await check(app, at("2027-01-10T23:59:00Z"))).toMatchObject({ created: [], digest: { outcome: "waiting" } });
      expect(await check(app, at("2027-01-11T06:59:00Z"))).toMatchObject({ created: [], digest: { outcome: "waiting" } });
      expect(await app.store.listIssues()).toEqual([]);

      const monday = await check(app, at("2027-01-11T07:05:00Z"));
      expect(monday.created).toEqual(["blog-digest-2027-01-11"]);
      expect(monday.digest).toEqual({ week: "2027-01-11", outcome: "created", next: "2027-01-18" });
      const issue = (await app.store.getIssue("blog-digest-2027-01-11"))!;
      expect(issue).toMatchObject({ status: "draft", topicId: "weekly", source: "feed:blog", subject: "This week on the blog: New post 3 and 1 more" });
      // A title list with links and summaries, oldest first.
      expect(issue.bodyHtml).toMatch(/New post 3<\/a>[\s\S]*About New post 3\.[\s\S]*New post 4<\/a>[\s\S]*About New post 4\./);
      expect(issue.bodyHtml).toContain('href="https://bodyhealtherapy.example/blog/3"');
      expect(issue.bodyHtml).toContain('href="https://bodyhealtherapy.example/blog/4"');
      expect(issue.bodyHtml).not.toContain("Old post");
      expect((await app.store.issueReport(issue.id)).recipients).toBe(0); // a draft goes nowhere

      version = 5;
      expect(await check(app, at("2027-01-11T08:00:00Z"))).toMatchObject({ created: [], digest: { outcome: "waiting", next: "2027-01-18" } });
    } finally {
      await app.close();
    }

    // Through `drip feed check` (a new process's view): the next Monday has no new posts.
    const drip = (args: string[], now: Date) => runDrip(args, { env, cwd: dir, now });
    const empty = await drip(["feed", "check", "--now", "2027-01-18T07:30:00Z"], at("2027-01-18T07:30:00Z"));
    expect(empty.code, empty.err).toBe(0);
    expect(empty.out).toContain("no new posts since the last digest: no digest for monday 2027-01-18");
    // A post on Tuesday waits for the next Monday: the empty week is not made up for.
    posts.unshift(post(5, "2027-01-19T08:00:00Z"));
    version = 6;
    const tuesday = await drip(["feed", "check", "--now", "2027-01-19T10:00:00Z", "--json"], at("2027-01-19T10:00:00Z"));
    expect(tuesday.code, tuesday.err).toBe(0);
    expect(JSON.parse(tuesday.out)).toMatchObject([{ feedId: "blog", created: [], digest: { week: "2027-01-18", outcome: "waiting" } }]);
    const list = await drip(["feed", "list"], at("2027-01-19T10:00:00Z"));
    expect(list.out).toContain("weekly digest on monday from 07:00");
    expect(list.out).toContain("last digest week 2027-01-18");

    // Send mode, and no check on the Monday: made at the next check (it says so), scheduled at
    // 09:00 in each reader's zone on the day it was made.
    app = await open();
    try {
      const r = await app.lifecycle.subscribe(
        { email: "ny@example.com", name: "", timezone: "America/New_York", tags: [] },
        { confirmed: true, source: "test" },
        T1,
      );
      if (r.kind !== "ok") throw new Error("not subscribed");
      await app.lifecycle.joinTopic(r.subscriber, "weekly", { source: "test" }, T1);
      const def: FeedDefinition = { ...app.feeds[0]!, mode: { kind: "send", local: "09:00" } };
      const late = await checkFeed(def, { store: app.store, newsletters: app.newsletters }, at("2027-01-26T10:00:00Z"));
      expect(late.created).toEqual(["blog-digest-2027-01-25"]);
      expect(late.message).toContain("made late, on 2027-01-26");
      const issue = (await app.store.getIssue("blog-digest-2027-01-25"))!;
      expect(issue).toMatchObject({ status: "scheduled", subject: "This week on the blog: New post 5" });
      expect((await app.store.getEnrollment(r.subscriber.id, "newsletter:blog-digest-2027-01-25"))?.nextDueAt?.toISOString()).toBe("2027-01-26T14:00:00.000Z");
      expect((await app.store.listIssues()).map((i) => i.id).sort()).toEqual(["blog-digest-2027-01-11", "blog-digest-2027-01-25"]);
    } finally {
      await app.close();
    }
  });

  it("defineFeeds refuses a bad digest cadence with a sentence naming the key", async () => {
    const { defineFeeds } = await import("../../src/newsletters/feeds.ts");
    const bad = (cadence: unknown) => () =>
      defineFeeds(() => [{ id: "blog", url: undefined, topic: "weekly", cadence: cadence as FeedDefinition["cadence"], mode: { kind: "draft" } }])({
        feedUrl: undefined,
      });
    expect(bad({ digest: "weekly", weekday: "funday" })).toThrow(/cadence/);
    expect(bad({ digest: "daily", weekday: "monday" })).toThrow(/cadence/);
    expect(bad({ digest: "weekly", weekday: "monday", at: "7am" })).toThrow(/cadence/);
    expect(bad({ digest: "weekly", weekday: "monday", at: "07:00" })).not.toThrow();
  });
});
