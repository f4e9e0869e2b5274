/** Request hardening: CSRF tokens for the pages' forms, an origin check, and per-IP rate limits. */
import { mac, safeEqual } from "../tokens.ts";

const HOUR = 3_600_000;

/**
 * Stateless CSRF token for a form: HMAC over (scope, issue hour). `scope` binds it to the
 * page (e.g. the subscriber's link token), so a token from one page cannot drive another.
 */
const tokenForHour = (secret: string, scope: string, hour: string) => `${hour}.${mac(secret, `csrf:${scope}:${hour}`)}`;

export function csrfToken(secret: string, scope: string, now: Date): string {
  return tokenForHour(secret, scope, Math.floor(now.getTime() / HOUR).toString(36));
}

/** Valid for the hour it was issued in and the next two (a form left open a while still works). */
export function checkCsrf(secret: string, scope: string, token: unknown, now: Date): boolean {
  if (typeof token !== "string") return false;
  const [hour] = token.split(".");
  if (!hour || !/^[0-9a-z]+$/.test(hour)) return false;
  const age = Math.floor(now.getTime() / HOUR) - Number.parseInt(hour, 36);
  if (age < 0 || age > 2) return false;
  return safeEqual(token, tokenForHour(secret, scope, hour));
}

/** A browser's Origin header, when sent, must be this site (defence in depth beside the token). */
export function sameOrigin(origin: string | undefined, allowed: readonly string[]): boolean {
  if (!origin) return true;
  return allowed.includes(origin);
}

/** This site's origins: DRIP_PUBLIC_URL's, and the one the request was addressed to (reached directly). */
export function siteOrigins(requestUrl: string, publicUrl: string): string[] {
  return [new URL(publicUrl).origin, new URL(requestUrl).origin];
}

/**
 * Is this form post genuine: a valid token for `scope`, and (when the browser says) from this
 * site, reached either through DRIP_PUBLIC_URL or directly? Every page form checks it.
 */
export function genuineForm(
  req: { url: string; origin: string | undefined },
  secret: string,
  publicUrl: string,
  scope: string,
  token: unknown,
  now: Date,
): boolean {
  return checkCsrf(secret, scope, token, now) && sameOrigin(req.origin, siteOrigins(req.url, publicUrl));
}

/** Fixed-window counter per key, in memory (one process serves HTTP). Bounded in size. */
export class WindowLimiter {
  private counts = new Map<string, { start: number; n: number }>();
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Count one hit; false when the key is over its limit in the current window. */
  hit(key: string, now: number): boolean {
    if (!Number.isFinite(this.max)) return true;
    let c = this.counts.get(key);
    if (!c || now - c.start >= this.windowMs) {
      if (this.counts.size >= this.maxKeys) this.sweep(now);
      c = { start: now, n: 0 };
      this.counts.set(key, c);
    }
    c.n++;
    return c.n <= this.max;
  }

  private sweep(now: number) {
    for (const [k, c] of this.counts) if (now - c.start >= this.windowMs) this.counts.delete(k);
    if (this.counts.size >= this.maxKeys) this.counts.clear();
  }
}
