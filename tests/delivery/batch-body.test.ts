/**
 * A batch's request body and stored payload, built from the compiled renderer's pieces:
 * - the body is byte for byte what the pinned resend SDK sends for the same emails (captured
 *   from the SDK's own request), for names with markup, quotes, emoji, right-to-left text and
 *   empty names, and for pieces that split a surrogate pair;
 * - ResendTransport.sendBatch puts exactly those bytes on the wire through the SDK;
 * - a stored payload reads back to the same emails (and the same body), each template literal
 *   stored once; payloads stored as whole strings still read.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Resend } from "resend";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import course from "../../sequences/hip-pain-course.ts";
import { BodyBuffers, batchBody, ResendTransport, toProviderEmail, wholeBody } from "../../src/delivery/resend.ts";
import { outgoingMessage, type ProviderEmail } from "../../src/delivery/transport.ts";
import { readPayload, storePayload } from "../../src/engine/batch-payload.ts";
import { EMAILS_DIR } from "../../src/paths.ts";
import { compiledRenderer, piecesOf } from "../../src/render/compiled.ts";
import { buildLinks } from "../../src/render/links.ts";

const NAMES = ["Ada", "<b>Bo</b> & \"Co\" 'x'", "😀 Zoë", "שרה محمد", "", "李 👩🏽‍⚕️", "Tom & Jerry", "a\u00a0b", "x  y", "back\\slash\ttab\u2028line"];

async function compiledEmails(n: number, names: readonly string[] = NAMES): Promise<ProviderEmail[]> {
  const renderer = compiledRenderer();
  const out: ProviderEmail[] = [];
  for (let i = 0; i < n; i++) {
    const step = course.steps[i % 2]!;
    const links = buildLinks(
      { publicUrl: "https://drip.example.com", bookingUrl: "https://clinic.example.com/book", siteUrl: "https://clinic.example.com" },
      `token-${i}.abc`,
      course.id,
      step.id,
    );
    const subscriber = { email: `s${i}@example.com`, name: names[i % names.length]!, timezone: "Europe/London", tags: [] };
    const email = await renderer.render({
      sequence: course,
      step,
      subscriber,
      links,
      postalAddress: "1 Example Street",
      list: { from: "hello@clinic.example" },
      emailsDir: EMAILS_DIR,
    });
    const message = outgoingMessage(`send-${i}`, { name: course.sender.name, address: "hello@clinic.example" }, subscriber.email, email, new Date(0));
    const pieces = piecesOf(email);
    if (pieces) message.pieces = pieces;
    out.push(toProviderEmail(message));
  }
  if (renderer.stats.filled === 0) throw new Error("nothing was filled from a compiled step");
  return out;
}

/** A local server that keeps each request's raw body and answers like Resend's batch endpoint. */
let server: http.Server;
let url = "";
const bodies: Buffer[] = [];
const heads: http.IncomingHttpHeaders[] = [];
beforeAll(async () => {
  server = http.createServer((req, res) => {
    heads.push(req.headers);
    // A batch sent under this key is answered with a redirect to the same endpoint.
    if (req.headers["idempotency-key"] === "k-redirect" && req.url === "/emails/batch") {
      req.resume();
      res.writeHead(307, { location: "/emails/batch?again=1" });
      res.end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      bodies.push(body);
      // A batch sent under this key is answered with a server error (the whole body read first).
      if (req.headers["idempotency-key"] === "k-500") {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ statusCode: 500, name: "internal_server_error", message: "try again" }));
        return;
      }
      const n = (JSON.parse(body.toString("utf8")) as unknown[]).length;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ data: Array.from({ length: n }, (_e, i) => ({ id: `m-${i}` })) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** What the SDK itself sends for these emails (no body of ours). */
async function sdkBytes(emails: ProviderEmail[]): Promise<Buffer> {
  const before = bodies.length;
  const { error } = await new Resend("re_test_body", { baseUrl: url }).batch.send(
    emails.map(({ pieces: _p, ...e }) => e),
    { idempotencyKey: "k-sdk" },
  );
  expect(error).toBeNull();
  expect(bodies.length).toBe(before + 1);
  return bodies.at(-1)!;
}

describe("batch request body", () => {
  it("is byte for byte the SDK's own body, for compiled and fully rendered emails alike", async () => {
    const emails = await compiledEmails(40);
    expect(emails.some((e) => e.pieces)).toBe(true);
    expect(emails.some((e) => !e.pieces)).toBe(true); // unsafe names render in full
    const ours = batchBody(emails);
    expect(ours.equals(await sdkBytes(emails))).toBe(true);
    // A second batch with a warm literal cache gives the same bytes.
    const cache = new Map<string, Buffer>();
    batchBody(emails, cache);
    expect(cache.size).toBeGreaterThan(0);
    expect(batchBody(emails, cache).equals(ours)).toBe(true);
  });

  it("pieces that split a surrogate pair are encoded whole (no lone halves escaped)", async () => {
    const smile = "😀";
    const html = `<p>${"a".repeat(70)}${smile}${"b".repeat(70)}</p>`;
    const cut = html.indexOf(smile) + 1; // between the two halves of the emoji
    const email: ProviderEmail = {
      from: "A <a@example.com>",
      to: ["x@example.com"],
      subject: "S",
      html,
      text: "t",
      headers: {},
      tags: [],
      pieces: { html: [html.slice(0, cut), "", html.slice(cut)], text: ["t"] },
    };
    expect(batchBody([email]).equals(await sdkBytes([email]))).toBe(true);
  });

  it("ResendTransport.sendBatch puts exactly batchBody's bytes on the wire through the SDK, and maps the answer", async () => {
    const emails = await compiledEmails(12);
    const transport = new ResendTransport("re_test_body", { baseUrl: url });
    const before = bodies.length;
    const outcome = await transport.sendBatch(emails, "k-transport");
    expect(bodies.length).toBe(before + 1);
    expect(bodies.at(-1)!.equals(batchBody(emails))).toBe(true);
    expect(bodies.at(-1)!.equals(await sdkBytes(emails))).toBe(true);
    expect(outcome.kind).toBe("accepted");
    if (outcome.kind === "accepted") expect(outcome.results.map((r) => r.ok && r.providerMessageId)).toEqual(emails.map((_e, i) => `m-${i}`));
    // Sent whole, with its length (the body goes to fetch as one stream chunk, not chunked).
    expect(heads.at(-2)!["content-length"]).toBe(String(bodies.at(-2)!.length));
    expect(heads.at(-2)!["transfer-encoding"]).toBeUndefined();
  });

  it("the body goes to fetch as the buffer itself (one chunk, not copied), with its length", async () => {
    const body = Buffer.from('[{"to":["x@example.com"]}]');
    const opts = wholeBody(body);
    expect(opts.headers["Content-Length"]).toBe(String(body.length));
    expect(opts.redirect).toBe("error");
    const reader = opts.body.getReader();
    const first = await reader.read();
    expect(first.value).toBe(body);
    expect((await reader.read()).done).toBe(true);
  });

  it("a request body's memory holds a later batch only once the provider answered 200; after an error or no answer it is dropped; each batch's bytes are its own", async () => {
    const big = await compiledEmails(12);
    const small = await compiledEmails(3);
    const transport = new ResendTransport("re_test_body", { baseUrl: url });
    expect(transport.bodyBuffers.kept).toBe(0);
    expect((await transport.sendBatch(big, "k-big")).kind).toBe("accepted");
    expect(transport.bodyBuffers.kept).toBe(1);
    // The smaller batch is written into the bigger one's memory: on the wire, exactly its own bytes.
    expect((await transport.sendBatch(small, "k-small")).kind).toBe("accepted");
    expect(bodies.at(-1)!.equals(batchBody(small))).toBe(true);
    expect(bodies.at(-1)!.equals(await sdkBytes(small))).toBe(true);
    expect(transport.bodyBuffers.kept).toBe(1);
    // A 5xx: the memory it went out in is not used again.
    expect((await transport.sendBatch(big, "k-500")).kind).toBe("retry");
    expect(bodies.at(-1)!.equals(batchBody(big))).toBe(true);
    expect(transport.bodyBuffers.kept).toBe(0);
    expect((await transport.sendBatch(small, "k-small-2")).kind).toBe("accepted");
    expect(transport.bodyBuffers.kept).toBe(1);
    // No answer (a redirect, an error for fetch): not used again either.
    expect((await transport.sendBatch(small, "k-redirect")).kind).toBe("unknown");
    expect(transport.bodyBuffers.kept).toBe(0);
  });

  it("BodyBuffers hands out memory of its own (never a slice of Node's shared pool), keeps a few, and reuses one only for a body that fits", () => {
    const buffers = new BodyBuffers(2);
    const a = buffers.take(10);
    expect(a.length).toBeGreaterThanOrEqual(10);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(a.length);
    buffers.answered200(a);
    buffers.answered200(a);
    expect(buffers.kept).toBe(1);
    expect(buffers.take(a.length + 1)).not.toBe(a);
    expect(buffers.take(5)).toBe(a);
    for (const b of [buffers.take(1), buffers.take(1), buffers.take(1)]) buffers.answered200(b);
    expect(buffers.kept).toBe(2);
  });

  it("a redirect is not followed (fetch would keep a copy of the body to replay it): no answer, one request", async () => {
    const emails = await compiledEmails(3);
    const transport = new ResendTransport("re_test_body", { baseUrl: url });
    const before = heads.length;
    const outcome = await transport.sendBatch(emails, "k-redirect");
    expect(heads.length - before).toBe(1);
    // No answer from the provider: the engine retries under the same key, never sends twice.
    expect(outcome.kind).toBe("unknown");
  });
});

describe("stored batch payload", () => {
  it("reads back the same emails and the same body, each template literal stored once", async () => {
    const emails = await compiledEmails(30);
    const payload = { sendIds: emails.map((_e, i) => `send-${i}`), emails };
    const stored = storePayload(payload);
    const back = readPayload(stored);
    expect(back.sendIds).toEqual(payload.sendIds);
    expect(back.emails.map(({ pieces: _p, ...e }) => e)).toEqual(emails.map(({ pieces: _p, ...e }) => e));
    expect(batchBody(back.emails).equals(batchBody(emails))).toBe(true);
    const literals = (JSON.parse(stored) as { literals: string[] }).literals;
    expect(new Set(literals).size).toBe(literals.length);
  });

  it("a batch of one compiled step stores its template once, not once per email", async () => {
    const emails = await compiledEmails(
      100,
      Array.from({ length: 100 }, (_e, i) => `Sub ${i}`),
    );
    expect(emails.every((e) => e.pieces)).toBe(true);
    const stored = storePayload({ sendIds: emails.map((_e, i) => `send-${i}`), emails });
    const whole = JSON.stringify({ sendIds: emails.map((_e, i) => `send-${i}`), emails: emails.map(({ pieces: _p, ...e }) => e) });
    expect(stored.length).toBeLessThan(whole.length / 5);
  });

  it("what the emails repeat is stored once: an email's links (html and text), the step's from, subject, headers and tags", async () => {
    const emails = await compiledEmails(
      100,
      Array.from({ length: 100 }, (_e, i) => `Sub ${i}`),
    );
    const stored = storePayload({ sendIds: emails.map((_e, i) => `send-${i}`), emails });
    const count = (needle: string) => stored.split(JSON.stringify(needle).slice(1, -1)).length - 1;
    for (const e of emails.slice(0, 3)) {
      // The unsubscribe link (its token is this subscriber's) shows in html and text: stored once.
      const link = e.text.match(/https:\/\/drip\.example\.com\/unsubscribe\/[^\s"<>]+/)![0];
      expect(e.html).toContain(link);
      // Once for html and text, and once inside the List-Unsubscribe header's own value.
      expect(e.headers["List-Unsubscribe"]).toBe(`<${link}>`);
      expect(count(link)).toBe(2);
    }
    expect(count(emails[0]!.from)).toBe(1);
    expect(count(emails[0]!.subject)).toBe(1);
    expect(count(emails[0]!.headers["List-Id"]!)).toBe(1);
    const back = readPayload(stored);
    expect(back.emails.map(({ pieces: _p, ...e }) => e)).toEqual(emails.map(({ pieces: _p, ...e }) => e));
    expect(batchBody(back.emails).equals(batchBody(emails))).toBe(true);
  });

  it("a payload stored with whole strings (before literals) reads as it was", () => {
    const email = { from: "A <a@example.com>", to: ["x@example.com"], subject: "S", html: "<p>hi 😀</p>", text: "hi", headers: {}, tags: [] };
    const back = readPayload(JSON.stringify({ sendIds: ["s1"], emails: [email] }));
    expect(back).toEqual({ sendIds: ["s1"], emails: [email] });
  });

  it("a payload naming a literal it does not hold is refused, not sent short", () => {
    const email = { from: "A <a@example.com>", to: ["x@example.com"], subject: "S", html: [0, "x", 1], text: "t", headers: {}, tags: [] };
    expect(() => readPayload(JSON.stringify({ sendIds: ["s1"], literals: ["<p>"], emails: [email] }))).toThrow(/literal 1/);
  });
});
