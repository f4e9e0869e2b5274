/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against the real
 * server on 127.0.0.1: the owner signs in with the link `drip staff link` prints, sees the
 * overview, opens the course and reads step results equal to `drip stats --json`, previews a
 * step, finds a subscriber and reads their timeline (and topics), schedules a newsletter at a
 * local time (choosing "the next day" where it has passed) and reads its status, and signs out (the session is gone on the
 * server). Keyboard: the skip link comes first. At 390 px nothing scrolls sideways. Screenshots
 * at 1280 and 390 px, light and dark, go to DRIP_SCREENSHOT_DIR (default a temp dir).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createHttpApp } from "../../src/http/app.ts";
import { type App, createApp, httpDeps } from "../../src/wiring.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";
import { freePort } from "../support/process.ts";
import { SECRET, START } from "../http/harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`dashboard browser test skipped: ${CHROMIUM} is missing (CI installs Debian's chromium with apt)`);

const SEQ = "hip-pain-course";
const ISSUE = "two-ways-to-ease-outer-hip-pain";
let browser: Browser | undefined;
let server: ServerType | undefined;
let app: App | undefined;
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await app?.close();
  cleanupTempDirs();
});

async function shoot(page: Page, dir: string, name: string, variants: { width: number; scheme: "light" | "dark" }[]) {
  for (const v of variants) {
    await page.setViewportSize({ width: v.width, height: v.width === 390 ? 844 : 900 });
    await page.emulateMedia({ colorScheme: v.scheme });
    // Charts are drawn at load with the scheme's colours: reload so they match.
    await page.reload();
    await page.waitForLoadState("load");
    // A sandboxed frame is painted out of process: below the fold it is blank in a full-page
    // shot until it has been scrolled to once (a person scrolling sees it).
    const frame = page.locator("iframe.preview");
    if ((await frame.count()) > 0) {
      await frame.scrollIntoViewIfNeeded();
      await page.waitForTimeout(1000);
    }
    if (v.width === 390) {
      const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
      expect(overflow, `${name} scrolls sideways at 390 px`).toBeLessThanOrEqual(0);
    }
    await page.screenshot({ path: join(dir, `${name}-${v.width}-${v.scheme}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.emulateMedia({ colorScheme: "light" });
}
const ALL = [
  { width: 1280, scheme: "light" },
  { width: 1280, scheme: "dark" },
  { width: 390, scheme: "light" },
  { width: 390, scheme: "dark" },
] as const;

describe("the dashboard in a real browser", () => {
  it.skipIf(!haveChromium)(
    "owner: link from drip staff link → overview → course results = drip stats --json → preview → subscriber timeline → sign out",
    async () => {
      const dir = tempDir("drip-admin-browser-");
      const shots = process.env.DRIP_SCREENSHOT_DIR ?? join(dir, "screenshots");
      mkdirSync(shots, { recursive: true });
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const env = {
        DATABASE_URL: `file:${join(dir, "drip.db")}`,
        OUTBOX_DIR: join(dir, "outbox"),
        DRIP_PUBLIC_URL: base,
        DRIP_SECRET: SECRET,
        PORT: String(port),
      };
      app = await createApp(loadConfig(env));
      const now = START;
      // Some history: readers who got the first email, opened and clicked it; one booked.
      for (const [i, name] of ["Ana", "Ben", "Cleo", "Dev", "Eli"].entries()) {
        await app.lifecycle.subscribe(
          { email: `${name.toLowerCase()}@example.com`, name, timezone: "Europe/London", tags: i === 0 ? ["vip"] : [] },
          { confirmed: true, source: "test" },
          now,
        );
      }
      // Three of them joined the weekly newsletter.
      for (const name of ["ana", "ben", "cleo"])
        await app.lifecycle.joinTopic((await app.store.findSubscriberByEmail(`${name}@example.com`))!, "weekly", { source: "signup form" }, now);
      await app.engine.tick(now);
      const sends = await app.store.listSends({ sequenceId: SEQ });
      for (const [i, s] of sends.entries()) {
        await app.store.recordEvent({ subscriberId: s.subscriberId, sendId: s.id, type: "delivered", at: now });
        if (i < 3) await app.store.recordEvent({ subscriberId: s.subscriberId, sendId: s.id, type: "opened", at: now });
        if (i < 1)
          await app.store.recordEvent({
            subscriberId: s.subscriberId,
            sendId: s.id,
            type: "clicked",
            at: now,
            data: { link: "https://clinic.example.com/book" },
          });
      }
      const http = createHttpApp(httpDeps(app, { now: () => now }));
      await new Promise<void>((resolve) => {
        server = serve({ fetch: http.fetch, port, hostname: "127.0.0.1" }, () => resolve());
      });

      // The first owner gets in from the terminal.
      expect((await runDrip(["staff", "add", "owner@clinic.example", "--role", "owner"], { env, cwd: dir, now })).code).toBe(0);
      const linkRun = await runDrip(["staff", "link", "owner@clinic.example", "--json"], { env, cwd: dir, now });
      expect(linkRun.code).toBe(0);
      const { url } = JSON.parse(linkRun.out) as { url: string };
      expect(url.startsWith(`${base}/admin/signin/`)).toBe(true);
      const statsRun = await runDrip(["stats", "--json", "--sequence", SEQ], { env, cwd: dir, now });
      const stats = JSON.parse(statsRun.out) as {
        stepId: string;
        sent: number;
        delivered: number;
        opened: number;
        clicked: number;
        booked: number;
        unsubscribed: number;
      }[];
      expect(stats.length).toBeGreaterThan(0);

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on(
        "console",
        (m) => void (m.type() === "error" && !m.location().url.endsWith("/favicon.ico") && problems.push(`${m.text()} (${m.location().url})`)),
      );
      page.on("pageerror", (e) => problems.push(e.message));
      const outside: string[] = [];
      page.on("request", (r) => void (!r.url().startsWith(base) && !r.url().startsWith("data:") && !r.url().startsWith("about:") && outside.push(r.url())));

      // Sign in: the link shows a button; pressing it lands on the overview.
      await page.goto(url);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${base}/admin`);
      await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Overview");
      expect(await page.evaluate("typeof window.Chart")).toBe("function");
      const cookies = await context.cookies();
      expect(cookies.find((c) => c.name === "drip_staff")).toMatchObject({ httpOnly: true, sameSite: "Lax" });
      // Keyboard: the first Tab reaches "Skip to content".
      await page.keyboard.press("Tab");
      expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to content");
      await shoot(page, shots, "overview", [...ALL]);
      const canvas = await page.locator("canvas#activity").boundingBox();
      expect(canvas?.width ?? 0).toBeGreaterThan(200);

      // The course: every step's results equal drip stats --json.
      await page.getByRole("link", { name: "Sequences" }).click();
      await page.getByRole("link", { name: /hip/i }).first().click();
      await page.waitForURL(`${base}/admin/sequences/${SEQ}`);
      const steps = app.engine.getSequence(SEQ)!.steps;
      for (const step of steps) {
        const st = stats.find((s) => s.stepId === step.id);
        for (const col of ["sent", "delivered", "opened", "clicked", "booked", "unsubscribed"] as const) {
          const text = await page
            .locator(`td[data-step="${step.id}"][data-col="${col}"]`)
            .evaluate((td) => (td as unknown as { firstChild: { textContent: string } | null }).firstChild?.textContent ?? "");
          expect(Number(text.replace(/,/g, "")), `${step.id} ${col}`).toBe(st?.[col] ?? 0);
        }
      }
      expect(stats.find((s) => s.stepId === steps[0]!.id)).toMatchObject({ sent: 5, delivered: 5, opened: 3, clicked: 1 });
      await shoot(page, shots, "course", [...ALL]);

      // Preview a step: the HTML in a sandboxed frame, and the text part.
      await page.getByRole("link", { name: steps[1]!.id, exact: true }).click();
      await page.waitForURL(new RegExp(`/admin/sequences/${SEQ}/steps/${steps[1]!.id}$`));
      const frame = page.frameLocator("iframe.preview");
      await expect.poll(async () => ((await frame.locator("body").textContent()) ?? "").length).toBeGreaterThan(100);
      expect(await page.locator("pre.text").textContent()).toContain("Sam");
      await shoot(page, shots, "preview", [ALL[0], ALL[3]]);

      // Find a subscriber by name and read the timeline.
      await page.getByRole("link", { name: "Subscribers" }).click();
      await page.getByLabel("Email or name").fill("cleo");
      await page.getByRole("button", { name: "Search" }).click();
      await page.getByRole("link", { name: "cleo@example.com" }).click();
      const timeline = page.locator("#timeline");
      for (const kind of ["signed_up", "enrolled", "sent", "delivered", "opened"])
        await expect.poll(() => timeline.locator(`li[data-kind="${kind}"]`).count()).toBeGreaterThan(0);
      await shoot(page, shots, "subscriber", [ALL[0], ALL[3]]);

      // Newsletters: open the issue (preview in its frame), schedule it at 09:00 each reader's
      // time on a day that has already reached 09:00 in London, choose "the next day", read its status.
      await page.getByRole("link", { name: "Newsletters", exact: true }).click();
      await page.waitForURL(`${base}/admin/newsletters`);
      expect(await page.locator(`tr[data-issue="${ISSUE}"] td[data-col="status"]`).textContent()).toBe("not scheduled");
      await shoot(page, shots, "newsletters", [...ALL]);
      await page.getByRole("link", { name: "Two ways to ease outer hip pain at home" }).click();
      await page.waitForURL(`${base}/admin/newsletters/${ISSUE}`);
      await expect.poll(async () => ((await page.frameLocator("iframe.preview").locator("body").textContent()) ?? "").length).toBeGreaterThan(100);
      expect(await page.locator('[data-count="audience"]').textContent()).toBe("3");
      await shoot(page, shots, "newsletter", [...ALL]);
      await page.getByLabel("Local time").fill("09:00");
      await page.getByLabel("Date", { exact: true }).fill("2026-03-09");
      await page.locator('form:has(input[name="mode"][value="local"])').getByRole("button", { name: "Schedule" }).click();
      await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("09:00 on 2026-03-09 has already passed for some readers");
      expect(await page.locator("#passed li").allTextContents()).toEqual(["Europe/London"]);
      await shoot(page, shots, "newsletter-passed", [ALL[0], ALL[3]]);
      await page.getByRole("button", { name: "Their 09:00 the next day" }).click();
      await page.waitForURL(`${base}/admin/newsletters/${ISSUE}?done=scheduled`);
      expect(await page.locator("#issue-status").textContent()).toBe("scheduled");
      expect(await page.locator("#issue-schedule").textContent()).toContain("at 09:00 on 2026-03-09 in each reader's own time zone");
      const nlStatus = await runDrip(["newsletter", "status", ISSUE, "--json"], { env, cwd: dir, now });
      expect(nlStatus.code).toBe(0);
      expect(JSON.parse(nlStatus.out)).toMatchObject({ issue: { status: "scheduled" }, report: { recipients: 3, pending: 3 } });
      expect(await page.locator('[data-report="pending"]').textContent()).toBe("3");
      await shoot(page, shots, "newsletter-scheduled", [ALL[0], ALL[3]]);
      await page.getByRole("link", { name: "Newsletters", exact: true }).click();
      await page.waitForURL(`${base}/admin/newsletters`);
      expect(await page.locator(`tr[data-issue="${ISSUE}"] td[data-col="status"]`).textContent()).toBe("scheduled");

      // Sign out: back to the sign-in page, and the old cookie is dead on the server.
      const session = (await context.cookies()).find((c) => c.name === "drip_staff")!.value;
      await page.getByRole("button", { name: /Sign out/ }).click();
      await page.waitForURL(`${base}/admin/signin`);
      await shoot(page, shots, "signin", [ALL[0], ALL[3]]);
      const replay = await fetch(`${base}/admin`, { headers: { cookie: `drip_staff=${session}` }, redirect: "manual" });
      expect(replay.status).toBe(303);
      expect(replay.headers.get("location")).toMatch(/^\/admin\/signin/);

      expect(problems).toEqual([]);
      expect(outside).toEqual([]);
    },
  );
});
