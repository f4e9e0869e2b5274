/**
 * Machine routes: Resend webhooks signed with the Standard Webhooks library (the Svix scheme
 * Resend uses) — accepted, forged, stale, replayed, missing headers; what each event does;
 * the booking events API and `drip event`; `drip stats --json`; `drip forget`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { ScriptedTransport, cleanupTempDirs, runDrip } from "../support/engine-helpers.ts";
import { API_KEY, DAY, type Harness, WEBHOOK_SECRET, harness, json } from "./harness.ts";

let h: Harness;
let transport: ScriptedTransport;
let ann: string;
beforeEach(async () => {
  // A provider-like transport: every accepted email gets a message id, as Resend's does.
  transport = new ScriptedTransport((msg) => ({ ok: true, providerMessageId: `re_${msg.sendId}` }));
  h = await harness({ transport });
  ann = await reader("ann@example.com");
  await h.tick(); // the article goes out
});
afterEach(async () => {
  await h.close();
  cleanupTempDirs();
});

async function reader(email: string): Promise<string> {
  const r = await h.app.lifecycle.subscribe({ email, name: "", timezone: "Europe/London", tags: [] }, { confirmed: true, source: "test" }, h.now());
  if (r.kind !== "ok") throw new Error("suppressed");
  return r.subscriber.id;
}

const providerId = async (subscriberId: string, stepId: string) =>
  (await h.app.store.listSends({ subscriberId })).find((s) => s.stepId === stepId)!.providerMessageId!;
const events = () => (h.app.store as SqliteStore).db.selectFrom("events").selectAll().execute();
let seq = 0;

/** A Resend webhook delivery, signed by the standardwebhooks library with the real clock. */
function delivery(type: string, data: Record<string, unknown>, opts: { id?: string; signedAt?: Date; secret?: string } = {}) {
  const id = opts.id ?? `msg_${++seq}`;
  const signedAt = opts.signedAt ?? new Date();
  const payload = JSON.stringify({
    type,
    created_at: h.now().toISOString(),
    data: { created_at: h.now().toISOString(), from: "x@clinic.example", subject: "s", ...data },
  });
  const signature = new Webhook(opts.secret ?? WEBHOOK_SECRET).sign(id, signedAt, payload);
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(signedAt.getTime() / 1000)),
      "svix-signature": signature,
    },
    body: payload,
  } satisfies RequestInit;
}
const post = (init: RequestInit) => h.req("/webhooks/resend", init);
const about = async (subscriberId: string, stepId: string, email = "ann@example.com") => ({ email_id: await providerId(subscriberId, stepId), to: [email] });
const stats = async () => {
  const r = await runDrip(["stats", "--json"], { env: h.env, cwd: h.dir, now: h.now() });
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { stepId: string; [k: string]: unknown }[];
};

