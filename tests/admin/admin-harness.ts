/**
 * Signing staff in to /admin in route tests: a staff account, a one-time link, its page's
 * form token, the POST that starts a session, and the session's cookie for later requests.
 */
import { issueSignInLink } from "../../src/admin/auth.ts";
import type { StaffRole } from "../../src/store/types.ts";
import { BASE, type Harness, form, hidden } from "../http/harness.ts";

export const COOKIE = "__Host-drip_staff"; // BASE is https

export interface Session {
  cookie: string;
  /** A form token for this session (from a page it was shown). */
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, fields?: Record<string, string>, opts?: { csrf?: string | null }): Promise<Response>;
}

export function cookieFrom(res: Response): string | null {
  const set = res.headers.getSetCookie?.() ?? [];
  for (const c of set) {
    const m = new RegExp(`^${COOKIE.replace(/[-_]/g, "\\$&")}=([^;]*)`).exec(c);
    if (m?.[1]) return `${COOKIE}=${m[1]}`;
  }
  return null;
}

/** A fresh link for `email` (the account is created with `role` first). */
export async function linkFor(h: Harness, email: string, role: StaffRole): Promise<string> {
  const { staff } = await h.app.store.putStaff(email, role, h.now());
  const { url } = await issueSignInLink(h.app.store, staff, BASE, h.now());
  return url.slice(BASE.length);
}

/** Open the link, press its button (with `extra` fields, e.g. a TOTP code): the answer to the POST. */
export async function pressLink(h: Harness, path: string, extra: Record<string, string> = {}, ip?: string): Promise<Response> {
  const page = await h.req(path, undefined, ip);
  const body = await page.text();
  if (page.status !== 200) return new Response(body, { status: page.status, headers: page.headers });
  return h.req(path, form({ csrf: hidden(body, "csrf"), ...extra }), ip);
}

export function sessionOf(h: Harness, cookie: string, csrf: string): Session {
  const s: Session = {
    cookie,
    csrf,
    get: (path) => h.req(path, { headers: { cookie } }),
    post: (path, fields = {}, opts = {}) => {
      const token = opts.csrf === undefined ? s.csrf : opts.csrf;
      return h.req(path, form({ ...(token === null ? {} : { csrf: token }), ...fields }, { cookie }));
    },
  };
  return s;
}

export async function signIn(h: Harness, email: string, role: StaffRole): Promise<Session> {
  const res = await pressLink(h, await linkFor(h, email, role));
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}: ${await res.text()}`);
  const cookie = cookieFrom(res);
  if (!cookie) throw new Error("sign-in set no session cookie");
  const overview = await h.req("/admin/sequences", { headers: { cookie } });
  return sessionOf(h, cookie, hidden(await overview.text(), "csrf"));
}
