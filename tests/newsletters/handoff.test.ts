/**
 * The course hands its finishers to the weekly newsletter, with the shipped content, end to
 * end: a reader ticks the signup form's own unticked "When the course ends, send me “The weekly
 * blog" box, confirms, is not a member during the course (consent recorded for later), finishes
 * the course on the test clock, joins the topic through `course-finishers-join-weekly`
 * (sequences/automations.ts) and receives the next newsletter. A reader who did not tick it
 * finishes too and is not joined: the run is recorded as skipped with the reason.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { BASE, DAY, type Harness, confirmLink, confirmVia, form, harness, hidden, unsubscribeUrl } from "../http/harness.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";

const ISSUE = "two-ways-to-ease-outer-hip-pain";
const SUBJECT = "Two ways to ease outer hip pain at home";

let h: Harness;
beforeEach(async () => {
  h = await harness({ signupsPerIp: Number.POSITIVE_INFINITY });
});
afterEach(async () => h.close());
afterAll(cleanupTempDirs);

/** Sign up through the hosted form /f/hip-pain (the same form the blog snippet posts), ticking the topic box or not. */
async function signUpThroughForm(email: string, tick: boolean) {
  const page = await (await h.req("/f/hip-pain")).text();
  const fields: Record<string, string> = { csrf: hidden(page, "csrf"), email, name: "Robin", timezone: "Europe/London" };
  if (tick) fields.topic_weekly = "yes";
  const res = await h.req("/f/hip-pain", form(fields, { origin: BASE }));
  expect(res.status).toBe(200);
  return (await h.app.store.findSubscriberByEmail(email))!;
}

async function confirmAll() {
  await h.tick();
  for (const m of await h.mails("confirm-")) expect((await confirmVia(h, confirmLink(m.mail))).status).toBe(200);
}

describe("course → newsletter hand-off (shipped content)", () => {
  it("the form's box is its own and unticked, and promises the newsletter for when the course ends", async () => {
    const page = await (await h.req("/f/hip-pain")).text();
    const box = /<input id="topic_weekly" name="topic_weekly" type="checkbox"[^>]*>/.exec(page)?.[0];
    expect(box).toBeDefined();
    expect(box).not.toMatch(/checked/);
    expect(page).toContain('<label for="topic_weekly">When the course ends, send me “The weekly blog”. Each new article');
  });

  // About 80 ticks walk the course: generous room for a loaded machine (nothing here is timed).
  it("a reader who ticked the box joins the weekly topic when they finish the course and gets the next issue; one who did not is not joined", {
    timeout: 180_000,
  }, async () => {
    const yes = await signUpThroughForm("handoff-yes@example.com", true);
    const no = await signUpThroughForm("handoff-no@example.com", false);
    // Consent recorded at signup, for later: not a member yet.
    expect(await h.app.store.listTopicMemberships(yes.id)).toEqual([
      { topicId: "weekly", status: "consented", consentAt: h.now(), consentSource: "signup form: hip-pain (when the course ends)", leftAt: null },
    ]);
    expect(await h.app.store.listTopicMemberships(no.id)).toEqual([]);
    await confirmAll();
    expect((await h.app.store.getSubscriber(yes.id))?.status).toBe("active");
    // During the course: neither is in the newsletter's audience.
    expect(await h.app.store.topicMembersAmong("weekly", [yes.id, no.id])).toEqual(new Set());

    // Walk the course on the test clock (ticks every 6 hours) until both have finished it.
    const start = h.now().getTime();
    const finished = async () =>
      (await Promise.all([yes, no].map((s) => h.app.store.getEnrollment(s.id, "hip-pain-course")))).every((e) => e?.status === "completed");
    while (!(await finished())) {
      expect(h.now().getTime() - start).toBeLessThan(30 * DAY);
      h.advance(6 * 3_600_000);
      await h.tick();
    }
    const courseMails = (await h.mails()).filter((m) => !m.file.startsWith("confirm-"));
    expect(courseMails.filter((m) => m.mail.subject === SUBJECT)).toEqual([]);

    // The hand-off fired once for each, in the tick that saw the course end.
    const yesRuns = await h.app.store.automationRuns(yes.id);
    expect(yesRuns).toMatchObject([
      { automationId: "course-finishers-join-weekly", trigger: "sequence hip-pain-course completed (round 1)", outcome: "done", detail: "joined topic weekly" },
    ]);
    expect(await h.app.store.automationRuns(no.id)).toMatchObject([
      {
        automationId: "course-finishers-join-weekly",
        outcome: "skipped",
        detail: "not joined to topic weekly: no recorded consent for topic weekly",
      },
    ]);
    // Joined, the consent keeping its own time and source.
    expect(await h.app.store.listTopicMemberships(yes.id)).toEqual([
      { topicId: "weekly", status: "joined", consentAt: new Date(start), consentSource: "signup form: hip-pain (when the course ends)", leftAt: null },
    ]);
    expect(await h.app.store.listTopicMemberships(no.id)).toEqual([]);

    // The next newsletter reaches the one who asked for it, and nobody else.
    await h.app.newsletters.schedule(ISSUE, { kind: "now" }, h.now());
    await h.tick();
    const issues = (await h.mails()).filter((m) => m.mail.subject === SUBJECT);
    expect(issues.map((m) => m.mail.to && JSON.stringify(m.mail.to))).toEqual([expect.stringContaining("handoff-yes@example.com")]);
    // A second look fires nothing again.
    await h.tick();
    expect(await h.app.store.automationRuns(yes.id)).toHaveLength(1);
  });

  it("the preferences page shows the consent for later, and withdrawing it there means the course's end joins nothing", async () => {
    const s = await signUpThroughForm("changes-mind@example.com", true);
    await confirmAll();
    await h.tick();
    const article = (await h.mails()).find((m) => JSON.stringify(m.mail.to).includes("changes-mind@example.com") && !m.file.startsWith("confirm-"))!;
    const prefs = unsubscribeUrl(article.mail).replace("/unsubscribe/", "/preferences/");
    const page = await (await h.req(prefs)).text();
    expect(page).toContain("The weekly blog</strong>: on when the course ends.");
    const res = await h.req(prefs, form({ csrf: hidden(page, "csrf"), action: "topic-leave", topic: "weekly" }, { origin: BASE }));
    expect(res.status).toBe(303);
    expect((await h.app.store.listTopicMemberships(s.id))[0]).toMatchObject({ status: "left" });
    expect(await (await h.req(prefs)).text()).toContain("The weekly blog</strong>: off.");
    // The hand-off finds the consent withdrawn: skipped, never joined.
    await h.app.store.setEnrollmentStatus((await h.app.store.getEnrollment(s.id, "hip-pain-course"))!.id, "completed", "test: finished");
    await h.tick();
    expect(await h.app.store.automationRuns(s.id)).toMatchObject([{ automationId: "course-finishers-join-weekly", outcome: "skipped" }]);
    expect((await h.app.store.listTopicMemberships(s.id))[0]).toMatchObject({ status: "left" });
  });
});
