/**
 * Signup with double opt-in over HTTP (app.request, no port): the page, POST /subscribe as a
 * form and as JSON, no enumeration, consent, honeypot, validation, CSRF, rate limits, the
 * three-per-day confirmation cap, and the confirmation link (good, twice, tampered, expired,
 * resent, issued before an unsubscribe).
 */
import { createHash } from "node:crypto";
import { runInNewContext } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip } from "../support/engine-helpers.ts";
import { csrfToken } from "../../src/http/security.ts";
import { FakeOption, fakeSelect } from "../support/fake-select.ts";
import {
  DAY,
  type Harness,
  SECRET,
  confirmLink,
  confirmVia,
  form,
  harness,
  hidden,
  json,
  pageText,
  signUpAndGetLink,
  START,
  unsubscribeUrl,
} from "./harness.ts";

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.close();
  cleanupTempDirs();
});

const subscriberCount = async () => Object.values((await h.app.store.status()).subscribers).reduce((a, b) => a + b, 0);
const csrfFromPage = async (path = "/") => hidden(await (await h.req(path)).text(), "csrf");
const noStack = (body: string) => expect(body).not.toMatch(/\bat .*\(.*:\d+:\d+\)|Error:|node_modules/);
const BASE_CONFIRM = "/confirm/";
const articles = () => h.files().filter((f) => !f.startsWith("confirm-"));

describe("GET /", () => {
  it("shows an accessible form with a csrf token, a honeypot and the security headers", async () => {
    const res = await h.req("/");
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain("Body Heal Therapy");
    expect(page).toMatch(/<form method="post" action="\/subscribe"/);
    // Every visible field has a label pointing at it.
    const ids = [...page.matchAll(/<(?:input|select) id="([^"]+)"(?![^>]*type="hidden")/g)].map((m) => m[1]!);
    expect(ids).toEqual(expect.arrayContaining(["email", "name", "timezone"]));
    for (const id of ids) expect(page).toContain(`<label for="${id}">`);
    expect(hidden(page, "csrf")).toMatch(/^[0-9a-z]+\.[\w-]{20,}$/);
    expect(page).toMatch(/name="website"[^>]*tabindex="-1"/);
    expect(page).toContain('<option value="Europe/London" selected>');
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options") !== null || csp.includes("frame-ancestors 'none'")).toBe(true);
    // Not no-referrer: with it, browsers post forms with "Origin: null" (see the browser test).
    expect(["same-origin", "strict-origin", "strict-origin-when-cross-origin"]).toContain(res.headers.get("referrer-policy"));
  });
});

