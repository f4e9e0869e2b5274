/**
 * Clicks per link in production: Resend's `email.clicked` carries `data.click.link`, and the
 * webhook route stores it with the click (course steps and newsletter issues alike), so
 * `drip newsletter status [--json]` counts clicks per link. Driven through the real route with
 * deliveries signed by the Standard Webhooks library (the svix scheme Resend uses). A link to
 * drip's own pages carries the reader's token: it is stored without it.
 */
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { linkForReport } from "../../src/http/hooks.ts";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { BASE, type Harness, WEBHOOK_SECRET, harness } from "../http/harness.ts";
import { ScriptedTransport, cleanupTempDirs, runDrip } from "../support/engine-helpers.ts";

const ISSUE = "two-ways-to-ease-outer-hip-pain";
const BLOG = "https://bodyhealtherapy.example/blog/gluteus-minimus";

let h: Harness;
let transport: ScriptedTransport;
beforeEach(async () => {
  // A provider-like transport: every accepted email gets a message id, as Resend's does.
  transport = new ScriptedTransport((msg) => ({ ok: true, providerMessageId: `re_${msg.sendId}` }));
  h = await harness({ transport });
});
afterEach(async () => h.close());
afterAll(cleanupTempDirs);

async function reader(email: string): Promise<string> {
  const r = await h.app.lifecycle.subscribe({ email, name: "", timezone: "Europe/London", tags: [] }, { confirmed: true, source: "test" }, h.now());
  if (r.kind !== "ok") throw new Error("suppressed");
  await h.app.lifecycle.joinTopic(r.subscriber, "weekly", { source: "test" }, h.now());
  return r.subscriber.id;
}

let n = 0;
/** A Resend `email.clicked` body (its documented shape: data.click.{ipAddress, link, timestamp, userAgent}). */
function clickBody(emailId: string, to: string, link: string): { type: string; created_at: string; data: Record<string, unknown> } {
  const at = h.now().toISOString();
  return {
    type: "email.clicked",
    created_at: at,
    data: {
      created_at: at,
      email_id: emailId,
      from: "Body Heal Therapy <hello@clinic.example>",
      to: [to],
      subject: "s",
      click: { ipAddress: "198.51.100.4", link, timestamp: at, userAgent: "Mozilla/5.0" },
    },
  };
}

/** A webhook delivery of `body`, signed now (one instant for the header and the signature). */
function signed(body: unknown) {
  const id = `msg_${++n}`;
  const payload = JSON.stringify(body);
  const signedAt = new Date();
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(signedAt.getTime() / 1000)),
      "svix-signature": new Webhook(WEBHOOK_SECRET).sign(id, signedAt, payload),
    },
    body: payload,
  } satisfies RequestInit;
}

const clicked = (emailId: string, to: string, link: string) => signed(clickBody(emailId, to, link));

const providerId = async (subscriberId: string, sequenceId: string) =>
  (await h.app.store.listSends({ subscriberId })).find((s) => s.sequenceId === sequenceId)!.providerMessageId!;

