/**
 * Every email drip sends (each course step and the confirmation, as real outbox files) in a
 * real Chromium: on a 375 px phone (mobile emulation, which honours the viewport meta tag as
 * phone mail apps do) its body is at most 375 px wide and its footer links are tap targets at
 * least 44 px tall; with its <style> stripped (as some mail apps do) its spacing is unchanged
 * and its design still light; screenshots at 375 and 1024 px land in
 * $TMPDIR/drip-email-screenshots for a person to look at. Needs /usr/bin/chromium (CI
 * installs Debian's).
 */
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCorpus, type CorpusEmail, EMAIL_NAMES } from "../support/email-corpus.ts";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`email browser tests skipped: ${CHROMIUM} is missing (CI installs Debian's chromium with apt)`);

const SHOTS = join(tmpdir(), "drip-email-screenshots");
const NAMES = EMAIL_NAMES;

let browser: Browser | undefined;
let corpus: CorpusEmail[] = [];
beforeAll(async () => {
  if (!haveChromium) return;
  corpus = await buildCorpus(tempDir("drip-email-browser-"));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  cleanupTempDirs();
});

const html = (name: string) => {
  const e = corpus.find((c) => c.name === name);
  if (!e) throw new Error(`no ${name} in the corpus`);
  return e.html;
};

/** A page showing one email, as a phone (375 px, mobile emulation) or a desktop (1024 px). */
async function open(name: string, device: "phone" | "desktop", opts: { colorScheme?: "light" | "dark"; stripStyles?: boolean } = {}): Promise<Page> {
  const context = await browser!.newContext({
    viewport: device === "phone" ? { width: 375, height: 812 } : { width: 1024, height: 800 },
    isMobile: device === "phone",
    hasTouch: device === "phone",
    deviceScaleFactor: device === "phone" ? 2 : 1,
    colorScheme: opts.colorScheme ?? "light",
  });
  const page = await context.newPage();
  // An email fetches nothing: any request is refused (and would show as a missing part).
  await page.route("**/*", (route) => route.abort());
  let source = html(name);
  if (opts.stripStyles) source = source.replace(/<style\b[\s\S]*?<\/style>/gi, "");
  await page.setContent(source, { waitUntil: "load" });
  return page;
}

const slug = (name: string) => name.replace(/\//g, "--");

describe.skipIf(!haveChromium)("every email in Chromium", () => {
  it("covers every email: each course step and the confirmation", () => {
    expect(corpus.map((c) => c.name).sort()).toEqual([...NAMES].sort());
  });

  it.each(NAMES)("%s: on a 375 px phone the body is at most 375 px wide, nothing scrolls sideways (screenshot)", async (name) => {
    const page = await open(name, "phone");
    const m = (await page.evaluate(
      "({ body: document.body.getBoundingClientRect().width, scroll: document.documentElement.scrollWidth, inner: window.innerWidth })",
    )) as { body: number; scroll: number; inner: number };
    await page.screenshot({ path: join(SHOTS, `${slug(name)}-375.png`), fullPage: true });
    await page.context().close();
    expect(m.inner, `${name}: the layout viewport`).toBe(375);
    expect(m.body, name).toBeLessThanOrEqual(375);
    expect(m.scroll, name).toBeLessThanOrEqual(375);
  });

  it.each(NAMES)("%s: at 1024 px the card is at most 600 px wide (screenshot)", async (name) => {
    const page = await open(name, "desktop");
    // The outermost white box around the title: the card.
    const widest = (await page.evaluate(`(() => {
      let card = 0;
      for (let el = document.querySelector("h1"); el; el = el.parentElement)
        if (getComputedStyle(el).backgroundColor === "rgb(255, 255, 255)") card = el.getBoundingClientRect().width;
      return card;
    })()`)) as number;
    await page.screenshot({ path: join(SHOTS, `${slug(name)}-1024.png`), fullPage: true });
    await page.context().close();
    expect(widest, `${name}: the white card`).toBeGreaterThan(500);
    expect(widest, `${name}: the white card`).toBeLessThanOrEqual(600);
  });

  it.each(NAMES)("%s: the footer links are tap targets at least 44 px tall on a phone", async (name) => {
    const page = await open(name, "phone");
    const heights = (await page.evaluate(`[...document.querySelectorAll("a")]
      .filter((a) => /^(Unsubscribe|Manage preferences)$/.test(a.textContent.trim()))
      .map((a) => ({ text: a.textContent.trim(), height: a.getBoundingClientRect().height }))`)) as { text: string; height: number }[];
    await page.context().close();
    expect(heights.map((h) => h.text)).toEqual(["Unsubscribe", "Manage preferences"]);
    for (const h of heights) expect(h.height, `${name}: ${h.text}`).toBeGreaterThanOrEqual(44);
  });

  it.each(NAMES)("%s: with <style> stripped, the spacing holds (height within 2%) and the design stays light, even in dark mode", async (name) => {
    const measure = async (stripStyles: boolean) => {
      const page = await open(name, "desktop", { stripStyles, colorScheme: "dark" });
      // The page height, the title's colour and the first background behind it (the card's).
      const m = (await page.evaluate(`(() => {
        const h1 = document.querySelector("h1");
        let background = "";
        for (let el = h1; el && !background; el = el.parentElement) {
          const bg = getComputedStyle(el).backgroundColor;
          if (bg !== "rgba(0, 0, 0, 0)") background = bg;
        }
        return { height: document.body.scrollHeight, text: getComputedStyle(h1).color, background };
      })()`)) as { height: number; text: string; background: string };
      if (stripStyles) await page.screenshot({ path: join(SHOTS, `${slug(name)}-1024-no-style-dark.png`), fullPage: true });
      await page.context().close();
      return m;
    };
    const styled = await measure(false);
    const stripped = await measure(true);
    expect(
      Math.abs(stripped.height - styled.height) / styled.height,
      `${name}: ${styled.height} px styled, ${stripped.height} px stripped`,
    ).toBeLessThanOrEqual(0.02);
    // Mail apps that ignore prefers-color-scheme (Gmail, Outlook for Windows) show this: the light design.
    expect(stripped.background, name).toBe("rgb(255, 255, 255)");
    expect(stripped.text, name).toBe("rgb(31, 42, 39)");
  });
});