describe("POST /subscribe", () => {
  it("accepts the form with the page's csrf token and records consent (source, time, IP)", async () => {
    const res = await h.req(
      "/subscribe",
      form({ email: "ann@example.com", name: "Ann", timezone: "America/New_York", csrf: await csrfFromPage(), website: "" }),
      "198.51.100.23",
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Check your inbox");
    const sub = await h.app.store.findSubscriberByEmail("ann@example.com");
    expect(sub).toMatchObject({ status: "pending", name: "Ann", timezone: "America/New_York", consentSource: "signup form", consentIp: "198.51.100.23" });
    expect(sub!.consentAt?.toISOString()).toBe(START.toISOString());
  });

  it("answers a new and a known address the same way, as JSON and as a form", async () => {
    const post = async (email: string) => {
      const r = await h.req("/subscribe", json({ email, name: "Bo", timezone: "Europe/Paris" }));
      return [r.status, await r.text()] as const;
    };
    const fresh = await post("new@example.com");
    expect(fresh[0]).toBe(200);
    expect(await post("new@example.com")).toEqual(fresh);
    // Confirmed readers too: nothing tells a stranger the address is on the list.
    await confirmVia(h, await signUpAndGetLink(h, "known@example.com"));
    expect((await h.app.store.findSubscriberByEmail("known@example.com"))?.status).toBe("active");
    expect(await post("known@example.com")).toEqual(fresh);
    const csrf = await csrfFromPage();
    // The form's page repeats the address (so a typo shows); apart from it, the pages are identical.
    const viaForm = async (email: string) => {
      const r = await h.req("/subscribe", form({ email, name: "", timezone: "", csrf }));
      return [r.status, (await r.text()).split(email).join("<address>")] as const;
    };
    expect(await viaForm("known@example.com")).toEqual(await viaForm("another@example.com"));
  });

  it("gives a filled honeypot the same answer and stores nothing", async () => {
    const normal = await h.req("/subscribe", json({ email: "real@example.com", name: "", timezone: "" }));
    const bot = await h.req("/subscribe", json({ email: "bot@example.com", name: "", timezone: "", website: "http://spam.example" }));
    expect([bot.status, await bot.text()]).toEqual([normal.status, await normal.text()]);
    const botForm = await h.req("/subscribe", form({ email: "bot2@example.com", csrf: await csrfFromPage(), website: "x" }));
    expect(botForm.status).toBe(200);
    expect(await h.app.store.findSubscriberByEmail("bot@example.com")).toBeNull();
    expect(await h.app.store.findSubscriberByEmail("bot2@example.com")).toBeNull();
    await h.tick();
    expect(h.files("confirm-")).toHaveLength(1);
  });

  it.each([
    ["a bad email", json({ email: "not-an-address", name: "Ann", timezone: "" }), 400, /valid email address/],
    [
      "a name with a line break",
      json({ email: "a@example.com", name: "Ann\r\nBcc: victim@example.com", timezone: "" }),
      400,
      /line breaks or control characters/,
    ],
    ["a name with a control character", json({ email: "a@example.com", name: "Ann\u0007", timezone: "" }), 400, /control characters/],
    ["an invalid zone", json({ email: "a@example.com", name: "Ann", timezone: "Mars/Olympus_Mons" }), 400, /not an IANA zone/],
    ["bad JSON", json('{"email": "a@example.com",'), 400, /not valid JSON/],
    ["a body over 16 KiB", json({ email: "a@example.com", name: "A", timezone: "", pad: "x".repeat(17 * 1024) }), 413, /16 KiB/],
  ])("refuses %s with a sentence and stores nothing", async (_what, init, status, message) => {
    const res = await h.req("/subscribe", init);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string };
    expect(body.error).toMatch(message);
    expect(body.error.split(" ").length).toBeGreaterThan(2);
    expect(await subscriberCount()).toBe(0);
  });

  it("refuses bad form input with the form again, and an oversized form with a page", async () => {
    const csrf = await csrfFromPage();
    const bad = await h.req("/subscribe", form({ email: "nope", name: "Ann", timezone: "", csrf }));
    expect(bad.status).toBe(400);
    const page = await bad.text();
    expect(page).toContain("Please enter a valid email address.");
    expect(page).toContain('value="Ann"');
    noStack(page);
    const big = await h.req("/subscribe", form({ email: "a@example.com", csrf, name: "x".repeat(20_000) }));
    expect(big.status).toBe(413);
    expect(await big.text()).toContain("more data than we accept");
    expect(await subscriberCount()).toBe(0);
  });

  it("refuses a form without, or with a wrong or foreign, csrf token (403) and stores nothing", async () => {
    const fields = { email: "c@example.com", name: "C", timezone: "" };
    expect((await h.req("/subscribe", form(fields))).status).toBe(403);
    expect((await h.req("/subscribe", form({ ...fields, csrf: "abc.def" }))).status).toBe(403);
    const csrf = await csrfFromPage();
    expect((await h.req("/subscribe", form({ ...fields, csrf: `${csrf.slice(0, -1)}${csrf.endsWith("A") ? "B" : "A"}` }))).status).toBe(403);
    expect((await h.req("/subscribe", form({ ...fields, csrf }, { origin: "https://evil.example" }))).status).toBe(403);
    // A token from four hours ago has run out.
    h.setNow(new Date(START.getTime() + 4 * 3_600_000));
    expect((await h.req("/subscribe", form({ ...fields, csrf }))).status).toBe(403);
    expect(await subscriberCount()).toBe(0);
  });

  it("limits signups per IP (429), other IPs unaffected", async () => {
    await h.close();
    h = await harness({ signupsPerIp: 3 });
    for (let i = 0; i < 3; i++) expect((await h.req("/subscribe", json({ email: `ip${i}@example.com` }), "192.0.2.1")).status).toBe(200);
    const limited = await h.req("/subscribe", json({ email: "ip3@example.com" }), "192.0.2.1");
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { error: string }).error).toMatch(/too many/);
    expect(await h.app.store.findSubscriberByEmail("ip3@example.com")).toBeNull();
    // The resend form draws on the same budget (it can create and mail an address too).
    const resendCsrf = hidden(await (await h.req("/confirm/not-a-token")).text(), "csrf");
    expect((await h.req("/confirm/resend", form({ email: "ip3@example.com", csrf: resendCsrf }), "192.0.2.1")).status).toBe(429);
    expect(await h.app.store.findSubscriberByEmail("ip3@example.com")).toBeNull();
    expect((await h.req("/subscribe", json({ email: "ip4@example.com" }), "192.0.2.2")).status).toBe(200);
    h.advance(11 * 60_000);
    expect((await h.req("/subscribe", json({ email: "ip5@example.com" }), "192.0.2.1")).status).toBe(200);
  });

  it("sends at most 3 confirmation emails for 1,000 signups of one address within an hour", async () => {
    await h.close();
    h = await harness({ signupsPerIp: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 1000; i++) {
      const res = await h.req("/subscribe", json({ email: "victim@example.com", name: "", timezone: "" }), `10.0.${i % 250}.${i % 7}`);
      expect(res.status).toBe(200);
      h.advance(3_500); // 1,000 × 3.5 s < 1 hour
      if (i % 100 === 99) await h.tick();
    }
    await h.tick();
    expect(h.files("confirm-").length).toBeGreaterThanOrEqual(1);
    expect(h.files("confirm-").length).toBeLessThanOrEqual(3);
  });
});

