/**
 * The dashboard's newsletter pages: the list with each issue's status, the preview (sandboxed
 * frame + text part), the audience, a test send to the signed-in staff member (through the
 * transport, [Test], not counted), scheduling at an instant and at a local time (with the
 * "already passed in some zones" choice), send now, cancel, results with clicks per link and
 * who has not received it and why. Everything through the Newsletters service, each action
 * audited. Also topics on the overview and on a subscriber's profile (turned off through the door).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip } from "../support/engine-helpers.ts";
import { START, type Harness, harness, hidden, pageText } from "../http/harness.ts";
import { type Session, signIn } from "./admin-harness.ts";

const ISSUE = "two-ways-to-ease-outer-hip-pain";
const SUBJECT = "Two ways to ease outer hip pain at home";
let h: Harness;
let owner: Session;
let editor: Session;
let viewer: Session;
const readers: Record<string, string> = {};

/** An active subscriber in `zone`, joined to the weekly topic. */
async function reader(email: string, zone: string, join = true): Promise<string> {
  const r = await h.app.lifecycle.subscribe({ email, name: "Rea", timezone: zone, tags: [] }, { confirmed: true, source: "test" }, h.now());
  if (r.kind !== "ok") throw new Error("suppressed");
  if (join) await h.app.lifecycle.joinTopic(r.subscriber, "weekly", { source: "signup form" }, h.now());
  readers[email] = r.subscriber.id;
  return r.subscriber.id;
}

beforeAll(async () => {
  h = await harness();
  await reader("london@example.com", "Europe/London");
  await reader("auckland@example.com", "Pacific/Auckland");
  await reader("la@example.com", "America/Los_Angeles");
  await reader("outsider@example.com", "Europe/London", false);
  owner = await signIn(h, "owner@clinic.example", "owner");
  editor = await signIn(h, "editor@clinic.example", "editor");
  viewer = await signIn(h, "viewer@clinic.example", "viewer");
}, 60_000);
afterAll(async () => {
  await h.close();
  cleanupTempDirs();
});

const statusInList = async (s: Session) => /data-issue="[^"]+">.*?<td data-col="status">([^<]*)</s.exec(await (await s.get("/admin/newsletters")).text())?.[1];
const dueOf = async (email: string) => (await h.app.newsletters.missing(ISSUE)).find((m) => m.email === email)?.dueAt?.toISOString();
const audited = async (action: string) => (await h.app.store.listAudit(500)).filter((e) => e.action === action);

