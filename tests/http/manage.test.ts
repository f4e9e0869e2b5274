/**
 * The links in every email: RFC 8058 one-click unsubscribe (exactly what a mailbox provider
 * posts, to the URL in a real outbox email's List-Unsubscribe header), the GET page, forged
 * tokens, and the preferences page (pause, resume, leave, unsubscribe, name and zone).
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { sql } from "kysely";
import type { ParsedMail } from "mailparser";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DripError } from "../../src/errors.ts";
import { redactPath, redactTokens } from "../../src/http/app.ts";
import { planStep } from "../../src/schedule/index.ts";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { signToken } from "../../src/tokens.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { canonicalTimeZone } from "../../src/schedule/index.ts";
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

  it("answers one-click POSTs that arrive together (one group commit) each after its own change is stored whole; bad ones alone get 400", async () => {
    const others = [];
    for (const email of ["bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"]) others.push(await activeReader(h, email));
    const db = (h.app.store as SqliteStore).db;
    const readers = [reader, ...others.slice(0, 3)];
    const keeps = others[3]!; // posts a body that is not RFC 8058's: stays subscribed
    const url = unsubscribeUrl(reader.article);
    const token = url.split("/").pop()!;
    const forged = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    const answers = await Promise.all([
      ...readers.map((r) => h.req(unsubscribeUrl(r.article), ONE_CLICK)),
      h.req(`/unsubscribe/${forged}`, ONE_CLICK),
      h.req(unsubscribeUrl(keeps.article), { ...ONE_CLICK, body: "List-Unsubscribe=Yes" }),
      h.req(url, ONE_CLICK), // the provider's retry, in the same group: 200, nothing written twice
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 400, 400, 200]);
    expect(await pageText(answers[4]!)).toContain("This link is not valid");
    for (const r of readers) {
      expect((await h.app.store.getSubscriber(r.id))?.status).toBe("unsubscribed");
      expect((await h.app.store.listEnrollments(r.id)).map((e) => e.status)).toEqual(["exited"]);
      // One event each, credited to the email they got.
      const sent = await db.selectFrom("sends").select("id").where("subscriber_id", "=", r.id).where("status", "=", "sent").execute();
      const events = await db.selectFrom("events").select(["send_id", "data"]).where("subscriber_id", "=", r.id).where("type", "=", "unsubscribed").execute();
      expect(events).toEqual([{ send_id: sent[0]!.id, data: JSON.stringify({ via: "one-click" }) }]);
    }
    expect((await h.app.store.getSubscriber(keeps.id))?.status).toBe("active");
    expect((await h.app.store.listEnrollments(keeps.id)).map((e) => e.status)).toEqual(["active"]);
  });

  it("accepts multipart/form-data too", async () => {
    const body = new FormData();
    body.set("List-Unsubscribe", "One-Click");
    const res = await h.req(unsubscribeUrl(reader.article), { method: "POST", body });
    expect(res.status).toBe(200);
    expect(await status()).toBe("unsubscribed");
  });

  it("answers a genuine link of an erased subscriber with 400 (the door is asked first, then whether anyone is there)", async () => {
    const url = unsubscribeUrl(reader.article);
    await h.app.lifecycle.forget("ann@example.com", h.now());
    const res = await h.req(url, ONE_CLICK);
    expect(res.status).toBe(400);
    expect(await pageText(res)).toContain("This link is not valid");
    expect(await h.app.store.getSubscriber(reader.id)).toBeNull();
  });

  it("reads an urlencoded body's List-Unsubscribe field as its last value, as a form parser does", async () => {
    const url = unsubscribeUrl(reader.article);
    const post = (body: string) => h.req(url, { ...ONE_CLICK, body });
    expect((await post("List-Unsubscribe=One-Click&List-Unsubscribe=Other")).status).toBe(400);
    expect((await post("List-Unsubscribe=%ZZ")).status).toBe(400);
    expect(await status()).toBe("active");
    expect((await post("other=1&List-Unsubscribe=Other&List-Unsubscribe=One-Click")).status).toBe(200);
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
    const want = planStep({
      schedule: step.schedule,
      start: before.startedAt,
      timezone: "Asia/Tokyo",
      defaultTimezone: seq.defaultTimezone,
      window: seq.sendWindow,
    }).at;
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
    expect(await act("pause", {}, "abc.def")).toHaveProperty("status", 403);
    const bob = await activeReader(h, "bob@example.com");
    const bobsCsrf = hidden(await (await h.req(prefsUrl(bob.article))).text(), "csrf");
    expect((await act("pause", {}, bobsCsrf)).status).toBe(403);
    const res = await h.req(url, form({ csrf: hidden(await (await h.req(url)).text(), "csrf"), action: "pause" }, { origin: "https://evil.example" }));
    expect(res.status).toBe(403);
    expect((await enrollment()).status).toBe("active");
  });
});

/** What a browser posts for the page's time-zone select: the selected option, or else the first. */
function postedZone(page: string): string {
  const select = /<select id="timezone" name="timezone">([\s\S]*?)<\/select>/.exec(page)![1]!;
  const selected = /<option value="([^"]*)" selected>/.exec(select);
  return (selected ?? /<option value="([^"]*)"/.exec(select)!)[1]!.replace(/&amp;/g, "&");
}