describe("POST /webhooks/resend", () => {
  it("accepts a signed delivery and stores the event against its send", async () => {
    const res = await post(delivery("email.delivered", await about(ann, "article")));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, result: "stored" });
    const rows = await events();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: "delivered", subscriber_id: ann, send_id: (await h.app.store.listSends({ subscriberId: ann }))[0]!.id });
  });

  it("rejects a forged signature or an altered body (401) and stores nothing", async () => {
    expect(
      (await post(delivery("email.delivered", await about(ann, "article"), { secret: `whsec_${Buffer.from("not the real key").toString("base64")}` }))).status,
    ).toBe(401);
    const good = delivery("email.complained", await about(ann, "article"));
    expect((await post({ ...good, body: good.body.replace("complained", "delivered") })).status).toBe(401);
    expect((await post({ ...good, headers: { ...good.headers, "svix-id": "msg_other" } })).status).toBe(401);
    expect(await events()).toHaveLength(0);
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("active");
  });

  it("rejects a stale timestamp (over 5 minutes old) with 401", async () => {
    const res = await post(
      delivery("email.bounced", { ...(await about(ann, "article")), bounce: { type: "Permanent" } }, { signedAt: new Date(Date.now() - 6 * 60_000) }),
    );
    expect(res.status).toBe(401);
    expect(await events()).toHaveLength(0);
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("active");
  });

  it("processes a replayed svix-id once", async () => {
    const data = await about(ann, "article");
    const first = delivery("email.opened", data, { id: "msg_replay" });
    expect((await post(first)).status).toBe(200);
    const again = await post(first);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ result: "replayed" });
    // The provider's retry is signed afresh but keeps its id.
    expect((await post(delivery("email.opened", data, { id: "msg_replay" }))).status).toBe(200);
    expect(await events()).toHaveLength(1);
  });

  it("answers 400 when a signature header is missing", async () => {
    const good = delivery("email.delivered", await about(ann, "article"));
    for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
      const headers: Record<string, string> = { ...good.headers };
      delete headers[name];
      const res = await post({ ...good, headers });
      expect(res.status, name).toBe(400);
      expect(((await res.json()) as { error: string }).error).toContain(name);
    }
    expect(await events()).toHaveLength(0);
  });

  it("suppresses on a permanent bounce: no more sends, and signup and import are refused", async () => {
    const res = await post(delivery("email.bounced", { ...(await about(ann, "article")), bounce: { type: "Permanent", subType: "General" } }));
    expect(await res.json()).toMatchObject({ result: "suppressed" });
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("suppressed");
    expect(await h.app.store.isSuppressed("ANN@example.com")).toBe(true);
    for (let d = 1; d <= 15; d++) await h.tick(new Date(h.now().getTime() + d * DAY));
    expect(transport.stepsTo("ann@example.com")).toEqual(["article"]);
    expect((await h.req("/subscribe", json({ email: "ann@example.com" }))).status).toBe(200);
    await h.tick();
    expect(transport.calls.filter((m) => m.sendId.startsWith("confirm-"))).toHaveLength(0);
    const csv = join(h.dir, "again.csv");
    writeFileSync(csv, "email,name\nann@example.com,Ann\n");
    const imp = await runDrip(["import", csv, "--confirmed", "--json"], { env: h.env, cwd: h.dir, now: h.now() });
    expect(JSON.parse(imp.out)).toMatchObject({ imported: 0, suppressed: 1 });
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("suppressed");
  });

  it("only counts a transient bounce; suppresses on a complaint", async () => {
    expect(await (await post(delivery("email.bounced", { ...(await about(ann, "article")), bounce: { type: "Transient" } }))).json()).toMatchObject({
      result: "stored",
    });
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("active");
    expect((await stats()).find((r) => r.stepId === "article")).toMatchObject({ sent: 1, bounced: 1 });
    const res = await post(delivery("email.complained", await about(ann, "article")));
    expect(await res.json()).toMatchObject({ result: "suppressed" });
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("suppressed");
    expect((await stats()).find((r) => r.stepId === "article")).toMatchObject({ complained: 1 });
  });

  it("stores delivered, opened and clicked per step (drip stats --json); unknown types are ignored", async () => {
    await h.tick(new Date("2026-03-11T09:00:00Z")); // self-release
    for (const type of ["email.delivered", "email.opened", "email.clicked"]) expect((await post(delivery(type, await about(ann, "article")))).status).toBe(200);
    await post(delivery("email.delivered", await about(ann, "self-release")));
    const unknown = await post(delivery("email.teleported", await about(ann, "article")));
    expect(unknown.status).toBe(200);
    expect(await unknown.json()).toMatchObject({ result: "ignored" });
    const rows = await stats();
    expect(rows.map((r) => r.stepId)).toEqual(["article", "self-release"]);
    expect(rows[0]).toMatchObject({ sent: 1, delivered: 1, opened: 1, clicked: 1, bounced: 0, booked: 0 });
    expect(rows[1]).toMatchObject({ sent: 1, delivered: 1, opened: 0, clicked: 0 });
    expect(await events()).toHaveLength(4);
  });

  it("a click keeps which link was clicked (data.click.link): a newsletter's clicks per link count it", async () => {
    const click = { link: "https://bodyhealtherapy.example/book", ipAddress: "198.51.100.1", timestamp: h.now().toISOString(), userAgent: "Mail" };
    expect((await post(delivery("email.clicked", { ...(await about(ann, "article")), click }))).status).toBe(200);
    expect((await post(delivery("email.opened", { ...(await about(ann, "article")), click }))).status).toBe(200);
    const stored = await events();
    expect(stored.map((e) => [e.type, e.data === null ? null : JSON.parse(e.data)])).toEqual([
      ["clicked", { link: "https://bodyhealtherapy.example/book" }],
      ["opened", null],
    ]);
    const bad = await post(delivery("email.clicked", { ...(await about(ann, "article")), click: "nope" }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: "the webhook is signed but is not a Resend event: data.click must be an object" });
  });
});

