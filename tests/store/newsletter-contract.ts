/**
 * The Store contract for newsletters (topics with consent, issue snapshots, audiences,
 * set-based delivery planning, cancellation, per-issue results, the feed ledger, the claim's
 * lanes). Called from describeStoreContract, so every backend is held to it.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { type AudienceFilter, NEWSLETTER_STEP, type Store, issueSequenceId } from "../../src/store/types.ts";
import { HOUR, MINUTE, at } from "../support/engine-helpers.ts";

const T0 = at("2027-01-04T10:00:00Z");
const LEASE = 5 * MINUTE;
const TOPIC = "weekly";
const ALL: AudienceFilter = { topicId: TOPIC };

export function newsletterContract(getStore: () => Store): void {
  describe("newsletters", () => {
    let store: Store;
    beforeEach(() => {
      store = getStore();
    });

    const member = async (email: string, opts: { timezone?: string; status?: "active" | "pending" | "unsubscribed"; tags?: string[]; at?: Date } = {}) => {
      const { subscriber } = await store.upsertSubscriber(
        { email, status: opts.status ?? "active", timezone: opts.timezone ?? "Europe/London", tags: opts.tags ?? [] },
        opts.at ?? T0,
      );
      await store.setTopic(subscriber.id, TOPIC, { status: "joined", at: T0, source: "signup form" });
      return subscriber;
    };
    const issue = (id: string, topicId = TOPIC) =>
      store.saveIssue(
        {
          id,
          topicId,
          status: "scheduled",
          subject: "Subject",
          preview: "Preview",
          bodyHtml: "<p>Body</p>",
          template: null,
          audience: { topicId },
          schedule: { kind: "at", at: T0.toISOString() },
          source: "file",
          publishedAt: T0,
        },
        T0,
      );

    it("topics keep consent (time, source); leaving keeps the history and re-joining records the new consent", async () => {
      const s = await member("t@example.com");
      expect(await store.listTopicMemberships(s.id)).toEqual([{ topicId: TOPIC, status: "joined", consentAt: T0, consentSource: "signup form", leftAt: null }]);
      const later = new Date(T0.getTime() + HOUR);
      await store.setTopic(s.id, TOPIC, { status: "left", at: later });
      expect((await store.listTopicMemberships(s.id))[0]).toMatchObject({ status: "left", leftAt: later, consentSource: "signup form" });
      expect(await store.topicMembersAmong(TOPIC, [s.id])).toEqual(new Set());
      await store.setTopic(s.id, TOPIC, { status: "joined", at: later, source: "preferences page" });
      expect((await store.listTopicMemberships(s.id))[0]).toMatchObject({
        status: "joined",
        consentAt: later,
        consentSource: "preferences page",
        leftAt: null,
      });
      expect(await store.topicMembersAmong(TOPIC, [s.id, "nobody"])).toEqual(new Set([s.id]));
    });

    it("topic counts are active subscribers joined to each topic (left, pending and unsubscribed ones not counted)", async () => {
      expect(await store.topicCounts()).toEqual([]);
      await member("one@example.com");
      const two = await member("two@example.com");
      await store.setTopic(two.id, "other", { status: "joined", at: T0, source: "import" });
      const left = await member("left@example.com");
      await store.setTopic(left.id, TOPIC, { status: "left", at: T0 });
      await member("pending@example.com", { status: "pending" });
      const u = await member("u@example.com");
      await store.setSubscriberStatus(u.id, "unsubscribed", T0);
      expect(await store.topicCounts()).toEqual([
        { topicId: "other", subscribers: 1 },
        { topicId: TOPIC, subscribers: 2 },
      ]);
    });

    it("consent for later ('consented') is not membership: out of the audience until joined; it never demotes a member; it can be withdrawn", async () => {
      const { subscriber: s } = await store.upsertSubscriber({ email: "later@example.com", status: "active", timezone: "Europe/London" }, T0);
      await store.setTopic(s.id, TOPIC, { status: "consented", at: T0, source: "signup form: f (when the course ends)" });
      expect(await store.listTopicMemberships(s.id)).toEqual([
        { topicId: TOPIC, status: "consented", consentAt: T0, consentSource: "signup form: f (when the course ends)", leftAt: null },
      ]);
      expect(await store.topicMembersAmong(TOPIC, [s.id])).toEqual(new Set());
      expect((await store.audience(ALL, 10)).count).toBe(0);
      // Handed over: joined, the consent's own time and source kept by the caller.
      await store.setTopic(s.id, TOPIC, { status: "joined", at: T0, source: "signup form: f (when the course ends)" });
      expect(await store.topicMembersAmong(TOPIC, [s.id])).toEqual(new Set([s.id]));
      expect((await store.audience(ALL, 10)).count).toBe(1);
      // A later consent for later changes nothing about a member.
      const later = new Date(T0.getTime() + HOUR);
      await store.setTopic(s.id, TOPIC, { status: "consented", at: later, source: "again" });
      expect((await store.listTopicMemberships(s.id))[0]).toMatchObject({ status: "joined", consentAt: T0 });
      // Withdrawn before being handed over: left.
      const { subscriber: w } = await store.upsertSubscriber({ email: "withdraws@example.com", status: "active" }, T0);
      await store.setTopic(w.id, TOPIC, { status: "consented", at: T0, source: "form" });
      await store.setTopic(w.id, TOPIC, { status: "left", at: later });
      expect((await store.listTopicMemberships(w.id))[0]).toMatchObject({ status: "left", leftAt: later });
      // Consenting again after leaving is new consent, recorded as such.
      await store.setTopic(w.id, TOPIC, { status: "consented", at: later, source: "form again" });
      expect((await store.listTopicMemberships(w.id))[0]).toMatchObject({ status: "consented", consentAt: later, consentSource: "form again", leftAt: null });
    });

    it("the audience is active, joined, not paused, and narrowed by tags, course state and signup date", async () => {
      const a = await member("a@example.com", { tags: ["vip", "booked"] });
      const b = await member("b@example.com", { tags: ["vip"], at: new Date(T0.getTime() + 48 * HOUR) });
      await member("pending@example.com", { status: "pending" });
      const u = await member("u@example.com");
      await store.setSubscriberStatus(u.id, "unsubscribed", T0);
      await store.upsertSubscriber({ email: "outsider@example.com", status: "active" }, T0);
      const paused = await member("paused@example.com");
      await store.enroll({ subscriberId: paused.id, sequenceId: "course", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: false });
      await store.setEnrollmentStatus((await store.getEnrollment(paused.id, "course"))!.id, "paused", "paused by the subscriber");
      await store.enroll({ subscriberId: a.id, sequenceId: "course", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: false });
      await store.setEnrollmentStatus((await store.getEnrollment(a.id, "course"))!.id, "completed", null);

      const emails = async (f: Partial<AudienceFilter>) => {
        const r = await store.audience({ ...ALL, ...f }, 10);
        expect(r.sample).toHaveLength(r.count);
        return r.sample.map((s) => s.email).sort();
      };
      expect(await emails({})).toEqual(["a@example.com", "b@example.com"]);
      expect(await emails({ tags: { all: ["vip", "booked"] } })).toEqual(["a@example.com"]);
      expect(await emails({ tags: { any: ["booked", "nope"] } })).toEqual(["a@example.com"]);
      expect(await emails({ tags: { none: ["booked"] } })).toEqual(["b@example.com"]);
      expect(await emails({ course: { sequence: "course", state: "completed" } })).toEqual(["a@example.com"]);
      expect(await emails({ course: { sequence: "course", state: "not_started" } })).toEqual(["b@example.com"]);
      expect(await emails({ course: { sequence: "course", state: "in_progress" } })).toEqual([]);
      expect(await emails({ signedUp: { after: new Date(T0.getTime() + HOUR) } })).toEqual(["b@example.com"]);
      expect(await emails({ signedUp: { before: new Date(T0.getTime() + HOUR) } })).toEqual(["a@example.com"]);
      expect((await store.audienceZones(ALL)).sort()).toEqual(["Europe/London"]);
      expect(b.id).toBeTruthy();
    });

    it("planDeliveries writes one delivery per (issue, subscriber) with its zone's due time, and planning again adds none", async () => {
      const ny = await member("ny@example.com", { timezone: "America/New_York" });
      const ldn = await member("ldn@example.com", { timezone: "Europe/London" });
      const odd = await member("odd@example.com", { timezone: "" });
      await issue("first");
      const plan = { byZone: { "America/New_York": T0.getTime() + 5 * HOUR, "Europe/London": T0.getTime() }, fallback: T0.getTime() + HOUR };
      expect(await store.planDeliveries("first", ALL, plan, T0)).toBe(3);
      expect(await store.planDeliveries("first", ALL, plan, T0)).toBe(3);
      const due = async (id: string) => (await store.getEnrollment(id, issueSequenceId("first")))!;
      expect((await due(ny.id)).nextDueAt).toEqual(new Date(T0.getTime() + 5 * HOUR));
      expect((await due(ldn.id)).nextDueAt).toEqual(T0);
      expect((await due(odd.id)).nextDueAt).toEqual(new Date(T0.getTime() + HOUR));
      expect((await due(ny.id)).nextStepId).toBe(NEWSLETTER_STEP);
      // The due ones are claimable, each once, with a send id unique to (issue, subscriber).
      const claims = await store.claimDue(T0, 10, LEASE);
      expect(claims.map((c) => c.subscriber.email)).toEqual(["ldn@example.com"]);
      await store.recordOutcome(claims[0]!, { status: "sent", at: T0, providerMessageId: "p1" }, { kind: "completed" });
      // Re-scheduling later moves what has not gone out, never what has.
      const later = { byZone: {}, fallback: T0.getTime() + 10 * HOUR };
      expect(await store.planDeliveries("first", ALL, later, T0)).toBe(2);
      expect((await due(ldn.id)).status).toBe("completed");
      expect((await due(ny.id)).nextDueAt).toEqual(new Date(T0.getTime() + 10 * HOUR));
      const report = await store.issueReport("first");
      expect(report).toMatchObject({ recipients: 3, sent: 1, pending: 2, skipped: 0, failed: 0, cancelled: 0 });
    });

    it("leaving the topic ends pending deliveries of its issues (and only those); cancel ends the rest, and both show in results and --missing", async () => {
      const stay = await member("stay@example.com");
      const go = await member("go@example.com");
      const other = await member("other@example.com");
      await store.setTopic(other.id, "other-topic", { status: "joined", at: T0, source: "import" });
      await issue("one");
      await issue("elsewhere", "other-topic");
      const plan = { byZone: {}, fallback: T0.getTime() + HOUR };
      await store.planDeliveries("one", ALL, plan, T0);
      await store.planDeliveries("elsewhere", { topicId: "other-topic" }, plan, T0);
      await store.setTopic(go.id, TOPIC, { status: "left", at: T0 });
      expect((await store.getEnrollment(go.id, issueSequenceId("one")))?.status).toBe("exited");
      expect((await store.getEnrollment(other.id, issueSequenceId("elsewhere")))?.status).toBe("active");
      expect(await store.cancelDeliveries("one", T0)).toBe(2);
      expect((await store.getIssue("one"))?.status).toBe("cancelled");
      expect(await store.claimDue(new Date(T0.getTime() + 2 * HOUR), 10, LEASE)).toHaveLength(1); // only "elsewhere"
      expect(await store.issueReport("one")).toMatchObject({ recipients: 3, pending: 0, cancelled: 2, skipped: 1, skippedReasons: { "left the topic": 1 } });
      const missing = await store.missingRecipients("one", 10);
      expect(missing.map((m) => [m.email, m.state, m.reason])).toEqual([
        ["go@example.com", "skipped", "left the topic"],
        ["other@example.com", "cancelled", "cancelled"],
        ["stay@example.com", "cancelled", "cancelled"],
      ]);
      expect(stay.id).toBeTruthy();
    });

    it("issue results count sends, skip reasons, failures and events per issue (clicks per link)", async () => {
      const subs = await Promise.all(["r1", "r2", "r3"].map((n) => member(`${n}@example.com`)));
      await issue("results");
      await store.planDeliveries("results", ALL, { byZone: {}, fallback: T0.getTime() }, T0);
      const claims = await store.claimDue(T0, 10, LEASE);
      expect(claims).toHaveLength(3);
      const [c1, c2, c3] = claims;
      await store.recordOutcome(c1!, { status: "sent", at: T0, providerMessageId: "m1" }, { kind: "completed" });
      await store.recordOutcome(c2!, { status: "skipped", at: T0, reason: "subscriber is unsubscribed" }, { kind: "exited", reason: "x" });
      await store.recordOutcome(c3!, { status: "failed", at: T0, reason: "422" }, { kind: "completed" });
      await store.recordEvent({ subscriberId: c1!.subscriber.id, sendId: c1!.sendId, type: "delivered", at: T0 });
      await store.recordEvent({ subscriberId: c1!.subscriber.id, sendId: c1!.sendId, type: "clicked", at: T0, data: { link: "https://blog.example/a" } });
      await store.recordEvent({ subscriberId: c1!.subscriber.id, sendId: c1!.sendId, type: "clicked", at: T0, data: { link: "https://blog.example/a" } });
      expect(await store.issueReport("results")).toEqual({
        issueId: "results",
        recipients: 3,
        pending: 0,
        sent: 1,
        skipped: 1,
        failed: 1,
        cancelled: 0,
        skippedReasons: { "subscriber is unsubscribed": 1 },
        delivered: 1,
        opened: 0,
        clicked: 1,
        clicksByLink: { "https://blog.example/a": 1 },
        bounced: 0,
        complained: 0,
        unsubscribed: 0,
      });
      expect((await store.missingRecipients("results", 10)).map((m) => m.state).sort()).toEqual(["failed", "skipped"]);
      expect(subs).toHaveLength(3);
    });

    it("a page is at most half newsletter when course steps are due too, and either lane fills a page alone", async () => {
      for (let i = 0; i < 8; i++) await member(`n${i}@example.com`);
      await issue("big");
      await store.planDeliveries("big", ALL, { byZone: {}, fallback: T0.getTime() - HOUR }, T0);
      for (let i = 0; i < 8; i++) {
        const { subscriber } = await store.upsertSubscriber({ email: `c${i}@example.com`, status: "active" }, T0);
        await store.enroll({ subscriberId: subscriber.id, sequenceId: "course", startedAt: T0, firstStepId: "one", firstDueAt: T0, allowReentry: false });
      }
      const page = await store.claimDue(T0, 4, LEASE);
      expect(page.filter((c) => c.sequenceId === "course")).toHaveLength(2);
      expect(page.filter((c) => c.sequenceId === issueSequenceId("big"))).toHaveLength(2);
      const courses = await store.claimDue(T0, 100, LEASE);
      expect(courses.filter((c) => c.sequenceId === "course")).toHaveLength(6);
      expect(courses.filter((c) => c.sequenceId !== "course")).toHaveLength(6);
    });

    it("the issue snapshot round-trips; listIssues lists them", async () => {
      await store.saveIssue(
        {
          id: "snap",
          topicId: TOPIC,
          status: "draft",
          subject: "S",
          preview: "P",
          bodyHtml: "<h1>H</h1>",
          template: "newsletter.mjml",
          audience: { topicId: TOPIC, tags: { none: ["booked"] }, signedUp: { after: T0 } },
          schedule: { kind: "local", time: "09:00", date: "2027-01-05", passed: "next-day" },
          source: "feed:blog",
          publishedAt: null,
        },
        T0,
      );
      expect(await store.getIssue("snap")).toEqual({
        id: "snap",
        topicId: TOPIC,
        status: "draft",
        subject: "S",
        preview: "P",
        bodyHtml: "<h1>H</h1>",
        template: "newsletter.mjml",
        audience: { topicId: TOPIC, tags: { none: ["booked"] }, signedUp: { after: T0 } },
        schedule: { kind: "local", time: "09:00", date: "2027-01-05", passed: "next-day" },
        source: "feed:blog",
        publishedAt: null,
        createdAt: T0,
        updatedAt: T0,
      });
      expect((await store.listIssues()).map((i) => i.id)).toEqual(["snap"]);
      expect(await store.getIssue("nope")).toBeNull();
    });

    it("the feed ledger returns only GUIDs never seen, across calls, and keeps its validators", async () => {
      expect(await store.getFeedState("blog")).toBeNull();
      const item = (guid: string, title = guid) => ({ guid, title, url: `https://blog.example/${guid}`, publishedAt: T0 });
      expect((await store.recordFeedItems("blog", [item("a"), item("b"), item("a")], T0)).map((i) => i.guid)).toEqual(["a", "b"]);
      expect((await store.recordFeedItems("blog", [item("a", "edited title"), item("c")], T0)).map((i) => i.guid)).toEqual(["c"]);
      expect((await store.recordFeedItems("other", [item("a")], T0)).map((i) => i.guid)).toEqual(["a"]);
      await store.linkFeedItem("blog", "c", "issue-c");
      const state = {
        feedId: "blog",
        etag: '"v1"',
        lastModified: "Mon, 04 Jan 2027 10:00:00 GMT",
        firstPolledAt: T0,
        lastPolledAt: T0,
        lastError: null,
        lastDigestOn: null,
      };
      await store.saveFeedState(state);
      await store.saveFeedState({ ...state, etag: '"v2"', firstPolledAt: new Date(T0.getTime() + HOUR), lastPolledAt: new Date(T0.getTime() + HOUR) });
      expect(await store.getFeedState("blog")).toEqual({ ...state, etag: '"v2"', lastPolledAt: new Date(T0.getTime() + HOUR) });
    });

    it("pendingFeedItems: items in no issue, seen after the first poll and not published before it, oldest first, with summaries; lastDigestOn round-trips", async () => {
      const later = (h: number) => new Date(T0.getTime() + h * HOUR);
      const item = (guid: string, publishedAt: Date | null, summary: string | null = `About ${guid}.`) => ({
        guid,
        title: `Title ${guid}`,
        url: `https://blog.example/${guid}`,
        publishedAt,
        summary,
      });
      expect(await store.pendingFeedItems("blog")).toEqual([]); // never polled
      // The first poll: the back catalogue, never pending.
      await store.recordFeedItems("blog", [item("old", later(-48))], T0);
      const state = { feedId: "blog", etag: null, lastModified: null, firstPolledAt: T0, lastPolledAt: T0, lastError: null, lastDigestOn: null };
      await store.saveFeedState(state);
      expect(await store.pendingFeedItems("blog")).toEqual([]);
      // Later checks: a post published before the first poll that shows up only now is back catalogue too.
      await store.recordFeedItems("blog", [item("late-old", later(-1)), item("b", later(3), null)], later(4));
      await store.recordFeedItems("blog", [item("a", later(2)), item("undated", null)], later(5));
      await store.recordFeedItems("other", [item("x", later(2))], later(5));
      expect(await store.pendingFeedItems("blog")).toEqual([
        { guid: "a", title: "Title a", url: "https://blog.example/a", publishedAt: later(2), summary: "About a.", seenAt: later(5) },
        { guid: "b", title: "Title b", url: "https://blog.example/b", publishedAt: later(3), summary: null, seenAt: later(4) },
        { guid: "undated", title: "Title undated", url: "https://blog.example/undated", publishedAt: null, summary: "About undated.", seenAt: later(5) },
      ]);
      await store.linkFeedItem("blog", "a", "digest-1");
      expect((await store.pendingFeedItems("blog")).map((i) => i.guid)).toEqual(["b", "undated"]);
      await store.saveFeedState({ ...state, lastDigestOn: "2027-01-11" });
      expect((await store.getFeedState("blog"))?.lastDigestOn).toBe("2027-01-11");
    });

    it("forgetting a subscriber erases their topics and deliveries", async () => {
      const s = await member("forget@example.com");
      await issue("f");
      await store.planDeliveries("f", ALL, { byZone: {}, fallback: T0.getTime() + HOUR }, T0);
      await store.forgetSubscriber(s.id);
      expect(await store.listTopicMemberships(s.id)).toEqual([]);
      expect((await store.issueReport("f")).recipients).toBe(0);
    });
  });
}
