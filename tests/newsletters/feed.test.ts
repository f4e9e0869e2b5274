/**
 * Done-when: a feed served from a local test server. The first check creates nothing for old
 * items; a new item produces one issue (a draft, or scheduled in send mode) carrying its title
 * and link; a second check, a restart (a new app on the same database) and an edit of the
 * item's title produce nothing more. Conditional requests (ETag, Last-Modified) are used, and
 * a feed that is down or malformed is recorded and retried without stopping anything.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { type FeedDefinition, checkFeed } from "../../src/newsletters/feeds.ts";
import { type App, createApp } from "../../src/wiring.ts";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

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