describe("confirmation link", () => {
  it("only shows a button when opened (a link scanner confirms nothing); the button confirms", async () => {
    const link = await signUpAndGetLink(h, "scan@example.com");
    const status = async () => (await h.app.store.findSubscriberByEmail("scan@example.com"))?.status;
    // A scanner fetches the link, perhaps several times, with any Accept header: nothing changes.
    for (const accept of ["text/html", "*/*", "application/json"]) {
      const res = await h.req(link, { headers: { accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const page = await pageText(res);
      expect(page).toContain("Confirm my subscription");
      expect(page).toContain("scan@example.com");
      expect(page).toMatch(new RegExp(`<form method="post" action="${new URL(link).pathname}"`));
      expect(page).not.toContain("<script"); // no auto-submit: a scanner that runs scripts confirms nothing either
      noStack(page);
    }
    h.advance(60_000);
    const page = await (await h.req(link)).text();
    expect(await status()).toBe("pending");
    await h.tick();
    expect(articles()).toHaveLength(0);
    // A POST without the page's form token (a scanner that posts the URL back) confirms nothing,
    // nor does one with a token from another page or from another site.
    const token = new URL(link).pathname.split("/").pop()!;
    const signupCsrf = hidden(await (await h.req("/")).text(), "csrf");
    for (const init of [
      form({}),
      { method: "POST" },
      form({ csrf: "abc.def" }),
      form({ csrf: signupCsrf }),
      form({ csrf: hidden(page, "csrf") }, { origin: "https://evil.example" }),
    ]) {
      const res = await h.req(link, init);
      expect(res.status).toBe(403);
      const answer = await pageText(res);
      expect(answer).toContain("Confirm my subscription"); // the button again, with a fresh token
      noStack(answer);
    }
    expect(await status()).toBe("pending");
    // The page's button: a POST with the page's token.
    const res = await h.req(link, form({ csrf: hidden(page, "csrf") }));
    expect(res.status).toBe(200);
    expect(await pageText(res)).toContain("You're in!");
    expect(await status()).toBe("active");
    expect(hidden(page, "csrf")).toBe(csrfToken(SECRET, `confirm:${token}`, h.now()));
  });

  it("activates and enrolls; the article goes out on the next tick; opening twice is harmless", async () => {
    const link = await signUpAndGetLink(h, "dee@example.com");
    expect(link.startsWith("https://drip.example.com/confirm/")).toBe(true);
    const res = await confirmVia(h, link);
    expect(res.status).toBe(200);
    expect(await pageText(res)).toContain("You're in!");
    const sub = (await h.app.store.findSubscriberByEmail("dee@example.com"))!;
    expect(sub.status).toBe("active");
    expect(await h.app.store.listEnrollments(sub.id)).toHaveLength(1);
    expect(articles()).toHaveLength(0);
    await h.tick();
    expect(articles()).toEqual([expect.stringMatching(/\.article\.eml$/)]);
    const again = await confirmVia(h, link);
    expect(again.status).toBe(200);
    expect(await pageText(again)).toContain("You're already in");
    const repost = await h.req(link, form({ csrf: csrfToken(SECRET, `confirm:${new URL(link).pathname.split("/").pop()}`, h.now()) }));
    expect(repost.status).toBe(200);
    expect(await pageText(repost)).toContain("You're already in");
    await h.tick(new Date(h.now().getTime() + 60_000));
    expect(await h.app.store.listEnrollments(sub.id)).toHaveLength(1);
    expect(articles()).toHaveLength(1);
  });

  it("answers a tampered or malformed token with a 400 page offering a new link, never a stack trace", async () => {
    const link = await signUpAndGetLink(h, "eve@example.com");
    const last = link.at(-1) === "A" ? "B" : "A";
    for (const bad of [`${link.slice(0, -1)}${last}`, `${BASE_CONFIRM}garbage`, `${BASE_CONFIRM}a.b.c.d`, `${BASE_CONFIRM}%00%0a`]) {
      const res = await h.req(bad);
      expect(res.status, bad).toBe(400);
      const page = await res.text();
      expect(page).toContain('action="/confirm/resend"');
      noStack(page);
    }
    expect((await h.app.store.findSubscriberByEmail("eve@example.com"))?.status).toBe("pending");
  });

  it("answers an expired link (8 days later) with the resend form; the resend form works and keeps the cap", async () => {
    const link = await signUpAndGetLink(h, "fay@example.com");
    h.advance(8 * DAY);
    const res = await h.req(link);
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain("expired");
    const csrf = hidden(page, "csrf");
    expect((await h.req("/confirm/resend", form({ email: "fay@example.com" }))).status).toBe(403);
    for (let i = 0; i < 5; i++) {
      const r = await h.req("/confirm/resend", form({ email: "fay@example.com", csrf }));
      expect(r.status).toBe(200);
      expect(await r.text()).toContain("Check your inbox");
    }
    await h.tick();
    // One from day 0 (outside the 24 h window now) plus three fresh ones: the cap holds.
    expect(h.files("confirm-")).toHaveLength(4);
    const mails = await h.mails("confirm-");
    const fresh = mails.find((m) => m.file === "confirm-4.eml")!;
    const ok = await confirmVia(h, confirmLink(fresh.mail));
    expect(ok.status).toBe(200);
    expect((await h.app.store.findSubscriberByEmail("fay@example.com"))?.status).toBe("active");
  });

  it("answers 410 to a link issued before the reader unsubscribed", async () => {
    const link = await signUpAndGetLink(h, "gil@example.com");
    const confirmMail = (await h.mails("confirm-"))[0]!.mail;
    h.advance(60_000);
    const unsub = await h.req(unsubscribeUrl(confirmMail), form({ "List-Unsubscribe": "One-Click" }));
    expect(unsub.status).toBe(200);
    h.advance(60_000);
    const res = await h.req(link);
    expect(res.status).toBe(410);
    expect(await res.text()).not.toContain('name="csrf"');
    // Nor does a POST with a valid form token bring them back.
    const post = await h.req(link, form({ csrf: csrfToken(SECRET, `confirm:${new URL(link).pathname.split("/").pop()}`, h.now()) }));
    expect(post.status).toBe(410);
    expect((await h.app.store.findSubscriberByEmail("gil@example.com"))?.status).toBe("unsubscribed");
    await h.tick();
    expect(articles()).toHaveLength(0);
  });
});

describe("cross-site requests (CSRF)", () => {
  const victim = { email: "victim@example.com", name: "Mallory", timezone: "" };

  it("refuses JSON sent as text/plain or without a content type, whatever Accept says (403), and stores nothing", async () => {
    // A cross-site <form enctype="text/plain"> or fetch(..., {mode: "no-cors"}) can send these with no preflight.
    const body = JSON.stringify(victim);
    const variants: Record<string, string>[] = [
      { "content-type": "text/plain", accept: "application/json", origin: "https://evil.example" },
      { "content-type": "text/plain;charset=UTF-8", accept: "application/json" },
      { "content-type": "text/plain; x=application/json", accept: "application/json" },
      { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      { accept: "application/json" },
    ];
    for (const headers of variants) {
      const res = await h.req("/subscribe", { method: "POST", headers, body });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      noStack(await res.text());
    }
    expect(await subscriberCount()).toBe(0);
  });

  it("refuses JSON from another site's Origin (403) and accepts it with no Origin or this site's own", async () => {
    for (const origin of ["https://evil.example", "null", "https://drip.example.com.evil.example", "http://drip.example.com"]) {
      const res = await h.req("/subscribe", json(victim, { origin }));
      expect(res.status, origin).toBe(403);
      const body = (await res.json()) as { error: string };
      expect(body.error.split(" ").length, origin).toBeGreaterThan(3);
    }
    expect(await subscriberCount()).toBe(0);
    expect((await h.req("/subscribe", json({ ...victim, email: "a@example.com" }))).status).toBe(200);
    expect((await h.req("/subscribe", json({ ...victim, email: "b@example.com" }, { origin: "https://drip.example.com" }))).status).toBe(200);
    expect((await h.req("/subscribe", json({ ...victim, email: "c@example.com" }, { "content-type": "application/json; charset=utf-8" }))).status).toBe(200);
    expect(await subscriberCount()).toBe(3);
  });
});

describe("internationalised addresses (RFC 6531)", () => {
  it("accepts 用户@例子.广告 and chloé@example.fr as a form, as JSON and on the command line", async () => {
    expect((await h.req("/subscribe", json({ email: "用户@例子.广告", name: "", timezone: "" }))).status).toBe(200);
    expect((await h.req("/subscribe", form({ email: "chloé@example.fr", name: "Chloé", timezone: "Europe/Paris", csrf: await csrfFromPage() }))).status).toBe(
      200,
    );
    expect(await h.app.store.findSubscriberByEmail("用户@例子.广告")).toMatchObject({ status: "pending" });
    expect(await h.app.store.findSubscriberByEmail("Chloé@example.fr")).toMatchObject({ status: "pending", name: "Chloé", email: "chloé@example.fr" });
    const cli = await runDrip(["subscribe", "josé@ejemplo.es", "--confirmed"], { env: h.env, cwd: h.dir, now: h.now() });
    expect(cli.code, cli.err).toBe(0);
    expect(await h.app.store.findSubscriberByEmail("josé@ejemplo.es")).toMatchObject({ status: "active" });
  });

  it.each([
    ["a line break", "ann@example.com\r\nBcc: x@example.com"],
    ["a line feed in the local part", "an\nn@example.com"],
    ["HTML", "<script>@example.com"],
    ["HTML in the domain", "ann@<b>example.com"],
    ["a space", "ann smith@example.com"],
    ["a non-breaking space", "ann\u00a0smith@example.com"],
    ["no @", "chloé.example.fr"],
    ["no domain", "chloé@"],
    ["two @", "a@b@example.com"],
    ["over 254 characters", `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(58)}.com`],
    ["over 254 bytes of UTF-8", `${"é".repeat(60)}@${"例".repeat(60)}.${"a".repeat(63)}.${"b".repeat(63)}.com`],
  ])("still refuses an address with %s, as JSON, as a form and on the command line", async (_what, email) => {
    expect((await h.req("/subscribe", json({ email, name: "", timezone: "" }))).status).toBe(400);
    expect((await h.req("/subscribe", form({ email, name: "", timezone: "", csrf: await csrfFromPage() }))).status).toBe(400);
    const cli = await runDrip(["subscribe", email], { env: h.env, cwd: h.dir, now: h.now() });
    expect(cli.code).toBe(2);
    expect(await subscriberCount()).toBe(0);
  });
});

describe("a repeated signup", () => {
  it("changes nothing about a pending subscriber until they confirm", async () => {
    const link = await signUpAndGetLink(h, "ann@example.com", { name: "Ann", timezone: "Europe/London" });
    const before = await h.app.store.findSubscriberByEmail("ann@example.com");
    h.advance(60_000);
    expect((await h.req("/subscribe", json({ email: "ann@example.com", name: "Mallory", timezone: "Pacific/Kiritimati" }))).status).toBe(200);
    expect((await h.req("/subscribe", form({ email: "ANN@example.com", name: "Mallory", timezone: "Asia/Tokyo", csrf: await csrfFromPage() }))).status).toBe(
      200,
    );
    expect(await h.app.store.findSubscriberByEmail("ann@example.com")).toEqual(before);
    expect((await confirmVia(h, link)).status).toBe(200);
    expect(await h.app.store.findSubscriberByEmail("ann@example.com")).toMatchObject({ status: "active", name: "Ann", timezone: "Europe/London" });
  });
});

describe("Cache-Control on token pages", () => {
  it("sends no-store (and keeps the Referrer-Policy) on /confirm/:token, its button's answer and the resend form's answer", async () => {
    const link = await signUpAndGetLink(h, "ann@example.com");
    const bad = await h.req("/confirm/garbage");
    const answers = [
      await h.req(link),
      await confirmVia(h, link),
      bad,
      await h.req("/confirm/resend", form({ email: "ann@example.com", csrf: hidden(await bad.clone().text(), "csrf") })),
    ];
    for (const res of answers) {
      expect(res.headers.get("cache-control"), res.url).toBe("no-store");
      expect(res.headers.get("referrer-policy")).toBe("same-origin");
    }
    expect(answers.map((r) => r.status)).toEqual([200, 200, 400, 200]);
  });
});

describe("the signup page's time-zone script", () => {
  it("is allowed by the CSP hash and adds the browser's zone when the list lacks it", async () => {
    const res = await h.req("/");
    const page = await res.text();
    const script = /<script>([\s\S]*?)<\/script>/.exec(page)![1]!;
    const hash = `sha256-${createHash("sha256").update(script).digest("base64")}`;
    expect(res.headers.get("content-security-policy")).toContain(`'${hash}'`);
    const values = [...page.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]!);
    for (const [zone, listed] of [
      ["Etc/GMT+5", false],
      ["America/New_York", true],
    ] as const) {
      expect(values.includes(zone)).toBe(listed);
      const select = fakeSelect(values, "Europe/London");
      runInNewContext(script, {
        document: { getElementById: (id: string) => (id === "timezone" ? select : null), createElement: () => ({ value: "", text: "" }) },
        Option: FakeOption,
        Intl: { DateTimeFormat: () => ({ resolvedOptions: () => ({ timeZone: zone }) }) },
      });
      expect(select.value, zone).toBe(zone);
      expect(select.options.filter((o) => o.value === zone)).toHaveLength(1);
    }
  });
});