describe("the preferences page's time-zone field", () => {
  it.each(["UTC", "Etc/UTC", "Asia/Kolkata", "Asia/Calcutta", "Europe/Kyiv", "Europe/Kiev", "US/Eastern", "Etc/GMT+5", ""])(
    "keeps a subscriber's zone %j when only the name is saved",
    async (zone) => {
      await h.app.store.updateSubscriber(reader.id, { timezone: zone });
      const before = await enrollment();
      const url = prefsUrl(reader.article);
      const page = await (await h.req(url)).text();
      // A stored legacy spelling (Asia/Calcutta) selects its canonical option (Asia/Kolkata).
      const shown = zone === "" ? "" : canonicalTimeZone(zone);
      expect(page.split(`<option value="${shown}" selected>`)).toHaveLength(2); // exactly one, selected
      expect(page.split(" selected>")).toHaveLength(2);
      const res = await h.req(url, form({ csrf: hidden(page, "csrf"), action: "profile", name: "Annie", timezone: postedZone(page) }));
      expect(res.status).toBe(303);
      expect(await h.app.store.getSubscriber(reader.id)).toMatchObject({ name: "Annie", timezone: zone });
      expect((await enrollment()).nextDueAt).toEqual(before.nextDueAt);
    },
  );

  it("accepts every valid IANA zone, canonical or legacy, and stores its canonical name; an empty or missing zone keeps the current one", async () => {
    const url = prefsUrl(reader.article);
    const csrf = hidden(await (await h.req(url)).text(), "csrf");
    for (const [zone, stored] of [
      ["Asia/Kolkata", "Asia/Kolkata"],
      ["Asia/Calcutta", "Asia/Kolkata"],
      ["Europe/Kiev", "Europe/Kyiv"],
      ["Europe/Kyiv", "Europe/Kyiv"],
      ["UTC", "UTC"],
      ["Etc/UTC", "UTC"],
      ["US/Eastern", "America/New_York"],
      ["Asia/Tokyo", "Asia/Tokyo"],
      ["America/New_York", "America/New_York"],
    ]) {
      const res = await h.req(url, form({ csrf, action: "profile", name: "Ann", timezone: zone! }));
      expect(res.status, zone).toBe(303);
      expect((await h.app.store.getSubscriber(reader.id))!.timezone, zone).toBe(stored);
    }
    expect((await h.req(url, form({ csrf, action: "profile", name: "Annie", timezone: "" }))).status).toBe(303);
    expect((await h.req(url, form({ csrf, action: "profile", name: "Annie" }))).status).toBe(303);
    expect(await h.app.store.getSubscriber(reader.id)).toMatchObject({ name: "Annie", timezone: "America/New_York" });
    const refused = await h.req(url, form({ csrf, action: "profile", name: "Bob", timezone: "Nowhere/Land" }));
    expect(refused.status).toBe(400);
    expect(await pageText(refused)).toMatch(/Not saved: .*Nowhere\/Land/);
    expect(await h.app.store.getSubscriber(reader.id)).toMatchObject({ name: "Annie", timezone: "America/New_York" });
  });
});

