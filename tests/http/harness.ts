/**
 * The HTTP tests' world: the real app (createApp over a SQLite file in a temp dir, the real
 * sequences, the outbox transport), the Hono app driven through app.request() with a clock
 * the test moves, a client IP passed the way @hono/node-server passes it, and outbox parsing.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { ParsedMail } from "mailparser";
import { type App, createApp, httpDeps } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import type { Transport } from "../../src/delivery/transport.ts";
import { type HttpDeps, createHttpApp } from "../../src/http/app.ts";
import { readOutbox, tempDir } from "../support/engine-helpers.ts";

export const BASE = "https://drip.example.com";
export const SECRET = "http-test-secret-".padEnd(48, "x");
export const API_KEY = "api-key-for-tests-0123456789";
/** Resend's webhook secrets look like this: whsec_ + base64 of the key bytes. */
export const WEBHOOK_SECRET = `whsec_${Buffer.from("a webhook key of 32 bytes, fixed").toString("base64")}`;
/** Monday 9 March 2026, 10:00 UTC = 10:00 in London: inside the course's send window. */
export const START = new Date("2026-03-09T10:00:00Z");
export const DAY = 24 * 3_600_000;

export interface Harness {
  dir: string;
  outboxDir: string;
  env: Record<string, string>;
  app: App;
  http: ReturnType<typeof createHttpApp>;
  now(): Date;
  setNow(d: Date): void;
  advance(ms: number): Date;
  /** app.request() from `ip` (the socket address the server would see). */
  req(path: string, init?: RequestInit, ip?: string): Promise<Response>;
  tick(at?: Date): ReturnType<App["engine"]["tick"]>;
  files(prefix?: string): string[];
  mails(prefix?: string): Promise<{ file: string; mail: ParsedMail }[]>;
  close(): Promise<void>;
}

/** `http` overrides or adds HTTP dependencies (a log sink, an injected sleep, ...). */
export async function harness(
  opts: { signupsPerIp?: number; transport?: Transport; env?: Record<string, string>; http?: Partial<HttpDeps> } = {},
): Promise<Harness> {
  const dir = tempDir("drip-http-");
  const outboxDir = join(dir, "outbox");
  const env: Record<string, string> = {
    DATABASE_URL: `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: outboxDir,
    DRIP_PUBLIC_URL: BASE,
    DRIP_SECRET: SECRET,
    RESEND_WEBHOOK_SECRET: WEBHOOK_SECRET,
    DRIP_API_KEY: API_KEY,
    ...opts.env,
  };
  const config = loadConfig(env);
  const app = await createApp(config, () => {}, opts.transport ? { transport: opts.transport } : {});
  let clock = START;
  const http = createHttpApp(
    httpDeps(app, {
      now: () => clock,
      signupsPerIp: opts.signupsPerIp,
      ...opts.http,
    }),
  );
  const files = (prefix = "") => {
    try {
      return readdirSync(outboxDir)
        .filter((f) => f.endsWith(".eml") && f.startsWith(prefix))
        .sort();
    } catch {
      return [];
    }
  };
  return {
    dir,
    outboxDir,
    env,
    app,
    http,
    now: () => clock,
    setNow: (d) => void (clock = d),
    advance: (ms) => (clock = new Date(clock.getTime() + ms)),
    req: async (path, init, ip = "203.0.113.7") =>
      http.request(path.startsWith("http") ? path : `${BASE}${path}`, init, {
        incoming: { socket: { remoteAddress: ip, remotePort: 40000, remoteFamily: "IPv4" } },
      }),
    tick: (at) => app.engine.tick(at ?? clock),
    files,
    mails: async (prefix = "") => (await readOutbox(outboxDir)).filter((m) => m.file.startsWith(prefix)),
    close: () => app.close(),
  };
}

export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

export const form = (fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
  body: new URLSearchParams(fields).toString(),
});

/** The value of a hidden input in a page (e.g. the csrf token). */
export function hidden(page: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(page);
  if (!m) throw new Error(`no hidden ${name} field in the page`);
  return m[1]!;
}

/** The confirmation link in a parsed confirmation email (from the HTML part's button). */
export function confirmLink(mail: ParsedMail): string {
  const m = /href="([^"]*\/confirm\/[^"]+)"/.exec(String(mail.html));
  if (!m) throw new Error("no confirmation link in the email");
  return m[1]!.replace(/&amp;/g, "&");
}

/** The List-Unsubscribe URL of a parsed email (mailparser puts List-* headers under "list"). */
export function unsubscribeUrl(mail: ParsedMail): string {
  const list = mail.headers.get("list") as { unsubscribe?: { url?: string } } | undefined;
  const url = list?.unsubscribe?.url;
  if (!url) throw new Error("no List-Unsubscribe URL in the email");
  return url;
}

/** Sign up over JSON and tick: returns the confirmation link from the newest confirmation email. */
export async function signUpAndGetLink(h: Harness, email: string, extra: Record<string, string> = {}): Promise<string> {
  const before = new Set(h.files("confirm-"));
  const res = await h.req("/subscribe", json({ email, name: "Ann", timezone: "Europe/London", ...extra }));
  if (res.status !== 200) throw new Error(`signup answered ${res.status}: ${await res.text()}`);
  await h.tick();
  const fresh = (await h.mails("confirm-")).filter((m) => !before.has(m.file));
  const mine = fresh.find((m) => m.mail.to && JSON.stringify(m.mail.to).includes(email));
  if (!mine) throw new Error(`no confirmation email for ${email}`);
  return confirmLink(mine.mail);
}

/**
 * Confirm as a reader does: open the link (a GET shows a button and changes nothing), then
 * press the button (a POST with the page's form token). Returns the answer to the POST, or
 * the GET's page when it has no button.
 */
export async function confirmVia(h: Harness, link: string): Promise<Response> {
  const page = await h.req(link);
  const body = await page.text();
  // No button (a bad, expired or spent link, or a reader already in): that page is the answer.
  if (page.status !== 200 || !body.includes('name="csrf"')) return new Response(body, { status: page.status, headers: page.headers });
  return h.req(link, form({ csrf: hidden(body, "csrf") }));
}

/** Sign up, confirm, and tick so the first step (the article) goes out; returns its parsed email. */
export async function activeReader(h: Harness, email: string): Promise<{ id: string; article: ParsedMail }> {
  const link = await signUpAndGetLink(h, email);
  const res = await confirmVia(h, link);
  if (res.status !== 200) throw new Error(`confirm answered ${res.status}`);
  await h.tick();
  const sub = await h.app.store.findSubscriberByEmail(email);
  const mails = await h.mails();
  const article = mails.find((m) => !m.file.startsWith("confirm-") && JSON.stringify(m.mail.to).includes(email));
  if (!sub || !article) throw new Error(`no article for ${email}`);
  return { id: sub.id, article: article.mail };
}

/** A page's HTML with the escaper's entities turned back into characters (for text matching). */
export async function pageText(res: Response): Promise<string> {
  return (await res.text())
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}
