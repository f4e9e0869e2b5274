/**
 * What the pages tell a reader: the "check your inbox" page (the address repeated, the spam
 * folder, how to fix a typo, and how to get back in after unsubscribing or being forgotten,
 * in words true for everyone so nothing tells a stranger whether an address is known), the
 * clinic's contact address (DRIP_CONTACT_EMAIL) on error pages, and the paused state said once.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { type Harness, activeReader, form, harness, hidden, json, pageText, signUpAndGetLink } from "./harness.ts";

const CONTACT = "care@clinic.example";
let h: Harness;
beforeEach(async () => {
  h = await harness({ env: { DRIP_CONTACT_EMAIL: CONTACT } });
});
afterEach(async () => {
  await h.close();
  cleanupTempDirs();
});

const csrfFromPage = async (path = "/") => hidden(await (await h.req(path)).text(), "csrf");
/** The page with the address it repeats taken out, to compare the answers for different addresses. */
const withoutAddress = (page: string, email: string) => page.split(email).join("<address>");

describe("the check-your-inbox page", () => {
  it("repeats the address, points to the spam folder, links back to the form, and gives the contact address", async () => {
    const res = await h.req("/subscribe", form({ email: "ann@example.com", name: "Ann", timezone: "Europe/London", csrf: await csrfFromPage() }));
    expect(res.status).toBe(200);
    const page = await pageText(res);
    expect(page).toContain("<strong>ann@example.com</strong>");
    expect(page).toMatch(/spam/i);
    expect(page).toMatch(/<a href="\/">[^<]+<\/a>/); // a typo: back to the form
    expect(page).toContain(`<a href="mailto:${CONTACT}">${CONTACT}</a>`);
    expect(page).not.toMatch(/if this address can join/i); // no hedge
  });

  it("says the same to every address, known or not: new, pending, active, unsubscribed, suppressed and forgotten", async () => {
    await signUpAndGetLink(h, "pending@example.com");
    await activeReader(h, "active@example.com");
    const left = await activeReader(h, "left@example.com");
    await h.app.lifecycle.unsubscribe({ id: left.id }, h.now(), "test");
    await activeReader(h, "bounced@example.com");
    await h.app.lifecycle.suppress("bounced@example.com", "bounce", h.now());
    await activeReader(h, "forgotten@example.com");
    await h.app.lifecycle.forget("forgotten@example.com", h.now());
    h.advance(60_000);
    const csrf = await csrfFromPage();
    const answers: string[] = [];
    const jsonAnswers: string[] = [];
    for (const email of ["new@example.com", "pending@example.com", "active@example.com", "left@example.com", "bounced@example.com", "forgotten@example.com"]) {
      const res = await h.req("/subscribe", form({ email, name: "", timezone: "", csrf }));
      expect(res.status, email).toBe(200);
      const page = await res.text();
      expect(page, email).toContain(email);
      answers.push(withoutAddress(page, email));
      const j = await h.req("/subscribe", json({ email, name: "", timezone: "" }));
      jsonAnswers.push(`${j.status} ${withoutAddress(await j.text(), email)}`);
    }
    expect(new Set(answers).size).toBe(1);
    expect(new Set(jsonAnswers).size).toBe(1);
    // The honest part, true for everyone: who cannot be written to, and what to do.
    const text = await pageText(new Response(answers[0]));
    expect(text).toMatch(/unsubscribed/);
    expect(text).toMatch(/forget/);
    expect(text).toContain(CONTACT);
  });

  it("is what the resend form answers too", async () => {
    const csrf = hidden(await (await h.req("/confirm/not-a-token")).text(), "csrf");
    const res = await h.req("/confirm/resend", form({ email: "bo@example.com", csrf }));
    expect(res.status).toBe(200);
    const page = await pageText(res);
    expect(page).toContain("<strong>bo@example.com</strong>");
    expect(page).toMatch(/spam/i);
    expect(page).toContain(`mailto:${CONTACT}`);
  });
});

describe("the contact address on error pages", () => {
  it("is on a bad preferences or unsubscribe link, a bad confirmation link, and the 404 and 500 pages", async () => {
    for (const path of ["/preferences/not-a-token", "/unsubscribe/not-a-token", "/confirm/not-a-token", "/no-such-page"]) {
      const res = await h.req(path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(await pageText(res), path).toContain(`<a href="mailto:${CONTACT}">${CONTACT}</a>`);
    }
    const reader = await activeReader(h, "ann@example.com");
    const prefs = /href="([^"]*\/preferences\/[^"]+)"/.exec(String(reader.article.html))![1]!.replace(/&amp;/g, "&");
    h.app.store.listEnrollments = async () => {
      throw new Error("disk on fire");
    };
    const res = await h.req(prefs);
    expect(res.status).toBe(500);
    const page = await pageText(res);
    expect(page).toContain(`mailto:${CONTACT}`);
    expect(page).not.toContain("disk on fire");
  });

  it("defaults to the sender address (DRIP_FROM)", async () => {
    await h.close();
    h = await harness({ env: { DRIP_FROM: "hello@clinic.example" } });
    expect(await pageText(await h.req("/preferences/not-a-token"))).toContain('<a href="mailto:hello@clinic.example">hello@clinic.example</a>');
  });
});

describe("the preferences page", () => {
  it("says the course is paused once, after pausing and on a later visit", async () => {
    const reader = await activeReader(h, "ann@example.com");
    const url = /href="([^"]*\/preferences\/[^"]+)"/.exec(String(reader.article.html))![1]!.replace(/&amp;/g, "&");
    const paused = await h.req(url, form({ csrf: hidden(await (await h.req(url)).text(), "csrf"), action: "pause" }));
    expect(paused.status).toBe(303);
    for (const path of [paused.headers.get("location")!, url]) {
      const page = await pageText(await h.req(path));
      const visible = page.replace(/<[^>]+>/g, " ");
      expect(visible.match(/\bpaused\b/gi), path).toHaveLength(1);
      expect(page).toContain("Resume the course");
    }
  });
});