describe("the preferences page's done message", () => {
  it("ignores ?done= values that are not actions (constructor, __proto__, toString)", async () => {
    const url = prefsUrl(reader.article);
    for (const done of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
      const res = await h.req(`${url}?done=${done}`);
      expect(res.status).toBe(200);
      const page = await res.text();
      expect(page, done).not.toContain('role="status"');
      expect(page, done).not.toMatch(/native code|\[object Object\]|function/);
    }
    expect(await (await h.req(`${url}?done=pause`)).text()).toContain("The course is paused");
  });
});

describe("Cache-Control on token pages", () => {
  it("sends no-store and keeps the Referrer-Policy on every answer under /unsubscribe/ and /preferences/", async () => {
    const unsub = unsubscribeUrl(reader.article);
    const prefs = prefsUrl(reader.article);
    const csrf = hidden(await (await h.req(prefs)).text(), "csrf");
    const answers = [
      await h.req(unsub),
      await h.req("/unsubscribe/garbage"),
      await h.req("/unsubscribe/garbage", ONE_CLICK),
      await h.req(prefs),
      await h.req(`${prefs}?done=pause`),
      await h.req("/preferences/garbage"),
      await h.req(prefs, form({ action: "pause" })),
      await h.req(prefs, form({ csrf, action: "nonsense" })),
      await h.req(prefs, form({ csrf, action: "pause" })),
      await h.req(unsub, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "" }),
      await h.req(unsub, ONE_CLICK),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 400, 400, 200, 200, 400, 403, 400, 303, 400, 200]);
    for (const [i, res] of answers.entries()) {
      expect(res.headers.get("cache-control"), String(i)).toBe("no-store");
      expect(res.headers.get("referrer-policy"), String(i)).toBe("same-origin");
    }
  });
});

describe("errors", () => {
  it("logs one line with the tokens redacted; the stack only with debug", async () => {
    for (const debug of [false, true]) {
      const lines: string[] = [];
      await h.close();
      h = await harness({ http: { log: (line: string) => void lines.push(line), debug } });
      reader = await activeReader(h, "ann@example.com");
      const unsub = unsubscribeUrl(reader.article);
      const token = unsub.split("/").pop()!;
      h.app.store.listEnrollments = async () => {
        throw new Error(`no enrollments for ${token}`);
      };
      h.app.store.leave = async () => {
        throw new Error("disk I/O error");
      };
      expect((await h.req(prefsUrl(reader.article))).status).toBe(500);
      expect((await h.req(`${unsub}?x=1`, ONE_CLICK)).status).toBe(500);
      expect((await h.req(`/confirm/${token}`)).status).not.toBe(500); // not an error: no line
      expect(lines, lines.join("\n")).toHaveLength(2);
      expect(lines.join("\n")).not.toContain(token);
      expect(lines.join("\n")).not.toContain(token.split(".")[0]!);
      expect(lines[0]!.split("\n")[0]).toBe("GET /preferences/[token]: no enrollments for [token]");
      expect(lines[1]!.split("\n")[0]).toBe("POST /unsubscribe/[token]: disk I/O error");
      for (const line of lines) expect(/\n\s+at /.test(line), line).toBe(debug);
    }
  });

  it("keeps a log line one line and token-free whatever the path holds", () => {
    expect(redactPath("/confirm/resend")).toBe("/confirm/resend");
    expect(redactPath("/confirm/resend.abc")).toBe("/confirm/[token]");
    expect(redactPath("/preferences/abc.def\nGET /healthz: ok")).toBe("/preferences/[token] /healthz: ok");
    expect(redactPath("/nowhere\r\nPOST /x\u2028y")).toBe("/nowhere%0D%0APOST /x%E2%80%A8y");
    const token = signToken(SECRET, "confirm", "1FRbkIBwQX6ujTqi", new Date(h.now().getTime() + DAY));
    expect(redactTokens(`no row for ${token}; see ${signToken(SECRET, "manage", "abc")}`)).toBe("no row for [token]; see [token]");
  });

  it("defaults to console.error for the log", async () => {
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      h.app.store.listEnrollments = async () => {
        throw new Error("boom");
      };
      expect((await h.req(prefsUrl(reader.article))).status).toBe(500);
      expect(spy.mock.calls.map((c) => String(c[0]))).toEqual(["GET /preferences/[token]: boom"]);
    } finally {
      spy.mockRestore();
    }
  });

  it("maps DripError codes to their status with the sentence, a busy database to 503 with Retry-After, and hides the rest", async () => {
    const lines: string[] = [];
    await h.close();
    h = await harness({ http: { log: (line: string) => void lines.push(line) } });
    reader = await activeReader(h, "ann@example.com");
    const url = prefsUrl(reader.article);
    const failWith = (err: unknown) => {
      h.app.store.listEnrollments = async () => {
        throw err;
      };
    };
    failWith(new DripError("conflict", "that change contradicts the subscriber's state"));
    let res = await h.req(url);
    expect(res.status).toBe(409);
    expect(await pageText(res)).toContain("that change contradicts the subscriber's state");
    failWith(Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }));
    res = await h.req(url);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await pageText(res)).toMatch(/try again/i);
    failWith(new DripError("config", "the database file cannot be written: check /var/lib/drip/secret-path"));
    res = await h.req(url);
    expect(res.status).toBe(500);
    const page = await res.text();
    expect(page).not.toContain("/var/lib/drip");
    expect(page).toContain("Something went wrong");
    failWith(Object.assign(new Error("SQLITE_CORRUPT: malformed at /srv/drip.db"), { code: "SQLITE_CORRUPT" }));
    res = await h.req(url, { headers: { accept: "application/json" } });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "internal error" });
    expect(lines).toHaveLength(4);
  });
});

