/**
 * The public routes over a real socket (@hono/node-server on 127.0.0.1, Node's http client):
 * the body limit is decided from Content-Length when one is declared, and by counting the
 * bytes when the body comes chunked; the one-click unsubscribe reads its body from the socket.
 */
import { type IncomingHttpHeaders, request } from "node:http";
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { type Harness, activeReader, harness, unsubscribeUrl } from "./harness.ts";

let h: Harness;
let server: ServerType;
let port: number;
beforeEach(async () => {
  h = await harness();
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: h.http.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  await new Promise((r) => server.close(r));
  await h.close();
  cleanupTempDirs();
});

/** One request; `chunked` sends the body without Content-Length (Transfer-Encoding: chunked, in two writes). */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
  chunked = false,
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method, path, headers: chunked ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (chunked) {
      const half = Math.floor(body.length / 2);
      req.write(body.slice(0, half));
      req.end(body.slice(half));
    } else req.end(body);
  });
}

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const JSON_BODY = { "content-type": "application/json" };

describe("public routes over a socket", () => {
  it("unsubscribes on the one-click POST, with Content-Length and chunked", async () => {
    const first = await activeReader(h, "ann@example.com");
    const second = await activeReader(h, "bob@example.com");
    for (const [reader, chunked] of [
      [first, false],
      [second, true],
    ] as const) {
      const path = new URL(unsubscribeUrl(reader.article)).pathname;
      const res = await send("POST", path, FORM, "List-Unsubscribe=One-Click", chunked);
      expect(res.status).toBe(200);
      expect(res.text).toContain("You're unsubscribed");
      expect(res.headers["cache-control"]).toBe("no-store");
      expect((await h.app.store.getSubscriber(reader.id))?.status).toBe("unsubscribed");
    }
    // Without the RFC 8058 body nothing happens, however the body comes.
    const third = await activeReader(h, "cy@example.com");
    const path = new URL(unsubscribeUrl(third.article)).pathname;
    expect((await send("POST", path, FORM, "List-Unsubscribe=Yes")).status).toBe(400);
    expect((await send("POST", path, FORM, "List-Unsubscribe=Yes", true)).status).toBe(400);
    expect((await h.app.store.getSubscriber(third.id))?.status).toBe("active");
  });

  it("refuses a body over 16 KiB with 413, declared by Content-Length or counted when chunked, and stores nothing", async () => {
    const big = JSON.stringify({ email: "big@example.com", name: "A", timezone: "", pad: "x".repeat(17 * 1024) });
    for (const chunked of [false, true]) {
      const res = await send("POST", "/subscribe", JSON_BODY, big, chunked);
      expect(res.status).toBe(413);
      expect(JSON.parse(res.text).error).toMatch(/16 KiB/);
    }
    const page = await send("POST", "/subscribe", FORM, `email=big%40example.com&name=${"x".repeat(20_000)}`, true);
    expect(page.status).toBe(413);
    expect(page.text).toContain("more data than we accept");
    expect(await h.app.store.findSubscriberByEmail("big@example.com")).toBeNull();
    // Just under the limit is read whole (and refused for what it says, not for its size).
    const under = await send("POST", "/subscribe", JSON_BODY, JSON.stringify({ email: "not-an-address", name: "A", timezone: "", pad: "x".repeat(15 * 1024) }));
    expect(under.status).toBe(400);
    expect(JSON.parse(under.text).error).toMatch(/valid email address/);
  });

  it("answers a signup with Content-Length and a body", async () => {
    const res = await send("POST", "/subscribe", JSON_BODY, JSON.stringify({ email: "dee@example.com", name: "Dee", timezone: "Europe/London" }));
    expect(res.status).toBe(200);
    expect((await h.app.store.findSubscriberByEmail("dee@example.com"))?.status).toBe("pending");
  });
});
