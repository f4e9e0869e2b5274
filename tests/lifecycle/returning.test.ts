/**
 * Leaving and coming back, as subscribers and strangers meet it over HTTP: an unsubscribed
 * address stays unsubscribed whatever is posted (at most one confirmation a month reaches
 * it), a signup of a known address changes nothing before it is confirmed, and confirming
 * again resumes the course at the first email not yet sent, never sending one twice.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { DAY, type Harness, activeReader, confirmVia, form, harness, json, pageText, signUpAndGetLink, unsubscribeUrl } from "../http/harness.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";

let h: Harness;
beforeEach(async () => {
  h = await harness({ signupsPerIp: Number.POSITIVE_INFINITY });
});
afterEach(async () => h.close());
afterAll(cleanupTempDirs);

const HOUR = 3_600_000;
const confirmationsTo = async (email: string) => (await h.mails("confirm-")).filter((m) => JSON.stringify(m.mail.to).includes(email));
const stepsTo = async (email: string) =>
  (await h.mails())
    .filter((m) => !m.file.startsWith("confirm-") && JSON.stringify(m.mail.to).includes(email))
    .map((m) => String(m.mail.headers.get("subject")));

describe("an unsubscribed address stays unsubscribed", () => {
  // 720 requests and 30 ticks: seconds alone, a minute and more on a loaded 2-core machine.
  it("30 days of hourly signups by someone else produce at most one confirmation email, and the status never changes", { timeout: 180_000 }, async () => {
    const reader = await activeReader(h, "left@example.com");
    const unsub = await h.req(unsubscribeUrl(reader.article), form({ "List-Unsubscribe": "One-Click" }));
    expect(unsub.status).toBe(200);
    const before = (await confirmationsTo("left@example.com")).length;
    for (let hour = 0; hour < 30 * 24; hour++) {
      h.advance(HOUR);
      const res = await h.req("/subscribe", json({ email: "left@example.com", name: "Mallory", timezone: "Asia/Tokyo" }));
      expect(res.status).toBe(200); // the same answer as for anyone: no enumeration
      if (hour % 24 === 0) await h.tick();
      expect((await h.app.store.findSubscriberByEmail("left@example.com"))?.status).toBe("unsubscribed");
    }
    await h.tick();
    expect((await confirmationsTo("left@example.com")).length - before).toBeLessThanOrEqual(1);
    // Nothing the stranger typed was stored.
    expect(await h.app.store.findSubscriberByEmail("left@example.com")).toMatchObject({ name: "Ann", timezone: "Europe/London" });
    // And no course email reached them.
    expect(await stepsTo("left@example.com")).toHaveLength(1); // only the article, sent before they left
  });

  it("the interval is DRIP_RETURN_CONFIRM_DAYS: at 7, daily signups for 15 days reach the address 3 times", async () => {
    const short = await harness({ signupsPerIp: Number.POSITIVE_INFINITY, env: { DRIP_RETURN_CONFIRM_DAYS: "7" } });
    try {
      const reader = await activeReader(short, "weekly@example.com");
      await short.req(unsubscribeUrl(reader.article), form({ "List-Unsubscribe": "One-Click" }));
      const count = async () => (await short.mails("confirm-")).filter((m) => JSON.stringify(m.mail.to).includes("weekly@example.com")).length;
      const before = await count();
      for (let d = 0; d < 15; d++) {
        short.advance(DAY);
        await short.req("/subscribe", json({ email: "weekly@example.com" }));
        await short.tick();
      }
      expect((await count()) - before).toBe(3); // days 1, 8 and 15
      expect((await short.app.store.findSubscriberByEmail("weekly@example.com"))?.status).toBe("unsubscribed");
    } finally {
      await short.close();
    }
  });

  it("a second signup of a pending address changes neither its name nor its zone", async () => {
    await signUpAndGetLink(h, "pend@example.com");
    await h.req("/subscribe", json({ email: "pend@example.com", name: "Someone Else", timezone: "Asia/Tokyo" }));
    expect(await h.app.store.findSubscriberByEmail("pend@example.com")).toMatchObject({ name: "Ann", timezone: "Europe/London", status: "pending" });
  });
});

describe("coming back", () => {
  it("confirming again resumes the course at the first email not yet sent; the page says so; nothing is sent twice", async () => {
    const reader = await activeReader(h, "back@example.com");
    // Day 2's email goes out, then they unsubscribe on day 3.
    h.advance(2 * DAY);
    await h.tick();
    expect(await stepsTo("back@example.com")).toHaveLength(2);
    h.advance(DAY);
    expect((await h.req(unsubscribeUrl(reader.article), form({ "List-Unsubscribe": "One-Click" }))).status).toBe(200);
    // A week later they sign up again and confirm the new link.
    h.advance(7 * DAY);
    const link = await signUpAndGetLink(h, "back@example.com");
    expect((await h.app.store.findSubscriberByEmail("back@example.com"))?.status).toBe("unsubscribed"); // not before confirming
    const page = await confirmVia(h, link);
    expect(page.status).toBe(200);
    const text = await pageText(page);
    expect(text).toContain("Welcome back");
    expect(text).toContain("picks up where you left off");
    expect((await h.app.store.findSubscriberByEmail("back@example.com"))?.status).toBe("active");
    // Walk the rest of the course.
    for (let i = 0; i < 30 * 24; i += 6) {
      await h.tick();
      h.advance(6 * HOUR);
    }
    const subjects = await stepsTo("back@example.com");
    expect(subjects).toHaveLength(6); // the whole course, each email once
    expect(new Set(subjects).size).toBe(6);
    const sends = await h.app.store.listSends({ subscriberId: reader.id });
    expect(sends.filter((s) => s.status === "sent")).toHaveLength(6);
  });

  it("a confirmation link issued before the unsubscribe still cannot bring them back", async () => {
    const link = await signUpAndGetLink(h, "old@example.com");
    expect((await confirmVia(h, link)).status).toBe(200);
    await h.tick();
    const sub = (await h.app.store.findSubscriberByEmail("old@example.com"))!;
    h.advance(HOUR);
    await h.app.lifecycle.unsubscribe(sub, h.now(), "test");
    h.advance(HOUR);
    expect((await confirmVia(h, link)).status).toBe(410);
    expect((await h.app.store.findSubscriberByEmail("old@example.com"))?.status).toBe("unsubscribed");
  });
});
