/**
 * The HTTP app (Hono): signup and confirmation, unsubscribe and preferences, provider
 * webhooks, the booking events API, and /healthz. Route tests run it through app.request().
 * Every error is a page or JSON with a status, never a stack trace.
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { coerceError, httpStatusFor, isDripError } from "../errors.ts";
import { type Env, type HttpDeps, respondPage, wantsJson, writeTo } from "./context.ts";
import { hookRoutes } from "./hooks.ts";
import { html } from "./html.ts";
import { manageRoutes } from "./manage.ts";
import { archiveRoutes } from "./archive.ts";
import { signupRoutes } from "./signup.ts";
import { TZ_SCRIPT_HASH } from "./zones.ts";
import { adminRoutes } from "../admin/routes.ts";

export type { HttpDeps } from "./context.ts";

/** Routes whose URL carries a link token (/confirm/resend too: it answers the token page's form). */
const TOKEN_PATH = /^\/(?:confirm|unsubscribe|preferences)\//;

/** A link token: `<subscriber id>[.<expiry>].<32-character MAC>` (see src/tokens.ts). */
const TOKEN = /[A-Za-z0-9_-]+(?:\.[0-9a-z]+)?\.[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])/g;

const TOKEN_SEGMENT = /\/(confirm|unsubscribe|preferences)\/(?!resend(?![^/?#\s]))[^/?#\s]+/g;

/**
 * A request path for the log: /unsubscribe/<token> becomes /unsubscribe/[token], whatever the
 * segment holds, and control characters (Hono decodes %0A) are escaped back, so one line stays one line.
 */
export const redactPath = (path: string) =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is escaped here (one log line per request)
  path.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (ch) => encodeURIComponent(ch)).replace(TOKEN_SEGMENT, "/$1/[token]");

/** Log lines never carry link tokens: token-shaped strings become [token], and so do token paths. */
export const redactTokens = (text: string) => text.replace(TOKEN, "[token]").replace(TOKEN_SEGMENT, "/$1/[token]");

/** Seconds a client should wait after a 503 for a busy database. */
const RETRY_AFTER_S = 60;

/** Forms and JSON bodies: 16 KiB at most. */
const FORM_LIMIT = 16 * 1024;

/** The dashboard's CSV upload: its own body limit (src/admin/routes.ts). */
const ADMIN_IMPORT = "/admin/subscribers/import";

const isMachineRoute = (path: string) => path.startsWith("/api/") || path.startsWith("/webhooks/") || path === "/healthz";

export function createHttpApp(deps: HttpDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use("*", async (c, next) => {
    c.set("deps", deps);
    await next();
  });
  app.use(
    "*",
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        styleSrc: ["'unsafe-inline'"],
        scriptSrc: [`'${TZ_SCRIPT_HASH}'`],
        imgSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts,
      // which the origin check refuses; same-origin still keeps link tokens from other sites.
      referrerPolicy: "same-origin",
      // A route that sets its own policy keeps it (the dashboard's, under /admin).
      overwrite: false,
    }),
  );
  // A URL with a token in it is a key: no browser cache or proxy may keep the page or the
  // answer to its form (Referrer-Policy above keeps the token from other sites).
  // On the response's own headers, not c.header(): after the route answered, c.header() rebuilds
  // the answer as a web Response with a stream body (on @hono/node-server, a quarter of a one-click
  // unsubscribe's CPU); the headers of the answer as it is are set in place (as secureHeaders does).
  app.use("*", async (c, next) => {
    await next();
    if (TOKEN_PATH.test(c.req.path)) c.res.headers.set("Cache-Control", "no-store");
  });
  // Forms and JSON bodies are small; webhook payloads can carry a little more.
  app.use("/webhooks/*", bodyLimit({ maxSize: 256 * 1024, onError: (c) => c.json({ error: "body too large (256 KiB at most)" }, 413) }));
  const formLimitError = (c2: Context<Env>) =>
    isMachineRoute(c2.req.path) || wantsJson(c2)
      ? c2.json({ error: "body too large (16 KiB at most)" }, 413)
      : respondPage(c2, 413, "Too large", html`<h1>That was too much</h1><p>The form sent more data than we accept.</p>`);
  const formLimit = bodyLimit({ maxSize: FORM_LIMIT, onError: formLimitError });
  app.use("*", async (c, next) => {
    if (c.req.path.startsWith("/webhooks/") || c.req.path === ADMIN_IMPORT) return next(); // limits of their own
    // What bodyLimit decides, without touching c.req.raw.body: on @hono/node-server that builds a
    // web Request and stream around the socket for every request (a third of a one-click
    // unsubscribe's CPU), where the route reads the body straight from the socket. GET and HEAD
    // carry no body; a declared length is checked as declared (Node's parser holds the body to it).
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const length = c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined && /^\d+$/.test(length.trim())) {
      return Number(length.trim()) > FORM_LIMIT ? formLimitError(c) : next();
    }
    return formLimit(c, next);
  });

  /*
   * 503 when the store does not answer or ticks have stalled (nothing is being sent);
   * 200 "degraded" with the reason when the default sequence is not loaded (signups wait).
   */
  app.get("/healthz", async (c) => {
    const lastTick = deps.lastTick?.() ?? null;
    try {
      await deps.store.getMeta("secret");
    } catch {
      return c.json({ ok: false, status: "unhealthy", error: "database unavailable", lastTick: lastTick?.toISOString() ?? null }, 503);
    }
    if (deps.lastTick && deps.startedAt) {
      const since = lastTick ?? deps.startedAt;
      const stallMs = deps.tickStallMs ?? 5 * 60_000;
      const now = deps.now();
      if (now.getTime() - since.getTime() > stallMs) {
        const minutes = Math.round((now.getTime() - since.getTime()) / 60_000);
        const error = lastTick
          ? `ticks stalled: the last tick finished ${minutes} minutes ago`
          : `ticks stalled: no tick has finished since the start ${minutes} minutes ago`;
        return c.json({ ok: false, status: "unhealthy", error, lastTick: lastTick?.toISOString() ?? null }, 503);
      }
    }
    const problem = deps.engine.defaultSequenceProblem();
    if (problem) return c.json({ ok: true, status: "degraded", reason: problem, lastTick: lastTick?.toISOString() ?? null });
    return c.json({ ok: true, status: "ok", lastTick: lastTick?.toISOString() ?? null });
  });
  app.route("/", signupRoutes());
  app.route("/", manageRoutes());
  app.route("/", hookRoutes());
  app.route("/", archiveRoutes());
  app.route("/", adminRoutes() as unknown as Hono<Env>);

  app.notFound((c) =>
    isMachineRoute(c.req.path) || wantsJson(c)
      ? c.json({ error: "not found" }, 404)
      : respondPage(
          c,
          404,
          "Not found",
          html`<h1>Page not found</h1><p>There is nothing at this address. <a href="/">Go to the signup page</a>, or ${writeTo(deps)} if you were looking for something.</p>`,
        ),
  );
  app.onError((raw, c) => {
    if (raw instanceof HTTPException) return raw.getResponse();
    const err = coerceError(raw);
    // Logged for the operator in one line, link tokens redacted; the stack only with DEBUG=drip.
    const message = err instanceof Error ? err.message : String(err);
    const head = `${c.req.method} ${redactPath(c.req.path)}: ${redactTokens(message.replace(/\s*[\r\n]+\s*/g, " "))}`;
    const stack =
      deps.debug && err instanceof Error && err.stack
        ? `\n${err.stack}${isDripError(err) && err.cause instanceof Error && err.cause.stack ? `\ncaused by ${err.cause.stack}` : ""}`
        : "";
    (deps.log ?? console.error)(head + redactTokens(stack));
    // The visitor gets a status and a sentence, never internals.
    const machine = isMachineRoute(c.req.path) || wantsJson(c);
    const status = isDripError(err) ? httpStatusFor(err.code) : 500;
    if (isDripError(err) && err.code === "busy") {
      c.header("Retry-After", String(RETRY_AFTER_S));
      return machine
        ? c.json({ error: "the database is busy: try again in a minute" }, 503)
        : respondPage(
            c,
            503,
            "Please try again",
            html`<h1>Please try again in a minute</h1><p>We're busy and could not finish that just now. Please try again in a minute.</p>`,
          );
    }
    if (isDripError(err) && status < 500) {
      return machine
        ? c.json({ error: err.message }, status as 400)
        : respondPage(
            c,
            status,
            "That didn't work",
            html`<h1>That didn't work</h1><p>${err.message}</p><p class="hint">Stuck? ${writeTo(deps, { sentenceStart: true })}.</p>`,
          );
    }
    return machine
      ? c.json({ error: "internal error" }, 500)
      : respondPage(
          c,
          500,
          "Something went wrong",
          html`<h1>Something went wrong</h1><p>Please try again in a moment. If it keeps happening, ${writeTo(deps)}.</p>`,
        );
  });
  return app;
}
