/**
 * Dashboard sign-in: one-time links (used, expired, forged → refused), throttling of wrong
 * attempts, TOTP, cookies, server-side sign-out, the sign-in email, and the audit log.
 */
import { generateSync } from "otplib";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { newTotp } from "../../src/admin/auth.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { type Harness, form, harness, hidden } from "../http/harness.ts";
import { COOKIE, cookieFrom, linkFor, sessionOf, signIn, pressLink } from "./admin-harness.ts";

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => h.close());
afterAll(() => cleanupTempDirs());

describe("sign-in links", () => {
  it("a link signs in once: the session cookie is HttpOnly, Secure (https public URL), SameSite=Lax, and the overview opens", async () => {
    const link = await linkFor(h, "owner@clinic.example", "owner");
    const page = await h.req(link);
    expect(page.status).toBe(200);
    expect(cookieFrom(page)).toBeNull(); // opening the link (a mail scanner) signs nobody in
    const res = await pressLink(h, link);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin");
    const set = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`))!;
    expect(set).toMatch(/HttpOnly/i);
    expect(set).toMatch(/Secure/i);
    expect(set).toMatch(/SameSite=Lax/i);
    expect(set).toMatch(/Path=\//);
    const overview = await h.req("/admin", { headers: { cookie: cookieFrom(res)! } });
    expect(overview.status).toBe(200);
    expect(await overview.text()).toContain("owner@clinic.example");
  });

  it("a used link is refused, and so is a second press of its button", async () => {
    const link = await linkFor(h, "ed@clinic.example", "editor");
    const page = await (await h.req(link)).text();
    const csrf = hidden(page, "csrf");
    expect((await h.req(link, form({ csrf }))).status).toBe(303);
    const again = await h.req(link, form({ csrf }));
    expect(again.status).toBe(400);
    expect(cookieFrom(again)).toBeNull();
    expect((await h.req(link)).status).toBe(400);
  });

  it("an expired link (after 15 minutes) is refused", async () => {
    const link = await linkFor(h, "v@clinic.example", "viewer");
    const page = await (await h.req(link)).text();
    h.advance(15 * 60_000);
    const res = await h.req(link, form({ csrf: hidden(page, "csrf") }));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("expired");
    expect(cookieFrom(res)).toBeNull();
  });

  it("a forged link, or a real one with a changed character, is refused", async () => {
    const link = await linkFor(h, "v@clinic.example", "viewer");
    const last = link.at(-1) === "A" ? "B" : "A";
    for (const forged of ["/admin/signin/forged", `${link.slice(0, -1)}${last}`]) {
      expect((await h.req(forged)).status).toBe(400);
      expect((await h.req(forged, form({ csrf: "x" }))).status).toBe(400);
    }
    expect((await pressLink(h, link)).status).toBe(303); // the real one still works
  });

  it("the button without its form token is refused and does not use the link", async () => {
    const link = await linkFor(h, "v@clinic.example", "viewer");
    expect((await h.req(link, form({}))).status).toBe(403);
    expect((await h.req(link, form({ csrf: "1.forged" }))).status).toBe(403);
    expect((await pressLink(h, link)).status).toBe(303);
  });

  it("the 11th wrong attempt in a minute is throttled (even with a good link), per IP; a minute later it works again", async () => {
    const good = await linkFor(h, "o@clinic.example", "owner");
    for (let i = 0; i < 10; i++) expect((await h.req(`/admin/signin/wrong-${i}`, undefined, "198.51.100.9")).status).toBe(400);
    expect((await h.req("/admin/signin/wrong-11", undefined, "198.51.100.9")).status).toBe(429);
    expect((await h.req(good, undefined, "198.51.100.9")).status).toBe(429);
    expect((await pressLink(h, good, {}, "198.51.100.10")).status).toBe(303); // another address is not held up
    const later = await linkFor(h, "o@clinic.example", "owner");
    h.advance(61_000);
    expect((await pressLink(h, later, {}, "198.51.100.9")).status).toBe(303);
  });

  it("asking for a link by email: the same answer for unknown addresses, an email with a working link for staff, 11th request in a minute throttled", async () => {
    await h.app.store.putStaff("staff@clinic.example", "editor", h.now());
    const ask = async (email: string, ip = "203.0.113.50") => {
      const page = await (await h.req("/admin/signin", undefined, ip)).text();
      return h.req("/admin/signin", form({ csrf: hidden(page, "csrf"), email }), ip);
    };
    const unknown = await ask("nobody@clinic.example");
    const known = await ask("staff@clinic.example");
    expect(unknown.status).toBe(200);
    expect(known.status).toBe(200);
    expect(await unknown.text()).toBe(await known.text());
    const mails = (await h.mails("staff-signin-")).filter((m) => JSON.stringify(m.mail.to).includes("staff@clinic.example"));
    expect(mails).toHaveLength(1);
    const url = /https:\/\/drip\.example\.com(\/admin\/signin\/[A-Za-z0-9_-]+)/.exec(String(mails[0]!.mail.text))![1]!;
    expect((await pressLink(h, url)).status).toBe(303);
    for (let i = 0; i < 9; i++) expect((await ask("staff@clinic.example", `203.0.113.${60 + i}`)).status).toBe(200);
    // 10 requests for this address in the minute: the 11th is throttled whatever the IP.
    expect((await ask("staff@clinic.example", "203.0.113.99")).status).toBe(429);
    expect((await h.req("/admin/signin", form({ email: "x@y.z" }))).status).toBe(403); // no form token
  });
});

describe("two-factor (TOTP)", () => {
  it("an account with TOTP needs the current code; a wrong one is refused and does not use the link", async () => {
    const link = await linkFor(h, "o@clinic.example", "owner");
    const staff = (await h.app.store.findStaffByEmail("o@clinic.example"))!;
    const totp = newTotp(staff.email, "Clinic");
    await h.app.store.setStaffTotp(staff.id, totp.secret);
    const page = await (await h.req(link)).text();
    expect(page).toContain('name="code"');
    const csrf = hidden(page, "csrf");
    expect((await h.req(link, form({ csrf }))).status).toBe(400);
    expect(
      (await h.req(link, form({ csrf, code: "000000" === generateSync({ secret: totp.secret, epoch: h.now().getTime() / 1000 }) ? "111111" : "000000" })))
        .status,
    ).toBe(400);
    const code = generateSync({ secret: totp.secret, epoch: Math.floor(h.now().getTime() / 1000) });
    const ok = await h.req(link, form({ csrf, code }));
    expect(ok.status).toBe(303);
    expect(cookieFrom(ok)).not.toBeNull();
  });
});

describe("sessions", () => {
  it("signing out revokes the session on the server: the old cookie no longer works", async () => {
    const s = await signIn(h, "o@clinic.example", "owner");
    expect((await s.get("/admin")).status).toBe(200);
    const out = await s.post("/admin/signout");
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/admin/signin");
    const replay = await s.get("/admin");
    expect(replay.status).toBe(303);
    expect(replay.headers.get("location")).toMatch(/^\/admin\/signin/);
  });

  it("a session ends after 12 hours, and when its account is removed", async () => {
    const a = await signIn(h, "a@clinic.example", "editor");
    const b = await signIn(h, "b@clinic.example", "editor");
    await h.app.store.removeStaff((await h.app.store.findStaffByEmail("b@clinic.example"))!.id);
    expect((await b.get("/admin")).status).toBe(303);
    expect((await a.get("/admin")).status).toBe(200);
    h.advance(12 * 3_600_000);
    expect((await a.get("/admin")).status).toBe(303);
  });

  it("a form token from one session does not work in another", async () => {
    const a = await signIn(h, "a@clinic.example", "owner");
    const b = await signIn(h, "b@clinic.example", "owner");
    const crossed = sessionOf(h, b.cookie, a.csrf);
    expect((await crossed.post("/admin/signout")).status).toBe(403);
    expect((await b.get("/admin")).status).toBe(200);
  });
});

describe("audit log", () => {
  it("records sign-in, subscriber actions and sign-out with who and when; owners read it", async () => {
    await h.app.lifecycle.subscribe(
      { email: "reader@example.com", name: "Rea", timezone: "Europe/London", tags: [] },
      { confirmed: true, source: "test" },
      h.now(),
    );
    const sub = (await h.app.store.findSubscriberByEmail("reader@example.com"))!;
    const ed = await signIn(h, "ed@clinic.example", "editor");
    expect((await ed.post(`/admin/subscribers/${sub.id}/tag`, { tag: "vip" })).status).toBe(303);
    expect((await h.app.store.getSubscriber(sub.id))!.tags).toContain("vip");
    await ed.post("/admin/signout");
    const owner = await signIn(h, "o@clinic.example", "owner");
    const page = await (await owner.get("/admin/audit")).text();
    for (const want of ["subscriber.tag", "reader@example.com", "vip", "signin", "signout", "ed@clinic.example"]) expect(page).toContain(want);
    const entries = await h.app.store.listAudit(50);
    expect(entries.find((e) => e.action === "subscriber.tag")).toMatchObject({
      staffEmail: "ed@clinic.example",
      target: "reader@example.com",
      detail: "vip",
      at: h.now(),
    });
  });
});
