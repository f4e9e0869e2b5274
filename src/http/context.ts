/** What the HTTP routes need, passed in once (no globals, no clock reads below this). */
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import type { Engine } from "../engine/engine.ts";
import type { FormSource } from "../forms/define.ts";
import type { Transport } from "../delivery/transport.ts";
import type { Lifecycle } from "../lifecycle/lifecycle.ts";
import type { Newsletters } from "../newsletters/service.ts";
import { coerceError, isDripError } from "../errors.ts";
import type { Store } from "../store/types.ts";
import { type Html, html, page } from "./html.ts";
import { genuineForm, sameOrigin, siteOrigins } from "./security.ts";
import type { SequencesIndex } from "../sequences/site.ts";
import { type TrustProxy, clientAddress } from "./proxy.ts";

export interface HttpDeps {
  store: Store;
  engine: Engine;
  /** Every subscriber change goes through here. */
  lifecycle: Lifecycle;
  /** Signs link, confirmation and CSRF tokens. */
  secret: string;
  /** DRIP_PUBLIC_URL: where links in emails point (its origin is the allowed form origin). */
  publicUrl: string;
  /** DRIP_CONTACT_EMAIL: the address pages give readers to write to (none: "write to us" has no address). */
  contactEmail?: string;
  webhookSecret?: string;
  apiKey?: string;
  /** The clock, read at the HTTP edge. */
  now: () => Date;
  /** When the scheduler last finished a tick (for /healthz). */
  lastTick?: () => Date | null;
  /** Called after a signup queued a confirmation (start sends it at once, not on the next tick). */
  afterSignup?: () => void;
  /** Signups per IP per 10 minutes (default 30; Infinity turns it off, e.g. for benchmarks). */
  signupsPerIp?: number;
  /** Where error lines go (default console.error): one line each, link tokens redacted. */
  log?: (line: string) => void;
  /** DEBUG includes drip: error lines carry the stack too. */
  debug?: boolean;
  /** The wait between retries on a busy database (default a timer; tests inject their own). */
  sleep?: (ms: number) => Promise<void>;
  /** How long a one-click unsubscribe retries a busy database before answering 503 (default 20 s). */
  busyRetryMs?: number;
  /** The signup forms in force (`/` is the default one, `/f/<id>` each). */
  forms?: () => FormSource;
  /** Origins whose pages may post a form snippet (DRIP_SITE_URL's and DRIP_FORM_ORIGINS). */
  formOrigins?: readonly string[];
  /** Where the dashboard's sign-in emails go (the configured transport) and their From address. */
  transport?: Transport;
  from?: string;
  /** sequences/index.ts: the clinic's name and zone when the default sequence cannot load. */
  site?: SequencesIndex | null;
  /** DRIP_TRUST_PROXY: whose forwarded headers are believed (null: none, the socket's address counts). */
  trustProxy?: TrustProxy | null;
  /** /healthz answers 503 when no tick finished for this long (with lastTick; default 5 minutes). */
  tickStallMs?: number;
  /** When the server started (ticks are stalled if none finished this long after it). */
  startedAt?: Date;
  /** Newsletter operations (the same service `drip newsletter …` calls), for the dashboard. */
  newsletters?: Newsletters;
  /** Something came due now (a newsletter sent from the dashboard): the scheduler ticks at once. */
  wake?: () => void;
}

export type Env = { Variables: { deps: HttpDeps } };

export function organization(deps: HttpDeps): string {
  return deps.engine.defaultSequence?.sender.organization ?? deps.site?.organization ?? "drip";
}

/** "write to <the contact address>" as a mailto link, or "write to us" when none is configured. */
export function writeTo(deps: HttpDeps, opts: { sentenceStart?: boolean } = {}): Html {
  const verb = opts.sentenceStart ? "Write" : "write";
  return deps.contactEmail ? html`${verb} to <a href="mailto:${deps.contactEmail}">${deps.contactEmail}</a>` : html`${verb} to us`;
}

/** An HTML page with a status. */
export function respondPage(c: Context<Env>, status: number, title: string, body: Html, script?: string) {
  return c.html(page({ title, organization: organization(c.get("deps")), body, script }), status as 200);
}

/** The client's address: the socket's, never a header a client can set. */
export function clientIp(c: Context): string {
  let socket: string;
  try {
    socket = getConnInfo(c).remote.address ?? "unknown";
  } catch {
    socket = "unknown"; // app.request() in tests has no socket
  }
  // Behind a proxy, the forwarded address counts only as far as DRIP_TRUST_PROXY vouches for it.
  const trust = (c.get("deps") as HttpDeps | undefined)?.trustProxy ?? null;
  return clientAddress(socket, { xff: c.req.header("x-forwarded-for"), forwarded: c.req.header("forwarded") }, trust);
}

/** See genuineForm: the token for `scope` plus the Origin check, for this request. */
export function isGenuineForm(c: Context<Env>, scope: string, token: unknown): boolean {
  const deps = c.get("deps");
  return genuineForm({ url: c.req.url, origin: c.req.header("origin") }, deps.secret, deps.publicUrl, scope, token, deps.now());
}

/** The body's media type, lower case, without parameters ("" when there is none). */
export function mediaType(c: Context): string {
  return (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Is the body declared as JSON? Only `application/json` itself counts: browsers send it
 * cross-site only after a CORS preflight, which drip never answers. `text/plain` (with
 * whatever parameters) is a "simple" type any page can post without asking.
 */
export const isJsonBody = (c: Context): boolean => mediaType(c) === "application/json";

/** Is the request's Origin, when sent, this site? (Non-browser clients send none.) */
export function fromThisSite(c: Context<Env>): boolean {
  return sameOrigin(c.req.header("origin"), siteOrigins(c.req.url, c.get("deps").publicUrl));
}

/** Should the answer be JSON? Only the format of the answer: never a reason to skip a check. */
export function wantsJson(c: Context): boolean {
  return isJsonBody(c) || (c.req.header("accept") ?? "").startsWith("application/json");
}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Run `fn`, and while the database is busy (another process holds the write lock longer than
 * busy_timeout) wait and run it again: 0.1 s, doubling, at most 2 s apart, until `busyRetryMs`
 * (default 20 s) has passed by the deps' clock or by the waits themselves. Then the busy
 * DripError goes up, and the app answers 503 with Retry-After. Any other error goes up at once.
 */
export async function retryWhileBusy<T>(deps: HttpDeps, fn: () => Promise<T>): Promise<T> {
  const bound = deps.busyRetryMs ?? 20_000;
  const sleep = deps.sleep ?? timer;
  const start = deps.now().getTime();
  let slept = 0;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await fn();
    } catch (raw) {
      const err = coerceError(raw);
      if (!isDripError(err) || err.code !== "busy") throw raw;
      const left = bound - Math.max(deps.now().getTime() - start, slept);
      if (left <= 0) throw err;
      const wait = Math.min(delay, left);
      await sleep(wait);
      slept += wait;
    }
  }
}