describe("reading (viewer)", () => {
  it("the list shows each issue with its status, and the issue page the audience, the preview frame and the text part", async () => {
    expect(await statusInList(viewer)).toBe("not scheduled");
    const res = await viewer.get(`/admin/newsletters/${ISSUE}`);
    expect(res.status).toBe(200);
    const page = await pageText(res);
    const audience = await h.app.newsletters.audience(ISSUE, 10);
    expect(audience.count).toBe(3); // joined, active; the outsider never joined
    expect(page).toContain(`data-count="audience">${audience.count}<`);
    for (const s of audience.sample) expect(page).toContain(s.email);
    expect(page).not.toContain("outsider@example.com");
    expect(page).toMatch(
      /<iframe class="preview" sandbox="" title="The issue as HTML" src="\/admin\/newsletters\/two-ways-to-ease-outer-hip-pain\/preview.html">/,
    );
    const rendered = await h.app.newsletters.render(ISSUE);
    expect(page).toContain(`<span id="subject">${SUBJECT}</span>`);
    expect(page).toContain(rendered.text.split("\n").find((l) => l.includes("lacrosse"))!);
    // Viewers read: no action forms.
    expect(page).not.toContain(`action="/admin/newsletters/${ISSUE}/`);
    const frame = await viewer.get(`/admin/newsletters/${ISSUE}/preview.html`);
    expect(frame.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(frame.headers.get("content-security-policy")).not.toContain("script-src");
    expect(await frame.text()).toBe(rendered.html);
    // As a real subscriber picked by email.
    const asLa = await pageText(await viewer.get(`/admin/newsletters/${ISSUE}?email=la%40example.com`));
    expect(asLa).toContain("<strong>As:</strong> la@example.com");
    expect((await viewer.get(`/admin/newsletters/${ISSUE}?email=nobody%40example.com`)).status).toBe(404);
    expect((await viewer.get("/admin/newsletters/no-such-issue")).status).toBe(404);
  });
});

describe("acting (editor)", () => {
  it("a test goes to the signed-in editor through the transport with [Test] in the subject, and is not counted", async () => {
    const res = await editor.post(`/admin/newsletters/${ISSUE}/test`);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/admin/newsletters/${ISSUE}?done=test`);
    const mails = (await h.mails()).filter((m) => m.mail.subject === `[Test] ${SUBJECT}`);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.mail.to).toMatchObject({ value: [{ address: "editor@clinic.example" }] });
    expect(await h.app.store.getIssue(ISSUE)).toBeNull(); // nothing stored, nothing counted
    expect(await statusInList(editor)).toBe("not scheduled");
    expect(await audited("newsletter.test")).toMatchObject([{ staffEmail: "editor@clinic.example", target: ISSUE, detail: "to editor@clinic.example" }]);
    expect(await pageText(await editor.get(`/admin/newsletters/${ISSUE}?done=test`))).toContain(
      "A test copy ([Test] in the subject) was sent to editor@clinic.example",
    );
  });

  it("scheduling at an instant plans each reader at that moment; a moment already past or not a time is refused and changes nothing", async () => {
    const past = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "at", at: "2026-03-09 09:00" });
    expect(past.status).toBe(400);
    expect(await pageText(past)).toContain("2026-03-09 09:00 UTC has already passed");
    const junk = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "at", at: "next tuesday" });
    expect(junk.status).toBe(400);
    expect(await pageText(junk)).toContain('"next tuesday" is not a date and time');
    expect(await h.app.store.getIssue(ISSUE)).toBeNull();
    const res = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "at", at: "2026-03-12 08:30" });
    expect(res.status).toBe(303);
    const issue = (await h.app.store.getIssue(ISSUE))!;
    expect(issue).toMatchObject({ status: "scheduled", schedule: { kind: "at", at: "2026-03-12T08:30:00.000Z" } });
    expect((await h.app.store.issueReport(ISSUE)).pending).toBe(3);
    for (const e of ["london@example.com", "auckland@example.com", "la@example.com"]) expect(await dueOf(e)).toBe("2026-03-12T08:30:00.000Z");
    expect(await statusInList(viewer)).toBe("scheduled");
    const page = await pageText(await viewer.get(`/admin/newsletters/${ISSUE}`));
    expect(page).toContain('<dd id="issue-schedule">at 2026-03-12 08:30 UTC</dd>');
    expect(await audited("newsletter.schedule")).toMatchObject([
      { staffEmail: "editor@clinic.example", detail: "at 2026-03-12T08:30:00.000Z: 3 recipient(s)" },
    ]);
  });

  it("a local time already past in some zones asks: next day or now; nothing is planned until staff choose, and each choice does what it says", async () => {
    // 10:00 UTC on 9 March: 09:00 has passed in London (09:00 UTC) and Auckland (20:00 UTC the 8th), not in Los Angeles (16:00 UTC).
    expect(h.now()).toEqual(START);
    const before = await h.app.newsletters.missing(ISSUE);
    const ask = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "local", time: "09:00", date: "2026-03-09" });
    expect(ask.status).toBe(200);
    const page = await pageText(ask);
    expect(page).toContain("09:00 on 2026-03-09 has already passed for some readers");
    expect(page).toContain("<li>Europe/London</li>");
    expect(page).toContain("<li>Pacific/Auckland</li>");
    expect(page).not.toContain("<li>America/Los_Angeles</li>");
    expect(page).toContain('name="if_passed" value="next-day"');
    expect(page).toContain('name="if_passed" value="now"');
    expect(await h.app.newsletters.missing(ISSUE)).toEqual(before); // nothing re-planned yet

    const nextDay = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "local", time: "09:00", date: "2026-03-09", if_passed: "next-day" });
    expect(nextDay.status).toBe(303);
    expect(await dueOf("london@example.com")).toBe("2026-03-10T09:00:00.000Z");
    expect(await dueOf("auckland@example.com")).toBe("2026-03-09T20:00:00.000Z");
    expect(await dueOf("la@example.com")).toBe("2026-03-09T16:00:00.000Z");
    expect((await h.app.store.getIssue(ISSUE))?.schedule).toEqual({ kind: "local", time: "09:00", date: "2026-03-09", passed: "next-day" });

    const now = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "local", time: "09:00", date: "2026-03-09", if_passed: "now" });
    expect(now.status).toBe(303);
    expect(await dueOf("london@example.com")).toBe(START.toISOString());
    expect(await dueOf("auckland@example.com")).toBe(START.toISOString());
    expect(await dueOf("la@example.com")).toBe("2026-03-09T16:00:00.000Z");
    const log = await audited("newsletter.schedule");
    expect(log.map((e) => e.detail)).toContain("at 09:00 local on 2026-03-09 (passed in 2 zone(s): now): 3 recipient(s) (re-scheduled)");
    // Bad input: one sentence, nothing changed.
    const bad = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "local", time: "9am", date: "2026-03-09" });
    expect(bad.status).toBe(400);
    expect(await pageText(bad)).toContain('"9am" is not a time of day: write it as HH:MM');
    const badDate = await editor.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "local", time: "09:00", date: "2026-02-30" });
    expect(badDate.status).toBe(400);
    expect(await dueOf("la@example.com")).toBe("2026-03-09T16:00:00.000Z");
  });

  it("cancel leaves what has not gone out unsent; the list and the page say cancelled", async () => {
    const res = await editor.post(`/admin/newsletters/${ISSUE}/cancel`);
    expect(res.status).toBe(303);
    expect((await h.app.store.getIssue(ISSUE))?.status).toBe("cancelled");
    expect(await statusInList(viewer)).toBe("cancelled");
    const report = await h.app.store.issueReport(ISSUE);
    expect(report).toMatchObject({ pending: 0, cancelled: 3, sent: 0 });
    const missing = await pageText(await viewer.get(`/admin/newsletters/${ISSUE}/missing`));
    expect(missing.match(/<td>cancelled<\/td><td><\/td>/g)).toHaveLength(3);
    await h.tick(); // the course steps go out; the cancelled issue does not
    expect((await h.mails()).filter((m) => m.mail.subject === SUBJECT)).toHaveLength(0);
    expect(await audited("newsletter.cancel")).toMatchObject([{ staffEmail: "editor@clinic.example", detail: "3 delivery(ies) not yet sent" }]);
  });

  it("send now, then results: sent, clicks per link, and who has not received it and why", async () => {
    // One reader turns the topic off from their profile (an editor, through the door) after it was planned.
    await owner.post(`/admin/newsletters/${ISSUE}/schedule`, { mode: "at", at: "2026-03-09 12:00" });
    const profile = await pageText(await editor.get(`/admin/subscribers/${readers["auckland@example.com"]}`));
    const leave = `/admin/subscribers/${readers["auckland@example.com"]}/topics/weekly/leave`;
    expect(profile).toContain(`action="${leave}"`);
    expect((await editor.post(leave)).status).toBe(303);
    const res = await owner.post(`/admin/newsletters/${ISSUE}/send`);
    expect(res.status).toBe(303);
    expect(await audited("newsletter.send")).toMatchObject([{ staffEmail: "owner@clinic.example", detail: "now: 2 recipient(s) (re-scheduled)" }]);
    await h.tick();
    const sent = (await h.mails()).filter((m) => m.mail.subject === SUBJECT);
    expect(sent.map((m) => (m.mail.to as { value: { address: string }[] }).value[0]!.address).sort()).toEqual(["la@example.com", "london@example.com"]);
    // A click on one link, as the provider's webhook stores it (tests/http/hooks.test.ts; the outbox has no provider ids).
    const [send] = await h.app.store.listSends({ subscriberId: readers["london@example.com"]!, sequenceId: `newsletter:${ISSUE}` });
    await h.app.store.recordEvent({
      subscriberId: readers["london@example.com"]!,
      sendId: send!.id,
      type: "clicked",
      at: h.now(),
      data: { link: "https://bodyhealtherapy.example/blog/gluteus-minimus" },
    });
    const report = await h.app.store.issueReport(ISSUE);
    expect(report).toMatchObject({ sent: 2, clicked: 1, skipped: 1, clicksByLink: { "https://bodyhealtherapy.example/blog/gluteus-minimus": 1 } });
    expect(await statusInList(viewer)).toBe("sent");
    const page = await pageText(await viewer.get(`/admin/newsletters/${ISSUE}`));
    expect(page).toContain(`<td class="n" data-report="sent">2</td>`);
    expect(page).toContain(`<td class="n" data-report="clicked">1</td>`);
    expect(page).toContain('<td class="link">https://bodyhealtherapy.example/blog/gluteus-minimus</td><td class="n">1</td><td class="n">50.0%</td>');
    expect(page).toContain(`<a href="/admin/newsletters/${ISSUE}/missing">Who has not received it, and why (1)</a>`);
    const missing = await pageText(await viewer.get(`/admin/newsletters/${ISSUE}/missing`));
    const rows = [...missing.matchAll(/<tr><td><a href="[^"]+">([^<]+)<\/a><\/td><td>([^<]+)<\/td><td>([^<]*)<\/td><\/tr>/g)].map((m) => m.slice(1));
    expect(rows.map((r) => r[0])).toEqual((await h.app.newsletters.missing(ISSUE)).map((m) => m.email));
    expect(rows).toEqual([["auckland@example.com", "skipped", "left the topic"]]);
  });
});

describe("topics", () => {
  it("the overview shows subscribers by topic from store.topicCounts, as drip topics prints them", async () => {
    const counts = await h.app.store.topicCounts();
    expect(counts).toEqual([{ topicId: "weekly", subscribers: 2 }]);
    const page = await pageText(await viewer.get("/admin"));
    expect(page).toContain("Subscribers by topic");
    expect(page).toContain('<dt>The weekly blog</dt><dd data-count="topics.weekly">2</dd>');
    // drip topics prints the same numbers.
    const cli = await runDrip(["topics", "--json"], { env: h.env, cwd: h.dir, now: h.now() });
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.out)).toMatchObject([{ id: "weekly", subscribers: 2 }]);
  });

  it("a profile shows each topic with consent time and source; an editor turns one off through the door; a viewer cannot", async () => {
    const id = readers["la@example.com"]!;
    const asViewer = await pageText(await viewer.get(`/admin/subscribers/${id}`));
    expect(asViewer).toContain('<li data-topic="weekly">The weekly blog: <strong>on</strong> (consent 2026-03-09 10:00 UTC via signup form)</li>');
    expect(asViewer).not.toContain("/topics/weekly/leave");
    expect((await viewer.post(`/admin/subscribers/${id}/topics/weekly/leave`)).status).toBe(403);
    expect((await h.app.store.listTopicMemberships(id))[0]?.status).toBe("joined");
    h.advance(60_000);
    const page = await editor.get(`/admin/subscribers/${id}`);
    const token = hidden(await page.text(), "csrf");
    expect((await editor.post(`/admin/subscribers/${id}/topics/weekly/leave`, {}, { csrf: token })).status).toBe(303);
    expect((await h.app.store.listTopicMemberships(id))[0]).toMatchObject({ status: "left", leftAt: h.now(), consentSource: "signup form" });
    const timeline = await h.app.store.subscriberTimeline(id);
    expect(timeline.some((e) => e.kind === "unsubscribed")).toBe(true);
    expect((await h.app.store.getSubscriber(id))?.status).toBe("active"); // left the topic only
    const after = await pageText(await viewer.get(`/admin/subscribers/${id}`));
    expect(after).toContain("The weekly blog: <strong>off</strong> (left 2026-03-09 10:01 UTC; consent 2026-03-09 10:00 UTC via signup form)");
    expect((await audited("subscriber.topic-leave")).map((e) => [e.target, e.detail]).sort()).toEqual([
      ["auckland@example.com", "weekly: left"],
      ["la@example.com", "weekly: left"],
    ]);
    const never = await pageText(await viewer.get(`/admin/subscribers/${readers["outsider@example.com"]}`));
    expect(never).toContain("The weekly blog: <strong>off</strong> (never joined)");
  });
});