describe("email.clicked → clicks per link", () => {
  it("stores click.link for newsletter and course clicks; drip newsletter status counts each reader once per link, without tokens", async () => {
    const ann = await reader("ann@example.com");
    const bob = await reader("bob@example.com");
    await h.tick(); // the course's first step goes out to both
    await h.app.newsletters.schedule(ISSUE, { kind: "now" }, h.now());
    await h.tick();
    const seq = `newsletter:${ISSUE}`;
    const annIssue = await providerId(ann, seq);
    const bobIssue = await providerId(bob, seq);
    const annCourse = await providerId(ann, "hip-pain-course");
    // The token a reader's own links carry (the List-Unsubscribe URL the issue went out with).
    const sent = transport.calls.find((m) => m.to === "bob@example.com" && m.subject.startsWith("Two ways"))!;
    const unsubscribe = /<(https:[^>]+)>/.exec(sent.headers["List-Unsubscribe"]!)![1]!;
    const token = unsubscribe.split("/unsubscribe/")[1]!.split("?")[0]!;
    expect(token.length).toBeGreaterThan(20);

    const post = (init: RequestInit) => h.req("/webhooks/resend", init);
    for (const d of [
      clicked(annIssue, "ann@example.com", BLOG),
      clicked(annIssue, "ann@example.com", BLOG), // the same reader again: one click on that link
      clicked(bobIssue, "bob@example.com", BLOG),
      clicked(bobIssue, "bob@example.com", `${BASE}/preferences/${token}`),
      clicked(annCourse, "ann@example.com", "https://bodyhealtherapy.example/book?utm_source=drip"),
    ]) {
      const res = await post(d);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, result: "stored" });
    }

    // Stored with the click: the course click's link too; no token anywhere in the events.
    const rows = await (h.app.store as SqliteStore).db.selectFrom("events").selectAll().where("type", "=", "clicked").execute();
    expect(rows).toHaveLength(5);
    const links = rows.map((r) => (JSON.parse(r.data ?? "{}") as { link?: string }).link);
    expect(links).toContain("https://bodyhealtherapy.example/book?utm_source=drip");
    expect(links).toContain(`${BASE}/preferences/:token`);
    expect(JSON.stringify(rows)).not.toContain(token);

    const env = { env: h.env, cwd: h.dir, now: h.now() };
    const json = await runDrip(["newsletter", "status", ISSUE, "--json"], env);
    expect(json.code, json.err).toBe(0);
    const { report } = JSON.parse(json.out) as { report: { clicked: number; clicksByLink: Record<string, number> } };
    expect(report.clicked).toBe(2);
    expect(report.clicksByLink).toEqual({ [BLOG]: 2, [`${BASE}/preferences/:token`]: 1 });

    const text = await runDrip(["newsletter", "status", ISSUE], env);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^ {2}clicked +2$/m);
    expect(text.out).toContain("  clicks per link:\n");
    expect(text.out).toContain(`    2  ${BLOG}\n    1  ${BASE}/preferences/:token\n`);
  });

  it("a click without a link still counts; a click.link that is not a string is refused (400) and stores nothing", async () => {
    const ann = await reader("ann@example.com");
    await h.app.newsletters.schedule(ISSUE, { kind: "now" }, h.now());
    await h.tick();
    const id = await providerId(ann, `newsletter:${ISSUE}`);
    const bad = clickBody(id, "ann@example.com", BLOG);
    (bad.data.click as { link: unknown }).link = 42;
    const res = await h.req("/webhooks/resend", signed(bad));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain("data.click.link must be a string");
    expect((await h.app.newsletters.status(ISSUE)).report.clicked).toBe(0);

    const noLink = clickBody(id, "ann@example.com", BLOG);
    delete noLink.data.click;
    const res2 = await h.req("/webhooks/resend", signed(noLink));
    expect(res2.status).toBe(200);
    expect((await h.app.newsletters.status(ISSUE)).report).toMatchObject({ clicked: 1, clicksByLink: {} });
  });

  it("linkForReport takes the token out of drip's own links only", () => {
    expect(linkForReport(`${BASE}/unsubscribe/abc.def?topic=weekly&issue=x`, `${BASE}/`)).toBe(`${BASE}/unsubscribe/:token`);
    expect(linkForReport(`${BASE}/confirm/abc`, BASE)).toBe(`${BASE}/confirm/:token`);
    expect(linkForReport(`${BASE}/newsletters/x`, BASE)).toBe(`${BASE}/newsletters/x`);
    expect(linkForReport("https://elsewhere.example/unsubscribe/abc", BASE)).toBe("https://elsewhere.example/unsubscribe/abc");
    expect(linkForReport(`https://x.example/${"a".repeat(3000)}`, BASE)).toHaveLength(2000);
  });
});

