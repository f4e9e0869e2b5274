// Exercises the Resend test double through the REAL `resend` SDK, so the double's
// wire behaviour is pinned to what the SDK actually sends and parses.
import { afterEach, describe, expect, it } from "vitest";
import { Resend } from "resend";
import { startResendDouble, type ResendDouble, type ResendDoubleOptions } from "../support/resend-double.ts";

const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
const mail = (to = "ada@example.com", subject = "Hello") => ({
  from: "Drip <course@example.com>",
  to,
  subject,
  html: "<p>hi</p>",
  text: "hi",
});

let double: ResendDouble | undefined;
let clock = T0;

async function setup(opts: ResendDoubleOptions = {}): Promise<{ d: ResendDouble; resend: Resend }> {
  clock = T0;
  double = await startResendDouble({ now: () => clock, rateLimit: 1000, ...opts });
  // SDK v6: `options.baseUrl` wins; otherwise RESEND_BASE_URL is read at construction.
  return { d: double, resend: new Resend("re_test_123", { baseUrl: double.url }) };
}

afterEach(async () => {
  await double?.close();
  double = undefined;
});

describe("resend double via the real SDK", () => {
  it("delivers a single email and answers {id} with rate-limit headers", async () => {
    const { d, resend } = await setup({ rateLimit: 5 });
    const r = await resend.emails.send({ ...mail(), tags: [{ name: "course", value: "intro" }] });
    expect(r.error).toBeNull();
    expect(r.data?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.headers?.["ratelimit-limit"]).toBe("5");
    expect(r.headers?.["ratelimit-remaining"]).toBe("4");
    expect(r.headers?.["ratelimit-reset"]).toBe("1");
    expect(d.delivered).toHaveLength(1);
    expect(d.delivered[0]).toMatchObject({
      id: r.data?.id,
      from: "Drip <course@example.com>",
      to: ["ada@example.com"],
      subject: "Hello",
      html: "<p>hi</p>",
      text: "hi",
      tags: [{ name: "course", value: "intro" }],
      receivedAt: T0,
    });
    expect(d.requests).toEqual([{ at: T0, path: "/emails", status: 200, count: 1 }]);
  });

  it("is reachable through RESEND_BASE_URL too (read at construction)", async () => {
    const { d } = await setup();
    const prev = process.env.RESEND_BASE_URL;
    process.env.RESEND_BASE_URL = d.url;
    let resend: Resend;
    try {
      resend = new Resend("re_test_123");
    } finally {
      if (prev === undefined) delete process.env.RESEND_BASE_URL;
      else process.env.RESEND_BASE_URL = prev;
    }
    expect((await resend.emails.send(mail())).error).toBeNull();
    expect(d.delivered).toHaveLength(1);
  });

  it("delivers a batch of 3 and answers {data: [{id}...]}", async () => {
    const { d, resend } = await setup();
    const r = await resend.batch.send([mail("a@example.com"), mail("b@example.com"), mail("c@example.com")]);
    expect(r.error).toBeNull();
    expect(r.data?.data).toHaveLength(3);
    expect(r.data).not.toHaveProperty("errors");
    expect(d.delivered.map((e) => [e.to[0], e.batchIndex, e.id])).toEqual([
      ["a@example.com", 0, r.data?.data[0]?.id],
      ["b@example.com", 1, r.data?.data[1]?.id],
      ["c@example.com", 2, r.data?.data[2]?.id],
    ]);
    expect(d.requests[0]).toMatchObject({ path: "/emails/batch", status: 200, count: 3 });
  });

  it("rejects a batch of 101 with 422 validation_error", async () => {
    const { d, resend } = await setup();
    const r = await resend.batch.send(Array.from({ length: 101 }, (_, i) => mail(`u${i}@example.com`)));
    expect(r.data).toBeNull();
    expect(r.error).toMatchObject({ statusCode: 422, name: "validation_error" });
    expect(r.error?.message).toMatch(/100/);
    expect(d.delivered).toHaveLength(0);
  });

  it("strict batch (default): one bad address fails the whole batch, nothing delivered", async () => {
    const { d, resend } = await setup();
    const r = await resend.batch.send([mail("a@example.com"), mail("not-an-address"), mail("c@example.com")]);
    expect(r.error).toMatchObject({ statusCode: 422, name: "validation_error" });
    expect(r.error?.message).toMatch(/`to`/);
    expect(r.error?.message).toMatch(/index 1/);
    expect(d.delivered).toHaveLength(0);
  });

  it("permissive batch: valid ones delivered, per-index errors returned", async () => {
    const { d, resend } = await setup();
    const r = await resend.batch.send([mail("a@example.com"), mail("not-an-address"), mail("c@example.com")], {
      batchValidation: "permissive",
    });
    expect(r.error).toBeNull();
    expect(r.data?.data).toHaveLength(2);
    expect(r.data?.errors).toEqual([{ index: 1, message: expect.stringMatching(/`to`/) }]);
    expect(d.delivered.map((e) => e.batchIndex)).toEqual([0, 2]);
  });

  it("reports a missing required field by name", async () => {
    const { d, resend } = await setup();
    const r = await resend.emails.send({ from: "x@example.com", to: "y@example.com", subject: "", text: "t" });
    expect(r.error).toMatchObject({ statusCode: 422, name: "missing_required_field" });
    expect(r.error?.message).toMatch(/subject/);
    expect(d.delivered).toHaveLength(0);
  });

  it("idempotent replay returns the same ids and delivers nothing new; expires after 24 h", async () => {
    const { d, resend } = await setup();
    const batch = [mail("a@example.com"), mail("b@example.com")];
    const first = await resend.batch.send(batch, { idempotencyKey: "welcome/42" });
    // Same payload with keys in a different order: canonical JSON makes it equal.
    const reordered = batch.map(({ text, html, subject, to, from }) => ({ text, html, subject, to, from }));
    const second = await resend.batch.send(reordered, { idempotencyKey: "welcome/42" });
    expect(second.error).toBeNull();
    expect(second.data).toEqual(first.data);
    expect(d.delivered).toHaveLength(2);
    expect(d.delivered[0]?.idempotencyKey).toBe("welcome/42");
    clock += 24 * 60 * 60 * 1000;
    const third = await resend.batch.send(batch, { idempotencyKey: "welcome/42" });
    expect(third.data?.data[0]?.id).not.toBe(first.data?.data[0]?.id);
    expect(d.delivered).toHaveLength(4);
  });

  it("same key with a different payload → 409 invalid_idempotent_request", async () => {
    const { d, resend } = await setup();
    expect((await resend.emails.send(mail(), { idempotencyKey: "k1" })).error).toBeNull();
    const r = await resend.emails.send(mail("ada@example.com", "Other subject"), { idempotencyKey: "k1" });
    expect(r.error).toMatchObject({ statusCode: 409, name: "invalid_idempotent_request" });
    expect(d.delivered).toHaveLength(1);
  });

  it("rejects an idempotency key over 256 chars (documented 400 invalid_idempotency_key)", async () => {
    const { d, resend } = await setup();
    const r = await resend.emails.send(mail(), { idempotencyKey: "k".repeat(257) });
    expect(r.error).toMatchObject({ statusCode: 400, name: "invalid_idempotency_key" });
    expect(d.delivered).toHaveLength(0);
  });

  it("same key while the first request is in flight → one 409 concurrent_idempotent_requests", async () => {
    const { d, resend } = await setup({ latencyMs: 200 });
    const [a, b] = await Promise.all([
      resend.emails.send(mail(), { idempotencyKey: "k-concurrent" }),
      resend.emails.send(mail(), { idempotencyKey: "k-concurrent" }),
    ]);
    const errors = [a.error, b.error].filter((e) => e !== null);
    expect(errors).toEqual([expect.objectContaining({ statusCode: 409, name: "concurrent_idempotent_requests" })]);
    expect(d.delivered).toHaveLength(1);
    // Once the first finished, a retry replays it.
    const retry = await resend.emails.send(mail(), { idempotencyKey: "k-concurrent" });
    expect(retry.data?.id).toBe(d.delivered[0]?.id);
  });

  it("rate limit 2/s: third request in the same second → 429 rate_limit_exceeded with retry-after", async () => {
    const { d, resend } = await setup({ rateLimit: 2 });
    expect((await resend.emails.send(mail())).error).toBeNull();
    clock += 400;
    expect((await resend.emails.send(mail())).error).toBeNull();
    clock += 100;
    const third = await resend.emails.send(mail());
    expect(third.error).toMatchObject({ statusCode: 429, name: "rate_limit_exceeded" });
    expect(third.headers?.["retry-after"]).toBe("1");
    expect(third.headers?.["ratelimit-limit"]).toBe("2");
    expect(third.headers?.["ratelimit-remaining"]).toBe("0");
    expect(d.delivered).toHaveLength(2);
    expect(d.requests.map((r) => r.status)).toEqual([200, 200, 429]);
    clock = T0 + 1000; // the first request leaves the rolling window
    expect((await resend.emails.send(mail())).error).toBeNull();
    expect(d.delivered).toHaveLength(3);
  });

  it("failRate 1 → 500 and nothing delivered; a keyed retry still sends once faults stop", async () => {
    const { d, resend } = await setup({ failRate: 1 });
    const r = await resend.emails.send(mail(), { idempotencyKey: "k-fail" });
    expect(r.error).toMatchObject({ statusCode: 500, name: "internal_server_error" });
    expect(d.delivered).toHaveLength(0);
    d.set({ failRate: 0 });
    expect((await resend.emails.send(mail(), { idempotencyKey: "k-fail" })).error).toBeNull();
    expect(d.delivered).toHaveLength(1);
  });

  it("dropRate 1 → SDK sees statusCode null, yet the email was delivered; keyed retry replays", async () => {
    const { d, resend } = await setup({ dropRate: 1 });
    const r = await resend.emails.send(mail(), { idempotencyKey: "k-drop" });
    // SDK catches the fetch rejection (socket hang-up) and reports this exact error.
    expect(r).toEqual({
      data: null,
      error: { name: "application_error", statusCode: null, message: "Unable to fetch data. The request could not be resolved." },
      headers: null,
    });
    expect(d.delivered).toHaveLength(1);
    expect(d.requests).toEqual([{ at: T0, path: "/emails", status: 0, idempotencyKey: "k-drop", count: 1 }]);
    d.set({ dropRate: 0 });
    const retry = await resend.emails.send(mail(), { idempotencyKey: "k-drop" });
    expect(retry.data?.id).toBe(d.delivered[0]?.id);
    expect(d.delivered).toHaveLength(1);
  });

  it("daily quota → 429 daily_quota_exceeded until resetQuota()", async () => {
    const { d, resend } = await setup({ dailyQuota: 2 });
    expect((await resend.batch.send([mail("a@example.com"), mail("b@example.com")])).error).toBeNull();
    const over = await resend.emails.send(mail());
    expect(over.error).toMatchObject({ statusCode: 429, name: "daily_quota_exceeded" });
    expect(d.delivered).toHaveLength(2);
    d.resetQuota();
    expect((await resend.emails.send(mail())).error).toBeNull();
    expect(d.delivered).toHaveLength(3);
  });

  it("missing Authorization → 401 missing_api_key (raw fetch: the SDK always sends one)", async () => {
    const { d } = await setup();
    const res = await fetch(`${d.url}/emails`, { method: "POST", body: JSON.stringify(mail()) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ statusCode: 401, name: "missing_api_key" });
  });

  it("is deterministic for a given seed", async () => {
    const outcomes = async () => {
      const { d, resend } = await setup({ failRate: 0.5, seed: 7 });
      for (let i = 0; i < 12; i++) await resend.emails.send(mail());
      const statuses = d.requests.map((r) => r.status);
      await d.close();
      double = undefined;
      return statuses;
    };
    const first = await outcomes();
    expect(first).toContain(500);
    expect(first).toContain(200);
    expect(await outcomes()).toEqual(first);
  });
});
