/**
 * The links in every email: RFC 8058 one-click unsubscribe (exactly what a mailbox provider
 * posts, to the URL in a real outbox email's List-Unsubscribe header), the GET page, forged
 * tokens, and the preferences page (pause, resume, leave, unsubscribe, name and zone).
 */
import type { ParsedMail } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { planStep } from "../../src/schedule/index.ts";
import { signToken } from "../../src/tokens.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { DAY, type Harness, activeReader, form, harness, hidden, pageText, SECRET, unsubscribeUrl } from "./harness.ts";

let h: Harness;
let reader: { id: string; article: ParsedMail };
beforeEach(async () => {
  h = await harness();
  reader = await activeReader(h, "ann@example.com");
});
afterEach(async () => {
  await h.close();
  cleanupTempDirs();
});

/** Exactly what Gmail or Yahoo posts: urlencoded, this body, no cookies, no Origin, no auth. */
const ONE_CLICK: RequestInit = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "List-Unsubscribe=One-Click" };
const status = async (email = "ann@example.com") => (await h.app.store.findSubscriberByEmail(email))?.status;
const courseFiles = () => h.files().filter((f) => !f.startsWith("confirm-"));
const enrollment = async () => (await h.app.store.listEnrollments(reader.id))[0]!;
const prefsUrl = (mail: ParsedMail) => /href="([^"]*\/preferences\/[^"]+)"/.exec(String(mail.html))![1]!;

describe("one-click unsubscribe (RFC 8058)", () => {
  it("unsubscribes at once on the provider's POST to the List-Unsubscribe URL: 200, no redirect, no cookie", async () => {
    expect(reader.article.headers.get("list-unsubscribe-post")).toBeUndefined(); // mailparser files it under "list"
    expect((reader.article.headers.get("list") as Record<string, { name?: string }>)["unsubscribe-post"]?.name).toBe("List-Unsubscribe=One-Click");
    const url = unsubscribeUrl(reader.article);
    expect(url).toMatch(/^https:\/\/drip\.example\.com\/unsubscribe\//);
    const res = await h.req(url, ONE_CLICK);
    expect(res.status).toBe(200);
    expect(res.headers.get("location")).toBeNull();
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await pageText(res)).toContain("You're unsubscribed");
    expect(await status()).toBe("unsubscribed");
    expect((await enrollment()).status).toBe("exited");
    // Nothing more, ever: tick through the whole course.
    for (let d = 1; d <= 15; d++) await h.tick(new Date(h.now().getTime() + d * DAY));
    expect(courseFiles()).toHaveLength(1);
    // A second POST (providers retry) is harmless.
    expect((await h.req(url, ONE_CLICK)).status).toBe(200);
  });

  it("accepts multipart/form-data too", async () => {
    const body = new FormData();
    body.set("List-Unsubscribe", "One-Click");
    const res = await h.req(unsubscribeUrl(reader.article), { method: "POST", body });
    expect(res.status).toBe(200);
    expect(await status()).toBe("unsubscribed");
  });

  it("drops a send already claimed when the unsubscribe lands before dispatch", async () => {
    h.setNow(new Date("2026-03-11T09:00:00Z")); // day 2, 09:00 London: self-release is due
    const store = h.app.store;
    const claimDue = store.claimDue.bind(store);
    let claimed = 0;
    // The unsubscribe arrives while the tick holds the claim (after the claim, before delivery).
    store.claimDue = async (...args) => {
      const claims = await claimDue(...args);
      if (claims.length > 0 && claimed++ === 0) expect((await h.req(unsubscribeUrl(reader.article), ONE_CLICK)).status).toBe(200);
      return claims;
    };
    const summary = await h.tick();
    expect(claimed).toBe(1);
    expect(summary).toMatchObject({ sent: 0, skipped: 1 });
    expect(courseFiles()).toEqual([expect.stringMatching(/\.article\.eml$/)]);
    const sends = await store.listSends({ subscriberId: reader.id });
    expect(sends.find((s) => s.stepId === "self-release")).toMatchObject({ status: "skipped", reason: "subscriber is unsubscribed" });
  });

  it("GET shows a page with one button and does not unsubscribe", async () => {
    const res = await h.req(unsubscribeUrl(reader.article));
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page.match(/<button/g)).toHaveLength(1);
    expect(page).toContain('name="List-Unsubscribe" value="One-Click"');
    expect(page).toContain("ann@example.com");
    expect(await status()).toBe("active");
  });

  it("answers altered, forged or wrong-purpose tokens with 400 and unsubscribes nobody", async () => {
    const other = await activeReader(h, "bob@example.com");
    const url = unsubscribeUrl(reader.article);
    const token = url.split("/").pop()!;
    const [id, mac] = token.split(".") as [string, string];
    const otherId = other.id;
    const forged = [
      `${id}.${mac.slice(0, -1)}${mac.endsWith("A") ? "B" : "A"}`,
      `${otherId}.${mac}`,
      `${id}.${"A".repeat(mac.length)}`,
      id,
      signToken("another-secret-".padEnd(40, "z"), "manage", id),
      signToken(SECRET, "confirm", id, new Date(h.now().getTime() + DAY)),
      "a.b.c.d",
      "%2e%2e%2fadmin",
    ];
    for (const bad of forged) {
      const res = await h.req(`/unsubscribe/${bad}`, ONE_CLICK);
      expect(res.status, bad).toBe(400);
      expect((await h.req(`/unsubscribe/${bad}`)).status, bad).toBe(400);
      expect((await h.req(`/preferences/${bad}`)).status, bad).toBe(400);
    }
    expect(await status("ann@example.com")).toBe("active");
    expect(await status("bob@example.com")).toBe("active");
  });

  it("answers 400 when the body does not say List-Unsubscribe=One-Click", async () => {
    const url = unsubscribeUrl(reader.article);
    for (const body of ["", "List-Unsubscribe=Yes", "one-click=1"]) {
      const res = await h.req(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
      expect(res.status, body).toBe(400);
    }
    expect((await h.req(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"List-Unsubscribe":"One-Click"}' })).status).toBe(400);
    expect(await status()).toBe("active");
  });
});

describe("preferences", () => {
  const act = async (action: string, extra: Record<string, string> = {}, csrf?: string) => {
    const url = prefsUrl(reader.article);
    const token = csrf ?? hidden(await (await h.req(url)).text(), "csrf");
    return h.req(url, form({ csrf: token, action, ...extra }));
  };

  it("pause stops sends (ticks over days), resume continues; each answers with a 303 redirect", async () => {
    const paused = await act("pause");
    expect(paused.status).toBe(303);
    expect(paused.headers.get("location")).toMatch(/^\/preferences\/[^?]+\?done=pause$/);
    expect((await enrollment()).status).toBe("paused");
    for (let d = 1; d <= 15; d++) {
      h.advance(DAY);
      await h.tick();
    }
    expect(courseFiles()).toHaveLength(1);
    const page = await h.req(paused.headers.get("location")!);
    expect(await page.text()).toContain("The course is paused");
    expect((await act("resume")).status).toBe(303);
    expect((await enrollment()).status).toBe("active");
    await h.tick();
    expect(courseFiles()).toEqual(expect.arrayContaining([expect.stringMatching(/\.self-release\.eml$/)]));
    expect(courseFiles()).toHaveLength(2);
  });

  it("leaving the course exits the enrollment and keeps the subscriber active", async () => {
    expect((await act("leave")).status).toBe(303);
    expect((await enrollment()).status).toBe("exited");
    expect(await status()).toBe("active");
    await h.tick(new Date(h.now().getTime() + 3 * DAY));
    expect(courseFiles()).toHaveLength(1);
  });

  it("unsubscribes from everything", async () => {
    const res = await act("unsubscribe");
    expect(res.status).toBe(200);
    expect(await pageText(res)).toContain("You're unsubscribed");
    expect(await status()).toBe("unsubscribed");
  });

  it("changes name and time zone and re-plans the next step in the new zone", async () => {
    const before = await enrollment();
    expect(before.nextStepId).toBe("self-release");
    expect((await act("profile", { name: "Annie", timezone: "Asia/Tokyo" })).status).toBe(303);
    const sub = (await h.app.store.getSubscriber(reader.id))!;
    expect(sub).toMatchObject({ name: "Annie", timezone: "Asia/Tokyo" });
    const seq = h.app.engine.getSequence(before.sequenceId)!;
    const step = seq.steps.find((s) => s.id === "self-release")!;
    const want = planStep({ schedule: step.schedule, start: before.startedAt, timezone: "Asia/Tokyo", defaultTimezone: seq.defaultTimezone, window: seq.sendWindow }).at;
    const after = await enrollment();
    expect(after.nextDueAt?.toISOString()).toBe(want.toISOString());
    expect(after.nextDueAt?.toISOString()).toBe("2026-03-11T00:00:00.000Z"); // 09:00 in Tokyo
    expect(after.nextDueAt?.getTime()).not.toBe(before.nextDueAt?.getTime());
    // Bad details change nothing.
    expect((await act("profile", { name: "Ann\nBcc: x@example.com", timezone: "Asia/Tokyo" })).status).toBe(400);
    expect((await act("profile", { name: "Ann", timezone: "Nowhere/Land" })).status).toBe(400);
    expect((await h.app.store.getSubscriber(reader.id))!.name).toBe("Annie");
  });

  it("refuses a missing, wrong or other subscriber's csrf token with 403 and changes nothing", async () => {
    const url = prefsUrl(reader.article);
    expect((await h.req(url, form({ action: "pause" }))).status).toBe(403);
    expect((await act("pause", {}, "abc.def"))).toHaveProperty("status", 403);
    const bob = await activeReader(h, "bob@example.com");
    const bobsCsrf = hidden(await (await h.req(prefsUrl(bob.article))).text(), "csrf");
    expect((await act("pause", {}, bobsCsrf)).status).toBe(403);
    const res = await h.req(url, form({ csrf: hidden(await (await h.req(url)).text(), "csrf"), action: "pause" }, { origin: "https://evil.example" }));
    expect(res.status).toBe(403);
    expect((await enrollment()).status).toBe("active");
  });
});
