/**
 * One real browser (Debian's Chromium through playwright-core) against the real server on
 * 127.0.0.1: sign up with the form, open the outbox email's confirmation link and press its
 * button, see the article arrive,
 * unsubscribe with the button from the article's link, and see nothing more sent.
 * Screenshots of the signup and unsubscribe pages at phone width go to a temp dir
 * (DRIP_SCREENSHOT_DIR keeps them).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { simpleParser } from "mailparser";
import { type Browser, chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { type App, createApp, httpDeps } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import { createHttpApp } from "../../src/http/app.ts";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";
import { DAY, SECRET, START } from "./harness.ts";
import { freePort } from "../support/process.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`browser test skipped: ${CHROMIUM} is missing (CI installs Debian's chromium with apt)`);

let browser: Browser | undefined;
let server: ServerType | undefined;
let app: App | undefined;
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await app?.close();
  cleanupTempDirs();
});

const emls = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".eml"))
        .sort()
    : [];
const parse = (dir: string, file: string) => simpleParser(readFileSync(join(dir, file)));
const href = (html: unknown, path: string) => {
  const m = new RegExp(`href="([^"]*/${path}/[^"]+)"`).exec(String(html));
  if (!m) throw new Error(`no /${path}/ link in the email`);
  return m[1]!.replace(/&amp;/g, "&");
};

describe("in a real browser", () => {
  it.skipIf(!haveChromium)("signs up, confirms, receives the article, unsubscribes with one button, and gets nothing more", async () => {
    const dir = tempDir("drip-browser-");
    const shots = process.env.DRIP_SCREENSHOT_DIR ?? join(dir, "screenshots");
    mkdirSync(shots, { recursive: true });
    const outbox = join(dir, "outbox");
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const config = loadConfig({
      DATABASE_URL: `file:${join(dir, "drip.db")}`,
      OUTBOX_DIR: outbox,
      DRIP_PUBLIC_URL: base,
      DRIP_SECRET: SECRET,
      PORT: String(port),
    });
    app = await createApp(config);
    let now = START;
    const http = createHttpApp(httpDeps(app, { now: () => now }));
    await new Promise<void>((resolve) => {
      server = serve({ fetch: http.fetch, port, hostname: "127.0.0.1" }, () => resolve());
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, timezoneId: "America/New_York", locale: "en-US" });
    const page = await context.newPage();
    const problems: string[] = [];
    // Errors and CSP violations; the browser's own favicon request may 404.
    page.on("console", (m) => void (m.type() === "error" && !m.location().url.endsWith("/favicon.ico") && problems.push(`${m.text()} (${m.location().url})`)));
    page.on("pageerror", (e) => problems.push(e.message));

    // The signup page: the browser's zone is filled in by the (CSP-allowed) script.
    const res = await page.goto(`${base}/`);
    expect(res?.status()).toBe(200);
    await expect.poll(() => page.locator("#timezone").inputValue()).toBe("America/New_York");
    const overflow = (await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")) as number;
    expect(overflow, "the page must not scroll sideways on a phone").toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(shots, "signup-390.png"), fullPage: true });
    await page.getByLabel("Email address").fill("reader@example.com");
    await page.getByLabel("First name").fill("Robin");
    await page.getByRole("button", { name: "Send me the course" }).click();
    await expect.poll(() => page.locator("h1").textContent()).toBe("Check your inbox");
    const sub = (await app.store.findSubscriberByEmail("reader@example.com"))!;
    expect(sub).toMatchObject({ status: "pending", name: "Robin", timezone: "America/New_York", consentIp: "127.0.0.1" });

    // The confirmation email goes out on the tick; follow its link in the browser.
    await app.engine.tick(now);
    const confirmFile = emls(outbox).find((f) => f.startsWith("confirm-"));
    expect(confirmFile).toBeDefined();
    const confirmMail = await parse(outbox, confirmFile!);
    const link = href(confirmMail.html, "confirm");
    expect(link.startsWith(`${base}/confirm/`)).toBe(true);
    // Opening the link changes nothing (mail scanners open links): one button confirms.
    await page.goto(link);
    await expect.poll(() => page.locator("h1").textContent()).toBe("One last step");
    expect(await page.getByRole("button").count()).toBe(1);
    await page.screenshot({ path: join(shots, "confirm-390.png"), fullPage: true });
    expect((await app.store.getSubscriber(sub.id))?.status).toBe("pending");
    await page.getByRole("button", { name: "Confirm my subscription" }).click();
    await expect.poll(() => page.locator("h1").textContent()).toBe("You're in!");
    expect((await app.store.getSubscriber(sub.id))?.status).toBe("active");

    // The article arrives on the next tick.
    now = new Date(now.getTime() + 60_000);
    await app.engine.tick(now);
    const articleFile = emls(outbox).find((f) => f.endsWith(".article.eml"));
    expect(articleFile, `outbox: ${emls(outbox).join(", ")}`).toBeDefined();
    const article = await parse(outbox, articleFile!);
    const unsubscribe = href(article.html, "unsubscribe");
    expect((article.headers.get("list") as { unsubscribe?: { url?: string } }).unsubscribe?.url).toBe(unsubscribe);

    // Unsubscribe: the link shows one button; clicking it unsubscribes.
    await page.goto(unsubscribe);
    await expect.poll(() => page.locator("h1").textContent()).toBe("Unsubscribe?");
    expect(await page.getByRole("button").count()).toBe(1);
    await page.screenshot({ path: join(shots, "unsubscribe-390.png"), fullPage: true });
    expect((await app.store.getSubscriber(sub.id))?.status).toBe("active");
    await page.getByRole("button", { name: "Unsubscribe" }).click();
    await expect.poll(() => page.locator("h1").textContent()).toBe("You're unsubscribed");
    await page.screenshot({ path: join(shots, "unsubscribed-390.png"), fullPage: true });
    expect((await app.store.getSubscriber(sub.id))?.status).toBe("unsubscribed");

    // Nothing more is sent, through the whole course and beyond.
    const before = emls(outbox);
    for (let h = 1; h <= 15 * 24; h += 6) await app.engine.tick(new Date(now.getTime() + h * 3_600_000));
    await app.engine.tick(new Date(now.getTime() + 15 * DAY));
    expect(emls(outbox)).toEqual(before);
    expect(problems, problems.join("\n")).toEqual([]);
    console.log(`browser test screenshots: ${shots}`);
  });

  it.skipIf(!haveChromium)(
    "fills the signup form with the browser's zone (Asia/Kolkata, Europe/Kyiv, and Etc/GMT+5 which the list lacks), within the CSP",
    async () => {
      const dir = tempDir("drip-browser-zone-");
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const config = loadConfig({
        DATABASE_URL: `file:${join(dir, "drip.db")}`,
        OUTBOX_DIR: join(dir, "outbox"),
        DRIP_PUBLIC_URL: base,
        DRIP_SECRET: SECRET,
        PORT: String(port),
      });
      const zoneApp = await createApp(config);
      const http = createHttpApp(httpDeps(zoneApp, { now: () => START }));
      let zoneServer: ServerType | undefined;
      await new Promise<void>((resolve) => {
        zoneServer = serve({ fetch: http.fetch, port, hostname: "127.0.0.1" }, () => resolve());
      });
      const zoneBrowser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
      });
      try {
        // A browser in Kolkata or Kyiv finds its zone in the list (Asia/Kolkata, Europe/Kyiv),
        // whichever spelling this Chromium's Intl reports.
        for (const zone of ["Asia/Kolkata", "Europe/Kyiv"]) {
          const context = await zoneBrowser.newContext({ timezoneId: zone, locale: "en-US" });
          const page = await context.newPage();
          const problems: string[] = [];
          page.on("console", (m) => void (m.type() === "error" && !m.location().url.endsWith("/favicon.ico") && problems.push(m.text())));
          page.on("pageerror", (e) => problems.push(e.message));
          await page.goto(`${base}/`);
          await expect.poll(() => page.locator("#timezone").inputValue(), { message: zone }).toBe(zone);
          const options = await page.locator("#timezone option").count();
          expect(options, "found, not added").toBe((await (await fetch(`${base}/`)).text()).match(/<option /g)!.length);
          expect(problems, problems.join("\n")).toEqual([]);
          await context.close();
        }
        const context = await zoneBrowser.newContext({ timezoneId: "Etc/GMT+5", locale: "en-US" });
        const page = await context.newPage();
        const problems: string[] = [];
        page.on("console", (m) => void (m.type() === "error" && !m.location().url.endsWith("/favicon.ico") && problems.push(m.text())));
        page.on("pageerror", (e) => problems.push(e.message));
        await page.goto(`${base}/`);
        await expect.poll(() => page.locator("#timezone").inputValue()).toBe("Etc/GMT+5");
        await page.getByLabel("Email address").fill("zone@example.com");
        await page.getByRole("button", { name: "Send me the course" }).click();
        await expect.poll(() => page.locator("h1").textContent()).toBe("Check your inbox");
        expect(await zoneApp.store.findSubscriberByEmail("zone@example.com")).toMatchObject({ status: "pending", timezone: "Etc/GMT+5" });
        expect(problems, problems.join("\n")).toEqual([]);
      } finally {
        await zoneBrowser.close();
        await new Promise((r) => (zoneServer ? zoneServer.close(r) : r(undefined)));
        await zoneApp.close();
      }
    },
  );
});