describe("booking events", () => {
  const book = (body: unknown, auth = `Bearer ${API_KEY}`) => h.req("/api/events", json(body, { authorization: auth }));

  it("tags the reader, skips the remaining booking steps and credits the last clicked send", async () => {
    await h.tick(new Date("2026-03-11T09:00:00Z")); // self-release
    await post(delivery("email.clicked", await about(ann, "article")));
    await post(delivery("email.opened", await about(ann, "self-release")));
    const res = await book({ email: "ann@example.com", name: "booked" });
    expect(res.status).toBe(200);
    const articleSend = (await h.app.store.listSends({ subscriberId: ann })).find((s) => s.stepId === "article")!.id;
    // Being tagged booked also starts the post-booking sequence (sequences/post-booking.ts).
    expect(await res.json()).toEqual({ ok: true, creditedSend: articleSend, automations: { fired: 1, entered: 1 } });
    expect((await h.app.store.getSubscriber(ann))?.tags).toContain("booked");
    for (let d = 3; d <= 15; d++) await h.tick(new Date(Date.parse("2026-03-09T09:00:00Z") + d * DAY));
    const course = new Set(h.app.engine.getSequence("hip-pain-course")!.steps.map((s) => s.id));
    expect(transport.stepsTo("ann@example.com").filter((s) => course.has(s))).toEqual(["article", "self-release", "dynamic-release", "keep-it-away"]);
    expect(transport.stepsTo("ann@example.com").filter((s) => !course.has(s))).toEqual(["thanks", "follow-up"]);
    const sends = await h.app.store.listSends({ subscriberId: ann });
    for (const step of ["book", "last-call"]) expect(sends.find((s) => s.stepId === step)?.status, step).toBe("skipped");
    const rows = await stats();
    expect(rows.find((r) => r.stepId === "article")).toMatchObject({ booked: 1 });
    expect(rows.find((r) => r.stepId === "self-release")).toMatchObject({ booked: 0 });
  });

  it("credits the last opened send when nothing was clicked; `drip event` does the same", async () => {
    const bob = await reader("bob@example.com");
    await h.tick();
    await post(delivery("email.opened", await about(bob, "article", "bob@example.com")));
    const r = await runDrip(["event", "bob@example.com", "booked"], { env: h.env, cwd: h.dir, now: h.now() });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("credited to send");
    expect((await h.app.store.getSubscriber(bob))?.tags).toContain("booked");
    expect((await stats()).find((x) => x.stepId === "article")).toMatchObject({ booked: 1 });
    expect((await runDrip(["event", "nobody@example.com", "booked"], { env: h.env, cwd: h.dir })).code).toBe(1);
    expect((await runDrip(["event", "bob@example.com", "cancelled"], { env: h.env, cwd: h.dir })).code).toBe(2);
  });

  it("refuses a wrong or missing bearer (401), a bad body (400) and an unknown email (404)", async () => {
    expect((await book({ email: "ann@example.com", name: "booked" }, "Bearer wrong-key-0123456789abcd")).status).toBe(401);
    expect((await h.req("/api/events", json({ email: "ann@example.com", name: "booked" }))).status).toBe(401);
    expect((await book({ email: "ann@example.com", name: "booked" }, API_KEY)).status).toBe(401);
    for (const bad of [
      "{not json",
      { email: "ann@example.com", name: "cancelled" },
      { email: "nope", name: "booked" },
      { email: "ann@example.com", name: "booked", at: "yesterday" },
    ]) {
      const res = await book(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(((await res.json()) as { error: string }).error.length).toBeGreaterThan(10);
    }
    expect((await book({ email: "stranger@example.com", name: "booked" })).status).toBe(404);
    expect((await h.app.store.getSubscriber(ann))?.tags).not.toContain("booked");
    expect(await events()).toHaveLength(0);
  });
});

describe("drip forget", () => {
  it("erases the subscriber and their events; an import of the address afterwards adds nothing", async () => {
    await post(delivery("email.opened", await about(ann, "article")));
    const r = await runDrip(["forget", "ann@example.com"], { env: h.env, cwd: h.dir, now: h.now() });
    expect(r.code, r.err).toBe(0);
    expect(await h.app.store.findSubscriberByEmail("ann@example.com")).toBeNull();
    expect(await h.app.store.getSubscriber(ann)).toBeNull();
    expect(await events()).toHaveLength(0);
    expect(await h.app.store.listSends({ subscriberId: ann })).toHaveLength(0);
    const csv = join(h.dir, "list.csv");
    writeFileSync(csv, "email,name,timezone\nAnn@Example.com,Ann,Europe/London\n");
    const imp = await runDrip(["import", csv, "--json"], { env: h.env, cwd: h.dir, now: h.now() });
    expect(JSON.parse(imp.out)).toMatchObject({ imported: 0, suppressed: 1 });
    expect(await h.app.store.findSubscriberByEmail("ann@example.com")).toBeNull();
    expect((await h.req("/subscribe", json({ email: "ann@example.com" }))).status).toBe(200);
    expect(await h.app.store.findSubscriberByEmail("ann@example.com")).toBeNull();
  });
});

describe("validly signed but malformed webhooks", () => {
  /** Any payload, signed with the real secret and clock: only its shape is wrong. */
  const signed = (payload: string, id = `msg_${++seq}`) => {
    const at = new Date();
    return {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "svix-id": id,
        "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
        "svix-signature": new Webhook(WEBHOOK_SECRET).sign(id, at, payload),
      },
      body: payload,
    } satisfies RequestInit;
  };

  it("answers 400 with a sentence and stores nothing", async () => {
    const data = await about(ann, "article");
    const created_at = h.now().toISOString();
    const bad: unknown[] = [
      {},
      { created_at, data },
      { type: "email.bounced", data },
      { type: "email.bounced", created_at },
      { type: "email.bounced", created_at, data: null },
      { type: 42, created_at, data },
      { type: "email.bounced", created_at: 1773050400, data },
      { type: "email.bounced", created_at: "yesterday", data },
      { type: "email.bounced", created_at, data: { ...data, to: "ann@example.com" } },
      { type: "email.bounced", created_at, data: { ...data, email_id: 7 } },
      { type: "email.bounced", created_at, data: { ...data, bounce: "Permanent" } },
      { type: "email.bounced", created_at, data: { ...data, bounce: { type: 1 } } },
      { type: "constructor", created_at, data },
      { type: "__proto__", created_at, data },
      [],
      "email.bounced",
      null,
    ];
    for (const payload of [...bad.map((b) => JSON.stringify(b)), "{not json", ""]) {
      const res = await post(signed(payload));
      expect(res.status, payload).toBe(400);
      const { error } = (await res.json()) as { error: string };
      expect(error.split(" ").length, payload).toBeGreaterThan(3);
      expect(error, payload).not.toMatch(/\n|at .*:\d+:\d+/);
    }
    expect(await events()).toHaveLength(0);
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("active");
    // The same shape, well formed, still works (and extra fields are fine).
    const ok = await post(
      signed(JSON.stringify({ type: "email.bounced", created_at, data: { ...data, bounce: { type: "Permanent", subType: "General" }, tags: { a: "b" } } })),
    );
    expect(ok.status).toBe(200);
    expect((await h.app.store.getSubscriber(ann))?.status).toBe("suppressed");
  });
});

