/**
 * The blog snippet in a real browser (Debian's Chromium through playwright-core) with
 * JavaScript turned off: `drip form snippet` pasted into a page served by a second local
 * server (the clinic's blog, another origin) signs a reader up on drip; the same snippet on
 * a third origin that staff did not allow is refused, and nothing is stored.
 */
import { existsSync } from "node:fs";
import { type Server, createServer } from "node:http";
import { join } from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { type Browser, chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createHttpApp } from "../../src/http/app.ts";
import { type App, createApp, httpDeps } from "../../src/wiring.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";
import { freePort } from "../support/process.ts";
import { SECRET, START } from "./harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);

let browser: Browser | undefined;
let server: ServerType | undefined;
const blogs: Server[] = [];
let app: App | undefined;
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  for (const b of blogs) await new Promise((r) => b.close(r));
  await app?.close();
  cleanupTempDirs();
});

/** A static page with the snippet in it, as the clinic's blog would serve it. */
async function blog(snippet: string): Promise<string> {
  const port = await freePort();
  const s = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><title>Hip pain: the blog</title></head><body><h1>The blog post</h1>${snippet}</body></html>`);
  });
  await new Promise<void>((resolve) => s.listen(port, "127.0.0.1", resolve));
  blogs.push(s);
  return `http://127.0.0.1:${port}`;
}

describe("the form snippet on another site, JavaScript off", () => {
  it.skipIf(!haveChromium)("signs a reader up from the allowed blog, and refuses the same post from another origin", async () => {
    const dir = tempDir("drip-forms-browser-");
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const blogPort = await freePort();
    const blogOrigin = `http://127.0.0.1:${blogPort}`;
    const env = {
      DATABASE_URL: `file:${join(dir, "drip.db")}`,
      OUTBOX_DIR: join(dir, "outbox"),
      DRIP_PUBLIC_URL: base,
      DRIP_SECRET: SECRET,
      PORT: String(port),
      DRIP_FORM_ORIGINS: blogOrigin,
    };
    // The snippet exactly as staff would copy it.
    const snippet = await runDrip(["form", "snippet", "hip-pain"], { env, cwd: dir, now: START });
    expect(snippet.code, snippet.err).toBe(0);
    expect(snippet.out).not.toContain("<script");

    app = await createApp(loadConfig(env));
    const http = createHttpApp(httpDeps(app, { now: () => START }));
    await new Promise<void>((resolve) => {
      server = serve({ fetch: http.fetch, port, hostname: "127.0.0.1" }, () => resolve());
    });
    // The allowed blog on the port named in DRIP_FORM_ORIGINS; the other one anywhere else.
    const s = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><html lang="en"><head><title>Blog</title></head><body><h1>The blog post</h1>${snippet.out}</body></html>`);
    });
    await new Promise<void>((resolve) => s.listen(blogPort, "127.0.0.1", resolve));
    blogs.push(s);
    const elsewhere = await blog(snippet.out);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();

    await page.goto(`${blogOrigin}/2026/hip-pain`);
    await page.getByLabel("Email address").fill("blog.reader@example.com");
    await page.getByLabel("First name").fill("Blair");
    await page.getByLabel("Time zone").selectOption("America/Chicago");
    await page.getByRole("button", { name: "Send me the course" }).click();
    await expect.poll(() => page.locator("h1").textContent()).toBe("Check your inbox");
    expect(page.url()).toBe(`${base}/f/hip-pain`);
    expect(await app.store.findSubscriberByEmail("blog.reader@example.com")).toMatchObject({
      status: "pending",
      name: "Blair",
      timezone: "America/Chicago",
      consentSource: "signup form: hip-pain",
    });

    await page.goto(`${elsewhere}/copied`);
    await page.getByLabel("Email address").fill("victim@example.com");
    await page.getByRole("button", { name: "Send me the course" }).click();
    await expect.poll(() => page.locator(".error").textContent()).toContain("not one drip allows");
    expect(await app.store.findSubscriberByEmail("victim@example.com")).toBeNull();
  });
});
