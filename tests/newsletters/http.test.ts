/**
 * Newsletters over HTTP: the signup checkbox (unticked, explicit consent), the preferences
 * switch, the one-click link that leaves only this topic, and the public archive (index,
 * issue page, feed.xml) holding no personal data of any subscriber.
 */
import { parseFeed } from "@rowanmanning/feed-parser";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { BASE, type Harness, confirmVia, form, harness, hidden, signUpAndGetLink, unsubscribeUrl } from "../http/harness.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";

const ISSUE = "two-ways-to-ease-outer-hip-pain";
const NAME = "Zebulon Quixotic-Fennimore";
const EMAIL = "zq.unique.7741@example.com";

let h: Harness;
beforeEach(async () => {
  h = await harness({ signupsPerIp: Number.POSITIVE_INFINITY });
});
afterEach(async () => h.close());
afterAll(cleanupTempDirs);

async function reader(email: string, name: string, topics: string[]) {
  const link = await signUpAndGetLink(h, email, { name, ...(topics.length ? { topics } : {}) } as unknown as Record<string, string>);
  expect((await confirmVia(h, link)).status).toBe(200);
  return (await h.app.store.findSubscriberByEmail(email))!;
}

async function sendIssue() {
  await h.app.newsletters.schedule(ISSUE, { kind: "now" }, h.now());
  await h.tick();
  const mails = (await h.mails()).filter((m) => m.mail.subject === "Two ways to ease outer hip pain at home");
  return mails;
}

describe("signup and preferences", () => {
  it("the signup page offers the newsletter as its own unticked checkbox; only a reader who ticks it joins, with consent recorded", async () => {
    const page = await (await h.req("/")).text();
    const box = /<input id="topic_weekly" name="topic_weekly" type="checkbox"[^>]*>/.exec(page)?.[0];
    expect(box).toBeDefined();
    expect(box).not.toMatch(/checked/);
    const yes = await reader("yes@example.com", "Yes", ["weekly"]);
    const no = await reader("no@example.com", "No", []);
    expect(await h.app.store.listTopicMemberships(yes.id)).toEqual([
      { topicId: "weekly", status: "joined", consentAt: expect.any(Date), consentSource: "signup form", leftAt: null },
    ]);
    expect(await h.app.store.listTopicMemberships(no.id)).toEqual([]);
    // The form's own checkbox (urlencoded) works too.
    const csrf = hidden(page, "csrf");
    expect((await h.req("/subscribe", form({ csrf, email: "formbox@example.com", name: "", timezone: "Europe/London", topic_weekly: "yes" }))).status).toBe(
      200,
    );
    const fb = await h.app.store.findSubscriberByEmail("formbox@example.com");
    expect((await h.app.store.listTopicMemberships(fb!.id))[0]?.status).toBe("joined");
  });

  it("the preferences page switches a topic on and off", async () => {
    const s = await reader("prefs@example.com", "P", []);
    await h.tick();
    const mails = await h.mails();
    const article = mails.find((m) => JSON.stringify(m.mail.to).includes("prefs@example.com") && !m.file.startsWith("confirm-"))!;
    const prefs = unsubscribeUrl(article.mail).replace("/unsubscribe/", "/preferences/");
    const page = await (await h.req(prefs)).text();
    expect(page).toContain("The weekly blog</strong>: off");
    const res = await h.req(prefs, form({ csrf: hidden(page, "csrf"), action: "topic-join", topic: "weekly" }, { origin: BASE }));
    expect(res.status).toBe(303);
    expect((await h.app.store.listTopicMemberships(s.id))[0]).toMatchObject({ status: "joined", consentSource: "preferences page" });
    const again = await (await h.req(prefs)).text();
    expect(again).toContain("The weekly blog</strong>: on");
  });
});

describe("one-click from a newsletter", () => {
  it("leaves this topic only (still subscribed, course untouched), credited to the issue; the GET page offers leaving everything", async () => {
    const s = await reader(EMAIL, NAME, ["weekly"]);
    const [mail] = await sendIssue();
    expect(mail).toBeDefined();
    const url = unsubscribeUrl(mail!.mail);
    expect(url).toContain("?topic=weekly&issue=");
    const page = await (await h.req(url)).text();
    expect(page).toContain("Stop The weekly blog");
    expect(page).toContain("Unsubscribe from everything");
    expect((await h.app.store.listTopicMemberships(s.id))[0]?.status).toBe("joined"); // a GET changes nothing
    const res = await h.req(url, form({ "List-Unsubscribe": "One-Click" }, { origin: "https://mail.example.net" }));
    expect(res.status).toBe(200);
    expect((await h.app.store.listTopicMemberships(s.id))[0]?.status).toBe("left");
    expect((await h.app.store.getSubscriber(s.id))?.status).toBe("active");
    expect((await h.app.store.getEnrollment(s.id, "hip-pain-course"))?.status).toBe("active");
    expect((await h.app.newsletters.status(ISSUE)).report).toMatchObject({ sent: 1, unsubscribed: 1 });
  });
});

describe("public archive", () => {
  it("index, issue page and feed.xml carry the issue and no personal data of any subscriber; the feed parses", async () => {
    const s = await reader(EMAIL, NAME, ["weekly"]);
    const [mail] = await sendIssue();
    const view = /href="([^"]*\/newsletters\/[^"]+)"/.exec(String(mail!.mail.html))?.[1];
    expect(view).toBe(`${BASE}/newsletters/${ISSUE}`);
    const token = unsubscribeUrl(mail!.mail).split("/unsubscribe/")[1]!.split("?")[0]!;
    const pages = [await h.req("/newsletters"), await h.req(`/newsletters/${ISSUE}`), await h.req("/newsletters/feed.xml")];
    const bodies: string[] = [];
    for (const p of pages) {
      expect(p.status).toBe(200);
      expect(p.headers.get("cache-control")).toBe("public, max-age=300");
      bodies.push(await p.text());
    }
    const [index, issuePage, xml] = bodies as [string, string, string];
    expect(index).toContain(`href="/newsletters/${ISSUE}"`);
    expect(issuePage).toContain("The lacrosse ball, held still");
    for (const b of bodies) {
      for (const secret of [NAME, "Zebulon", "Fennimore", EMAIL, "zq.unique", s.id, token]) expect(b).not.toContain(secret);
      expect(b).not.toMatch(/\/(unsubscribe|preferences)\//);
    }
    const feed = parseFeed(xml);
    expect(feed.items.map((i) => [i.title, i.url])).toEqual([["Two ways to ease outer hip pain at home", `${BASE}/newsletters/${ISSUE}`]]);
    expect((await h.req("/newsletters/not-an-issue")).status).toBe(404);
  });

  it("an issue scheduled for later, or cancelled, is not in the archive", async () => {
    await reader("later@example.com", "L", ["weekly"]);
    await h.app.newsletters.schedule(ISSUE, { kind: "at", at: new Date(h.now().getTime() + 86_400_000) }, h.now());
    expect((await h.req(`/newsletters/${ISSUE}`)).status).toBe(404);
    expect(await (await h.req("/newsletters/feed.xml")).text()).not.toContain(ISSUE);
  });
});