describe("one-click unsubscribe while another process holds the write lock", () => {
  /** Another process's connection (a real second better-sqlite3 handle on the same file) in BEGIN IMMEDIATE. */
  async function lockedHarness(busyRetryMs: number, releaseAfterMs: number) {
    const slept: number[] = [];
    let other: Database.Database | null = null;
    await h.close();
    h = await harness({
      http: {
        busyRetryMs,
        sleep: async (ms: number) => {
          slept.push(ms);
          h.advance(ms); // time comes from the test's clock
          if (other?.inTransaction && slept.reduce((a, b) => a + b, 0) >= releaseAfterMs) other.exec("COMMIT");
        },
      },
    });
    reader = await activeReader(h, "ann@example.com");
    // Our connection waits 20 ms (not 5 s) for the lock: the same failure, scaled down.
    await sql`PRAGMA busy_timeout = 20`.execute((h.app.store as SqliteStore).db);
    other = new Database(join(h.dir, "drip.db"));
    other.exec("BEGIN IMMEDIATE");
    other.prepare("UPDATE subscribers SET updated_at = updated_at WHERE id = ?").run(reader.id);
    return { slept, other };
  }

  it("retries with backoff until the lock is released, then unsubscribes and answers 200", async () => {
    const { slept, other } = await lockedHarness(20_000, 8_000);
    try {
      const res = await h.req(unsubscribeUrl(reader.article), ONE_CLICK);
      expect(res.status).toBe(200);
      expect(await pageText(res)).toContain("You're unsubscribed");
      expect(await status()).toBe("unsubscribed");
      expect(slept.length).toBeGreaterThan(1);
      expect(slept[1]).toBeGreaterThan(slept[0]!);
      expect(slept.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20_000);
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    }
  });

  it("answers 503 with Retry-After when the lock outlasts the bound, never 500; the provider's retry then works", async () => {
    const { slept, other } = await lockedHarness(3_000, Number.POSITIVE_INFINITY);
    try {
      const res = await h.req(unsubscribeUrl(reader.article), ONE_CLICK);
      expect(res.status).toBe(503);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const page = await pageText(res);
      expect(page).toMatch(/try again/i);
      expect(page).not.toMatch(/SQLITE|locked|at .*:\d+:\d+/);
      expect(slept.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3_000);
      expect(await status()).toBe("active");
      other.exec("COMMIT");
      expect((await h.req(unsubscribeUrl(reader.article), ONE_CLICK)).status).toBe(200);
      expect(await status()).toBe("unsubscribed");
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    }
  });
});