describe("drip stats per newsletter issue", () => {
  it("shows recipients, sent, skipped (why), failed and the events per issue, from the same report as drip newsletter status; aligned; --json", async () => {
    // dave's address is refused by the provider (a permanent failure).
    transport.setReply((msg) =>
      msg.to === "dave@example.com" && msg.subject.startsWith("Two ways")
        ? { ok: false, permanent: true, reason: "the provider refused the address" }
        : { ok: true, providerMessageId: `re_${msg.sendId}` },
    );
    const ann = await reader("ann@example.com");
    const bob = await reader("bob@example.com");
    const carl = await reader("carl@example.com");
    await reader("dave@example.com");
    await h.tick(); // the course's first step
    await h.app.newsletters.schedule(ISSUE, { kind: "now" }, h.now());
    await h.app.lifecycle.leaveTopic({ id: carl }, "weekly", h.now(), "preferences");
    await h.tick();
    const seq = `newsletter:${ISSUE}`;
    const post = async (type: string, subscriberId: string, to: string, extra: Record<string, unknown> = {}) => {
      const body = clickBody(await providerId(subscriberId, seq), to, BLOG);
      body.type = type;
      if (type !== "email.clicked") delete body.data.click;
      Object.assign(body.data, extra);
      const res = await h.req("/webhooks/resend", signed(body));
      expect(res.status).toBe(200);
    };
    await post("email.delivered", ann, "ann@example.com");
    await post("email.delivered", bob, "bob@example.com");
    await post("email.opened", ann, "ann@example.com");
    await post("email.clicked", bob, "bob@example.com");
    await post("email.bounced", ann, "ann@example.com", { bounce: { type: "Transient" } });
    await post("email.complained", bob, "bob@example.com");

    const env = { env: h.env, cwd: h.dir, now: h.now() };
    const status = await runDrip(["newsletter", "status", ISSUE, "--json"], env);
    expect(status.code, status.err).toBe(0);
    const { report } = JSON.parse(status.out) as { report: Record<string, unknown> };
    expect(report).toMatchObject({
      recipients: 4,
      sent: 2,
      skipped: 1,
      failed: 1,
      delivered: 2,
      opened: 1,
      clicked: 1,
      bounced: 1,
      complained: 1,
      clicksByLink: { [BLOG]: 1 },
    });
    expect(Object.values(report.skippedReasons as Record<string, number>)).toEqual([1]);

    // One source of truth: drip stats --newsletters --json is that very report, with the issue's subject and status.
    const json = await runDrip(["stats", "--newsletters", "--json"], env);
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toEqual([{ subject: "Two ways to ease outer hip pain at home", status: "scheduled", ...report }]);

    // The text: course steps first (no newsletter rows among them), then one aligned row per issue.
    const text = await runDrip(["stats"], env);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^hip-pain-course\/article +4 /m);
    expect(text.out).not.toContain("newsletter:");
    const lines = text.out.split("\n");
    const header = lines.findIndex((l) => l.startsWith("issue "));
    expect(header).toBeGreaterThan(0);
    const table = [lines[header]!, lines[header + 1]!];
    expect(table[0]).toMatch(/^issue +recipients +pending +sent +skipped +failed +cancelled +delivered +opened +clicked +bounced +complained +unsubscribed$/);
    expect(table[1]).toMatch(new RegExp(`^${ISSUE} +4 +0 +2 +1 +1 +0 +2 +1 +1 +1 +1 +0$`));
    expect(table[1]!.length).toBe(table[0]!.length);
    // Each column's number ends where its heading ends.
    for (const col of ["recipients", "sent", "failed", "clicked", "unsubscribed"]) {
      const end = table[0]!.indexOf(` ${col}`) + col.length + 1;
      expect(table[1]![end - 1], col).toMatch(/\d/);
    }
    const reason = Object.keys(report.skippedReasons as Record<string, number>)[0]!;
    expect(text.out).toContain(`${ISSUE} skipped: ${reason} (1)\n`);
    expect(text.out).toContain(`${ISSUE} clicked: ${BLOG} (1)\n`);

    const only = await runDrip(["stats", "--newsletters"], env);
    expect(only.out.split("\n")[0]).toBe(table[0]);
    expect(only.out).not.toContain("hip-pain-course/");
  });
});