describe("the events API's Authorization header", () => {
  it("takes the scheme in any case (RFC 7235) but the key exactly", async () => {
    const body = { email: "ann@example.com", name: "booked" };
    for (const auth of [`bearer ${API_KEY}`, `BEARER ${API_KEY}`, `BeArEr ${API_KEY}`, `Bearer  ${API_KEY}`]) {
      expect((await h.req("/api/events", json(body, { authorization: auth }))).status, auth).toBe(200);
    }
    for (const auth of [
      `bearer ${API_KEY.toUpperCase()}`,
      `bearer ${API_KEY}x`,
      `Basic ${API_KEY}`,
      `bearer`,
      `bearer${API_KEY}`,
      API_KEY,
      `Token ${API_KEY}`,
    ]) {
      expect((await h.req("/api/events", json(body, { authorization: auth }))).status, auth).toBe(401);
    }
  });
});

describe("the events API and internationalised addresses", () => {
  it("books a reader whose address is 用户@例子.广告 (RFC 6531)", async () => {
    const id = await reader("用户@例子.广告");
    const res = await h.req("/api/events", json({ email: "用户@例子.广告", name: "booked" }, { authorization: `Bearer ${API_KEY}` }));
    expect(res.status).toBe(200);
    expect((await h.app.store.getSubscriber(id))?.tags).toContain("booked");
  });
});
