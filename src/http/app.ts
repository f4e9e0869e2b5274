/**
 * The HTTP app (Hono): signup and confirmation, unsubscribe and preferences, provider
 * webhooks, the booking events API, and /healthz. Route tests run it through app.request().
 * Every error is a page or JSON with a status, never a stack trace.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import { type Env, type HttpDeps, respondPage, wantsJson } from "./context.ts";
import { hookRoutes } from "./hooks.ts";
import { TZ_SCRIPT_HASH, html } from "./html.ts";
import { manageRoutes } from "./manage.ts";
import { signupRoutes } from "./signup.ts";

export type { HttpDeps } from "./context.ts";

/** Routes whose URL carries a link token (/confirm/resend too: it answers the token page's form). */
const TOKEN_PATH = /^\/(?:confirm|unsubscribe|preferences)\//;

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
    }),
  );
  // A URL with a token in it is a key: no browser cache or proxy may keep the page or the
  // answer to its form (Referrer-Policy above keeps the token from other sites).
  app.use("*", async (c, next) => {
    await next();
    if (TOKEN_PATH.test(c.req.path)) c.header("Cache-Control", "no-store");
  });
  // Forms and JSON bodies are small; webhook payloads can carry a little more.
  app.use("/webhooks/*", bodyLimit({ maxSize: 256 * 1024, onError: (c) => c.json({ error: "body too large (256 KiB at most)" }, 413) }));
  app.use("*", async (c, next) => {
    if (c.req.path.startsWith("/webhooks/")) return next();
    return bodyLimit({
      maxSize: 16 * 1024,
      onError: (c2) => (isMachineRoute(c2.req.path) || wantsJson(c2) ? c2.json({ error: "body too large (16 KiB at most)" }, 413) : respondPage(c2, 413, "Too large", html`<h1>That was too much</h1><p>The form sent more data than we accept.</p>`)),
    })(c, next);
  });

  app.get("/healthz", async (c) => {
    try {
      await deps.store.getMeta("secret");
      return c.json({ ok: true, lastTick: deps.lastTick?.()?.toISOString() ?? null });
    } catch {
      return c.json({ ok: false, error: "database unavailable" }, 503);
    }
  });
  app.route("/", signupRoutes());
  app.route("/", manageRoutes());
  app.route("/", hookRoutes());

  app.notFound((c) =>
    isMachineRoute(c.req.path) || wantsJson(c) ? c.json({ error: "not found" }, 404) : respondPage(c, 404, "Not found", html`<h1>Page not found</h1><p><a href="/">Go to the signup page</a>.</p>`),
  );
  app.onError((err, c) => {
    // Logged for the operator; the visitor gets a sentence, never the stack.
    console.error(`${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return isMachineRoute(c.req.path) || wantsJson(c)
      ? c.json({ error: "internal error" }, 500)
      : respondPage(c, 500, "Something went wrong", html`<h1>Something went wrong</h1><p>Please try again in a moment.</p>`);
  });
  return app;
}
