/**
 * The staff dashboard under /admin: server-rendered pages from the same Hono app. Sign-in by
 * one-time link (+ optional TOTP), server-side sessions, roles (owner > editor > viewer), a
 * CSRF token on every POST, an audit log of every staff action. Every subscriber change goes
 * through the lifecycle door; every number comes from the store's report queries (the same
 * ones `drip stats` and `drip status` print).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { stringify } from "csv-stringify/sync";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { DripError, coerceError, httpStatusFor, isDripError } from "../errors.ts";
import { type HttpDeps, clientIp, organization } from "../http/context.ts";
import { checkCsrf, csrfToken, sameOrigin, siteOrigins } from "../http/security.ts";
import { importCsv, readCsv } from "../lifecycle/import.ts";
import { EXPORT_COLUMNS, exportRows } from "../lifecycle/export-rows.ts";
import { SAMPLE_SUBSCRIBER } from "../sequences/check.ts";
import { simulate } from "../sequences/simulate.ts";
import type { Sequence, SubscriberFields } from "../sequences/types.ts";
import type { Staff, StaffRole, SubscriberStatus } from "../store/types.ts";
import { allows, checkTotp, issueSignInLink, startSession, tokenHash } from "./auth.ts";
import { AttemptLimiter } from "./limits.ts";
import { newsletterRoutes, subscriberTopicsCard, topicsOverviewCard } from "./newsletters.ts";
import { Html, adminPage, csrfField, html, n, pct, when } from "./views.ts";

export type AdminEnv = { Variables: { deps: HttpDeps; staff: Staff | null; sessionHash: string | null } };
export type C = Context<AdminEnv>;

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** The email preview frame: the email's own inline styles and images, no scripts, framed only by the dashboard. */
export const PREVIEW_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; font-src https: data:; frame-ancestors 'self'; base-uri 'none'";

const require = createRequire(import.meta.url);
const asset = (file: string) => readFileSync(new URL(`./assets/${file}`, import.meta.url), "utf8");
const ASSETS: Record<string, { type: string; body: () => string }> = {
  "admin.css": { type: "text/css; charset=utf-8", body: () => asset("admin.css") },
  "admin.js": { type: "text/javascript; charset=utf-8", body: () => asset("admin.js") },
  // Chart.js from node_modules (never a CDN): the UMD build defines the global Chart.
  "chart.js": { type: "text/javascript; charset=utf-8", body: () => readFileSync(join(dirname(require.resolve("chart.js")), "chart.umd.min.js"), "utf8") },
};

const STATUSES: readonly SubscriberStatus[] = ["pending", "active", "unsubscribed", "suppressed"];
const PAGE = 50;
const DAY = 86_400_000;

/** The end of `now`'s UTC day: today counts whole (what happened at `now` included). */
const endOfDay = (now: Date) => new Date(Math.floor(now.getTime() / DAY) * DAY + DAY);

const cookieName = (deps: HttpDeps) => (deps.publicUrl.startsWith("https:") ? "__Host-drip_staff" : "drip_staff");

/** Everything a page needs to know about who is looking. */
export function csrfFor(c: C): string {
  const deps = c.get("deps");
  return csrfToken(deps.secret, `staff:${c.get("sessionHash")}`, deps.now());
}

export function render(c: C, status: number, title: string, body: Html, opts: { section?: string; charts?: boolean } = {}) {
  const deps = c.get("deps");
  const staff = c.get("staff");
  return c.html(adminPage({ title, organization: organization(deps), staff, csrf: staff ? csrfFor(c) : undefined, body, ...opts }), status as 200);
}

export const refuse = (c: C, status: number, title: string, sentence: string) => render(c, status, title, html`<h1>${title}</h1><p>${sentence}</p>`);

/** Role gate: a signed-in staff member below `role` gets 403. */
export const need =
  (role: StaffRole): MiddlewareHandler<AdminEnv> =>
  async (c, next) => {
    const staff = c.get("staff");
    if (!staff || !allows(staff.role, role))
      return refuse(c, 403, "Not allowed", `This needs the ${role} role; you are signed in as ${staff?.role ?? "nobody"}.`);
    await next();
  };

export async function audit(c: C, action: string, target: string | null, detail?: string | null) {
  const deps = c.get("deps");
  const staff = c.get("staff")!;
  await deps.store.appendAudit({ at: deps.now(), staffId: staff.id, staffEmail: staff.email, action, target, detail: detail ?? null });
}

export async function formField(c: C, name: string): Promise<string> {
  const body = await c.req.parseBody();
  const v = body[name];
  return typeof v === "string" ? v : "";
}

function isPublic(path: string) {
  return path === "/admin/signin" || path.startsWith("/admin/signin/") || path.startsWith("/admin/assets/");
}

/** A step's results, one row per step in the sequence's order (numbers from stepStats and stepQueue). */
async function funnel(deps: HttpDeps, seq: Sequence) {
  const now = deps.now();
  const stats = await deps.store.stepStats(seq.id);
  const queue = await deps.store.stepQueue(seq.id, new Date(now.getTime() + DAY));
  return seq.steps.map((step, i) => {
    const s = stats.find((r) => r.stepId === step.id);
    const q = queue.find((r) => r.stepId === step.id);
    return {
      index: i + 1,
      step,
      waiting: q?.waiting ?? 0,
      dueSoon: q?.dueSoon ?? 0,
      sent: s?.sent ?? 0,
      delivered: s?.delivered ?? 0,
      opened: s?.opened ?? 0,
      clicked: s?.clicked ?? 0,
      booked: s?.booked ?? 0,
      unsubscribed: s?.unsubscribed ?? 0,
      bounced: s?.bounced ?? 0,
      complained: s?.complained ?? 0,
    };
  });
}

function chart(id: string, label: string, spec: { labels: string[]; series: { label: string; data: number[] }[] }): Html {
  // The data travels as JSON in a non-executable script element; admin.js draws it. The table is the accessible version.
  const json = JSON.stringify(spec).replace(/</g, "\\u003c");
  return html`<div class="chart"><canvas id="${id}" role="img" aria-label="${label}"></canvas></div><script type="application/json" class="chart-data" data-for="${id}">${new Html(json)}</script>`;
}

/** Stable per loaded definition set: changes when `drip start` reloads sequences or templates. */
const versions = new WeakMap<object, number>();
let nextVersion = 1;
function sequencesVersion(deps: HttpDeps): string {
  return deps.engine
    .sequenceIds()
    .map((id) => {
      const s = deps.engine.getSequence(id)!;
      let v = versions.get(s);
      if (v === undefined) versions.set(s, (v = nextVersion++));
      return v;
    })
    .join(".");
}

export function validZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return tz.length > 0;
  } catch {
    return false;
  }
}

export function adminRoutes(): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  const wrong = new AttemptLimiter(10, 60_000);
  const requests = new AttemptLimiter(10, 60_000);

  app.use("/admin/*", async (c, next) => {
    await next();
    // On the answer's own headers: c.header() after the route answered rebuilds the answer as a
    // web Response with a stream body (see src/http/app.ts).
    if (!c.res.headers.get("Content-Security-Policy")?.includes("frame-ancestors 'self'")) c.res.headers.set("Content-Security-Policy", CSP);
    if (!c.req.path.startsWith("/admin/assets/")) c.res.headers.set("Cache-Control", "no-store");
  });

  // Who is signed in (a session row, not a signed cookie: revocable at once).
  const session: MiddlewareHandler<AdminEnv> = async (c, next) => {
    const deps = c.get("deps");
    const cookie = getCookie(c, cookieName(deps));
    const hash = cookie ? tokenHash(cookie) : null;
    const staff = hash ? await deps.store.getSession(hash, deps.now()) : null;
    c.set("staff", staff);
    c.set("sessionHash", staff ? hash : null);
    if (isPublic(c.req.path)) return next();
    if (!staff) return c.redirect(`/admin/signin${c.req.method === "GET" ? `?next=${encodeURIComponent(c.req.path)}` : ""}`, 303);
    if (c.req.method === "POST") {
      const header = c.req.header("x-csrf-token");
      const token = header ?? (await formField(c, "csrf"));
      const origin = sameOrigin(c.req.header("origin"), siteOrigins(c.req.url, deps.publicUrl));
      if (!origin || !checkCsrf(deps.secret, `staff:${hash}`, token, deps.now()))
        return refuse(c, 403, "Form expired", "This form's security token is missing or too old. Go back, reload the page and try again.");
    }
    return next();
  };
  // The CSV import may be large (its own limit); every other form is small.
  app.use("/admin/subscribers/import", bodyLimit({ maxSize: 20 * 1024 * 1024, onError: (c) => c.text("the file is too large (20 MiB at most)", 413) }));
  app.use("/admin/*", session);

  app.get("/admin/assets/:file", (c) => {
    const a = ASSETS[c.req.param("file")];
    if (!a) return c.notFound();
    c.header("Cache-Control", "public, max-age=3600");
    return c.body(a.body(), 200, { "Content-Type": a.type });
  });

  // ---- sign-in -------------------------------------------------------------------------
  app.get("/admin/signin", (c) => {
    const deps = c.get("deps");
    if (c.get("staff")) return c.redirect("/admin", 303);
    return render(
      c,
      200,
      "Sign in",
      html`<div class="card signin"><h1>Sign in</h1><p>Enter your staff address: we email you a sign-in link, valid for 15 minutes.</p>
      <form method="post" action="/admin/signin">${csrfField(csrfToken(deps.secret, "signin", deps.now()))}
      <label for="email">Email address</label><input id="email" name="email" type="email" autocomplete="email" required>
      <p><button type="submit">Email me a link</button></p></form>
      <p class="muted">No account yet? An owner adds you; the first owner runs <code>drip staff add you@example.com --role owner</code> and <code>drip staff link you@example.com</code>.</p></div>`,
    );
  });

  app.post("/admin/signin", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const ip = clientIp(c);
    const email = (await formField(c, "email")).trim().toLowerCase();
    if (requests.blocked(`ip:${ip}`, now.getTime()) || (email && requests.blocked(`email:${email}`, now.getTime())))
      return refuse(c, 429, "Too many attempts", "Too many sign-in attempts: wait a minute and try again.");
    requests.fail(`ip:${ip}`, now.getTime());
    if (email) requests.fail(`email:${email}`, now.getTime());
    if (!checkCsrf(deps.secret, "signin", await formField(c, "csrf"), now) || !sameOrigin(c.req.header("origin"), siteOrigins(c.req.url, deps.publicUrl)))
      return refuse(c, 403, "Form expired", "This form's security token is missing or too old. Reload the page and try again.");
    const staff = email ? await deps.store.findStaffByEmail(email) : null;
    if (staff && deps.transport) {
      const link = await issueSignInLink(deps.store, staff, deps.publicUrl, now);
      const org = organization(deps);
      await deps.transport.send({
        sendId: `staff-signin-${tokenHash(link.url).slice(0, 16)}`,
        from: `${org} <${deps.from ?? "drip@localhost"}>`,
        to: staff.email,
        subject: `Your sign-in link for the ${org} dashboard`,
        html: `<p>Sign in to the ${org} dashboard: <a href="${link.url}">${link.url}</a></p><p>The link works once, for 15 minutes. If you did not ask for it, ignore this email.</p>`,
        text: `Sign in to the ${org} dashboard:\n${link.url}\n\nThe link works once, for 15 minutes. If you did not ask for it, ignore this email.\n`,
        headers: {},
        tags: [{ name: "kind", value: "staff-signin" }],
        date: now,
      });
      await deps.store.appendAudit({ at: now, staffId: staff.id, staffEmail: staff.email, action: "signin.link-emailed", target: staff.email, detail: ip });
    }
    // The same answer whether or not the address has an account.
    return render(
      c,
      200,
      "Check your email",
      html`<div class="card signin"><h1>Check your email</h1><p>If that address has a staff account, a sign-in link is on its way. It works once, for 15 minutes.</p></div>`,
    );
  });

  const badLink = (c: C) =>
    refuse(
      c,
      400,
      "Link not valid",
      "This sign-in link was already used, has expired (links last 15 minutes) or is not valid. Ask for a new one on the sign-in page.",
    );

  app.get("/admin/signin/:token", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const ip = clientIp(c);
    if (wrong.blocked(`ip:${ip}`, now.getTime())) return refuse(c, 429, "Too many attempts", "Too many wrong sign-in attempts: wait a minute and try again.");
    const hash = tokenHash(c.req.param("token"));
    const staff = await deps.store.peekSignInLink(hash, now);
    if (!staff) {
      wrong.fail(`ip:${ip}`, now.getTime());
      return badLink(c);
    }
    // A page with a button: a mail scanner opening the link signs nobody in.
    return render(
      c,
      200,
      "Sign in",
      html`<div class="card signin"><h1>Sign in as ${staff.email}</h1>
      <form method="post">${csrfField(csrfToken(deps.secret, `link:${hash}`, now))}
      ${staff.totp ? html`<label for="code">6-digit code from your authenticator app</label><input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required>` : ""}
      <p><button type="submit">Sign in</button></p></form></div>`,
    );
  });

  app.post("/admin/signin/:token", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const t = now.getTime();
    const ip = clientIp(c);
    if (wrong.blocked(`ip:${ip}`, t)) return refuse(c, 429, "Too many attempts", "Too many wrong sign-in attempts: wait a minute and try again.");
    const hash = tokenHash(c.req.param("token"));
    const staff = await deps.store.peekSignInLink(hash, now);
    if (!staff) {
      wrong.fail(`ip:${ip}`, t);
      return badLink(c);
    }
    if (wrong.blocked(`staff:${staff.id}`, t))
      return refuse(c, 429, "Too many attempts", "Too many wrong sign-in attempts for this account: wait a minute and try again.");
    if (!checkCsrf(deps.secret, `link:${hash}`, await formField(c, "csrf"), now) || !sameOrigin(c.req.header("origin"), siteOrigins(c.req.url, deps.publicUrl)))
      return refuse(c, 403, "Form expired", "This form's security token is missing or too old. Open the link again.");
    if (staff.totp) {
      const secret = await deps.store.getStaffTotpSecret(staff.id);
      if (!secret || !checkTotp(secret, await formField(c, "code"), now)) {
        wrong.fail(`ip:${ip}`, t);
        wrong.fail(`staff:${staff.id}`, t);
        return refuse(c, 400, "Wrong code", "That code is not the one your authenticator app shows now. Open the link again and retry.");
      }
    }
    const used = await deps.store.consumeSignInLink(hash, now);
    if (!used) {
      wrong.fail(`ip:${ip}`, t);
      return badLink(c);
    }
    const s = await startSession(deps.store, used, now);
    setCookie(c, cookieName(deps), s.id, {
      httpOnly: true,
      secure: deps.publicUrl.startsWith("https:"),
      sameSite: "Lax",
      path: "/",
      // No Expires: a browser-session cookie. The server's session row decides how long it lasts.
    });
    await deps.store.appendAudit({ at: now, staffId: used.id, staffEmail: used.email, action: "signin", target: used.email, detail: ip });
    return c.redirect("/admin", 303);
  });

  app.post("/admin/signout", async (c) => {
    const deps = c.get("deps");
    await deps.store.revokeSession(c.get("sessionHash")!, deps.now());
    await audit(c, "signout", c.get("staff")!.email);
    deleteCookie(c, cookieName(deps), { path: "/", secure: deps.publicUrl.startsWith("https:") });
    return c.redirect("/admin/signin", 303);
  });

  // ---- overview ------------------------------------------------------------------------
  app.get("/admin", need("viewer"), async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const s = await deps.store.status();
    const pause = await deps.engine.pausedUntil(now);
    const days = await deps.store.dailyActivity(new Date(now.getTime() - 29 * DAY), endOfDay(now));
    const attention: Html[] = [];
    if (pause) attention.push(html`Delivery is paused until ${pause.until}: ${pause.reason}.`);
    if (s.sends.failed > 0) attention.push(html`${n(s.sends.failed)} send(s) failed.`);
    if (s.sends.in_doubt > 0) attention.push(html`${n(s.sends.in_doubt)} send(s) are in doubt (the provider may or may not have sent them).`);
    const counts = (title: string, rec: Record<string, number>, link?: (k: string) => string) =>
      html`<div class="card"><h2>${title}</h2><dl>${Object.entries(rec).map(
        ([k, v]) =>
          html`<div class="row"><dt>${link ? html`<a href="${link(k)}">${k}</a>` : k}</dt><dd data-count="${title.toLowerCase()}.${k}">${n(v)}</dd></div>`,
      )}</dl></div>`;
    return render(
      c,
      200,
      "Overview",
      html`<h1>Overview</h1>
      ${attention.length ? html`<div class="banner" role="alert">${attention.map((a) => html`<p>${a}</p>`)}<p><a href="/admin/failures">See failures and sends in doubt</a></p></div>` : ""}
      <div class="grid">
        ${counts("Subscribers", s.subscribers, (k) => `/admin/subscribers?status=${k}`)}
        ${await topicsOverviewCard(deps)}
        ${counts("Enrollments", s.enrollments)}
        ${counts("Sends", s.sends)}
        <div class="card"><h2>Next due send</h2><p><span class="num" data-count="next-due">${when(s.nextDueAt)}</span> UTC</p><p class="muted">Transport: ${deps.transport?.name ?? "–"}</p></div>
      </div>
      <div class="card"><h2>Last 30 days</h2>
      ${chart("activity", "Signups, unsubscribes and sends per day, last 30 days", {
        labels: days.map((d) => d.day.slice(5)),
        series: [
          { label: "signups", data: days.map((d) => d.signups) },
          { label: "unsubscribes", data: days.map((d) => d.unsubscribes) },
          { label: "sent", data: days.map((d) => d.sent) },
        ],
      })}
      <details><summary>As a table</summary><div class="table-wrap"><table><thead><tr><th scope="col">Day (UTC)</th><th class="n" scope="col">Signups</th><th class="n" scope="col">Unsubscribes</th><th class="n" scope="col">Sent</th></tr></thead><tbody>
      ${days.map((d) => html`<tr><td>${d.day}</td><td class="n">${n(d.signups)}</td><td class="n">${n(d.unsubscribes)}</td><td class="n">${n(d.sent)}</td></tr>`)}
      </tbody></table></div></details></div>`,
      { section: "overview", charts: true },
    );
  });

  // ---- sequences -----------------------------------------------------------------------
  app.get("/admin/sequences", need("viewer"), (c) => {
    const deps = c.get("deps");
    const seqs = deps.engine.sequenceIds().map((id) => deps.engine.getSequence(id)!);
    return render(
      c,
      200,
      "Sequences",
      html`<h1>Sequences</h1><div class="card"><ul>${seqs.map(
        (s) => html`<li><a href="/admin/sequences/${s.id}">${s.name}</a> <span class="muted">(${s.id}, ${s.steps.length} steps)</span></li>`,
      )}</ul><p class="muted">Sequences are code (<code>sequences/*.ts</code>), reviewed in git; here you see them, preview them and watch their results.</p></div>`,
      { section: "sequences" },
    );
  });

  app.get("/admin/sequences/version", need("viewer"), (c) => c.json({ version: sequencesVersion(c.get("deps")) }));

  const sequenceOr404 = (c: C) => {
    const seq = c.get("deps").engine.getSequence(c.req.param("id") ?? "");
    return seq ?? null;
  };

  app.get("/admin/sequences/:id", need("viewer"), async (c) => {
    const deps = c.get("deps");
    const seq = sequenceOr404(c);
    if (!seq) return refuse(c, 404, "No such sequence", "There is no sequence with that id.");
    const rows = await funnel(deps, seq);
    const now = deps.now();
    const days = await deps.store.dailyActivity(new Date(now.getTime() - 29 * DAY), endOfDay(now), seq.id);
    const cell = (r: (typeof rows)[number], col: "sent" | "delivered" | "opened" | "clicked" | "booked" | "unsubscribed") =>
      html`<td class="n" data-step="${r.step.id}" data-col="${col}">${n(r[col])}${col === "sent" ? "" : html`<span class="rate">${pct(r[col], r.sent)}</span>`}</td>`;
    return render(
      c,
      200,
      seq.name,
      html`<h1>${seq.name}</h1>
      <div class="card"><h2>Steps and results</h2><p class="muted">Rates are of emails sent at that step. "Waiting" is subscribers whose next email is this step; "due 24 h" those due within a day.</p>
      <div class="table-wrap"><table id="funnel"><thead><tr><th scope="col">#</th><th scope="col">Step</th><th class="n" scope="col">Waiting</th><th class="n" scope="col">Due 24 h</th><th class="n" scope="col">Sent</th><th class="n" scope="col">Delivered</th><th class="n" scope="col">Opened</th><th class="n" scope="col">Clicked</th><th class="n" scope="col">Booked</th><th class="n" scope="col">Unsubscribed</th></tr></thead><tbody>
      ${rows.map(
        (
          r,
        ) => html`<tr><td>${r.index}</td><td><a href="/admin/sequences/${seq.id}/steps/${r.step.id}">${r.step.id}</a><span class="rate">${r.step.subject}</span></td>
        <td class="n" data-step="${r.step.id}" data-col="waiting">${n(r.waiting)}</td><td class="n" data-step="${r.step.id}" data-col="dueSoon">${n(r.dueSoon)}</td>
        ${cell(r, "sent")}${cell(r, "delivered")}${cell(r, "opened")}${cell(r, "clicked")}${cell(r, "booked")}${cell(r, "unsubscribed")}</tr>`,
      )}</tbody></table></div></div>
      <div class="card"><h2>Sent per day, last 30 days</h2>${chart("sent-per-day", `Emails of ${seq.name} sent per day`, {
        labels: days.map((d) => d.day.slice(5)),
        series: [{ label: "sent", data: days.map((d) => d.sent) }],
      })}</div>
      <div class="card"><h2>Simulate a subscriber</h2>
      <form method="get" action="/admin/sequences/${seq.id}/simulate" class="row">
      <div><label for="start">Start (UTC, ISO 8601)</label><input id="start" name="start" type="text" value="${now.toISOString().slice(0, 16)}Z" required></div>
      <div><label for="tz">Time zone</label><input id="tz" name="tz" type="text" value="${seq.defaultTimezone}" required></div>
      <div><label for="tags">Tags (comma separated)</label><input id="tags" name="tags" type="text"></div>
      <div><button type="submit">Simulate</button></div></form></div>`,
      { section: "sequences", charts: true },
    );
  });

  app.get("/admin/sequences/:id/simulate", need("viewer"), (c) => {
    const seq = sequenceOr404(c);
    if (!seq) return refuse(c, 404, "No such sequence", "There is no sequence with that id.");
    const startRaw = c.req.query("start") ?? "";
    const start = new Date(startRaw);
    const tz = c.req.query("tz") ?? seq.defaultTimezone;
    if (Number.isNaN(start.getTime())) return refuse(c, 400, "Not a start time", `"${startRaw}" is not an instant: write it like 2026-03-09T10:00Z.`);
    if (!validZone(tz)) return refuse(c, 400, "Not a time zone", `"${tz}" is not a time zone: use an IANA name such as Europe/London.`);
    const tags = (c.req.query("tags") ?? "")
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
    const t = simulate(seq, { ...SAMPLE_SUBSCRIBER, timezone: tz, tags }, start);
    return render(
      c,
      200,
      `Simulate ${seq.name}`,
      html`<h1>Simulated: ${seq.name}</h1><p>Start ${start.toISOString()}, zone ${t.zone}${tags.length ? `, tags ${tags.join(", ")}` : ""}.</p>
      ${t.warnings.map((w) => html`<p class="error">${w}</p>`)}
      <div class="card table-wrap"><table><thead><tr><th scope="col">Step</th><th scope="col">UTC</th><th scope="col">Local time</th><th scope="col">Subject or why skipped</th></tr></thead><tbody>
      ${t.entries.map((e) => html`<tr><td>${e.step}</td><td>${e.at}</td><td>${e.local}</td><td>${e.skipped ? html`<em>skipped: ${e.skipped}</em>` : e.subject}</td></tr>`)}
      </tbody></table></div><p><a href="/admin/sequences/${seq.id}">Back to ${seq.name}</a></p>`,
      { section: "sequences" },
    );
  });

  /** The subscriber a preview is for: a real one by email, or the sample. */
  async function previewSubscriber(c: C): Promise<{ fields: SubscriberFields; label: string } | null> {
    const email = c.req.query("email")?.trim();
    if (!email) return { fields: SAMPLE_SUBSCRIBER, label: "the sample subscriber" };
    const s = await c.get("deps").store.findSubscriberByEmail(email);
    if (!s) return null;
    return { fields: { email: s.email, name: s.name, timezone: s.timezone, tags: s.tags }, label: s.email };
  }

  app.get("/admin/sequences/:id/steps/:step", need("viewer"), async (c) => {
    const deps = c.get("deps");
    const seq = sequenceOr404(c);
    const stepId = c.req.param("step");
    if (!seq?.steps.some((s) => s.id === stepId)) return refuse(c, 404, "No such step", "There is no step with that id in this sequence.");
    const who = await previewSubscriber(c);
    if (!who) return refuse(c, 404, "No such subscriber", `No subscriber has the address ${c.req.query("email")}.`);
    const email = await deps.engine.previewStep(seq, stepId, who.fields);
    const q = c.req.query("email") ? `?email=${encodeURIComponent(c.req.query("email")!)}` : "";
    return render(
      c,
      200,
      `${seq.name}: ${stepId}`,
      html`<h1>${seq.name}: ${stepId}</h1>
      <div class="card" data-live-version="${sequencesVersion(deps)}"><p><strong>Subject:</strong> <span id="subject">${email!.subject}</span><br><strong>Preview text:</strong> ${email!.preview}<br><strong>As:</strong> ${who.label}</p>
      <form method="get" class="row"><div><label for="email">Preview as a subscriber (email)</label><input id="email" name="email" type="email" value="${c.req.query("email") ?? ""}"></div><div><button type="submit">Preview</button></div></form>
      <p class="muted">While <code>drip start</code> runs, this page reloads when a sequence or template file is saved.</p></div>
      <div class="card"><h2>HTML</h2><iframe class="preview" sandbox="" title="The email as HTML" src="/admin/sequences/${seq.id}/steps/${stepId}/preview.html${q}"></iframe></div>
      <div class="card"><h2>Text part</h2><pre class="text">${email!.text}</pre></div>
      <p><a href="/admin/sequences/${seq.id}">Back to ${seq.name}</a></p>`,
      { section: "sequences" },
    );
  });

  app.get("/admin/sequences/:id/steps/:step/preview.html", need("viewer"), async (c) => {
    const deps = c.get("deps");
    const seq = sequenceOr404(c);
    const stepId = c.req.param("step");
    if (!seq?.steps.some((s) => s.id === stepId)) return refuse(c, 404, "No such step", "There is no step with that id in this sequence.");
    const who = await previewSubscriber(c);
    if (!who) return refuse(c, 404, "No such subscriber", "No subscriber has that address.");
    const email = await deps.engine.previewStep(seq, stepId, who.fields);
    c.header("Content-Security-Policy", PREVIEW_CSP);
    c.header("X-Frame-Options", "SAMEORIGIN");
    return c.html(email!.html);
  });

  // ---- subscribers ---------------------------------------------------------------------
  app.get("/admin/subscribers", need("viewer"), async (c) => {
    const deps = c.get("deps");
    const query = c.req.query("q")?.trim() ?? "";
    const tag = c.req.query("tag")?.trim() ?? "";
    const statusRaw = c.req.query("status") ?? "";
    const status = (STATUSES as readonly string[]).includes(statusRaw) ? (statusRaw as SubscriberStatus) : undefined;
    const beforeRaw = c.req.query("before") ?? "";
    const m = /^(\d+)\.([A-Za-z0-9_-]+)$/.exec(beforeRaw);
    const before = m ? { createdAt: new Date(Number(m[1])), id: m[2]! } : undefined;
    const rows = await deps.store.searchSubscribers({ query: query || undefined, tag: tag || undefined, status, before, limit: PAGE });
    const last = rows[rows.length - 1];
    const params = new URLSearchParams({ ...(query ? { q: query } : {}), ...(tag ? { tag } : {}), ...(status ? { status } : {}) });
    const editor = allows(c.get("staff")!.role, "editor");
    return render(
      c,
      200,
      "Subscribers",
      html`<h1>Subscribers</h1>
      <form method="get" class="card row" role="search">
      <div><label for="q">Email or name</label><input id="q" name="q" type="search" value="${query}"></div>
      <div><label for="tag">Tag</label><input id="tag" name="tag" type="text" value="${tag}"></div>
      <div><label for="status">Status</label><select id="status" name="status"><option value="">any</option>${STATUSES.map(
        (s) => html`<option value="${s}"${s === status ? html` selected` : ""}>${s}</option>`,
      )}</select></div>
      <div><button type="submit">Search</button></div></form>
      ${editor ? html`<p><a href="/admin/subscribers/export.csv">Export all as CSV</a> · <a href="/admin/subscribers/import">Import a CSV</a></p>` : ""}
      <div class="card table-wrap"><table id="subscribers"><thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Tags</th><th scope="col">Added (UTC)</th></tr></thead><tbody>
      ${rows.map(
        (s) =>
          html`<tr><td><a href="/admin/subscribers/${s.id}">${s.email}</a></td><td>${s.name}</td><td>${s.status}</td><td>${s.tags.map((t) => html`<span class="tag">${t}</span>`)}</td><td>${when(s.createdAt)}</td></tr>`,
      )}
      </tbody></table>${rows.length === 0 ? html`<p>No subscribers match.</p>` : ""}</div>
      ${rows.length === PAGE && last ? html`<p><a href="/admin/subscribers?${params.toString()}${params.size ? "&" : ""}before=${last.createdAt.getTime()}.${last.id}" rel="next">Next page</a></p>` : ""}`,
      { section: "subscribers" },
    );
  });

  app.get("/admin/subscribers/export.csv", need("editor"), async (c) => {
    const deps = c.get("deps");
    await audit(c, "subscribers.export", null);
    // The same columns as `drip export` (import reads them back).
    const chunks: string[] = [stringify([[...EXPORT_COLUMNS]])];
    let after: string | null = null;
    for (;;) {
      const page = await deps.store.listSubscribers(after, 1000);
      if (page.length === 0) break;
      chunks.push(stringify(await exportRows(deps.store, page)));
      after = page[page.length - 1]!.id;
    }
    return c.body(chunks.join(""), 200, { "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="subscribers.csv"' });
  });

  const importForm = (c: C) =>
    html`<form id="import" method="post" action="/admin/subscribers/import" enctype="multipart/form-data" class="card">${csrfField(csrfFor(c))}
    <label for="file">CSV file (header row such as <code>email,name,timezone,tags,subscribed_at</code>)</label><input id="file" name="file" type="file" accept=".csv,text/csv" required>
    <p><label><input type="checkbox" name="confirmed" value="1"> These people already gave consent: import them as active and enroll them</label></p>
    <p><button type="submit">Import</button></p><progress id="import-progress" max="1" hidden></progress><p id="import-status" role="status" aria-live="polite"></p></form>`;

  app.get("/admin/subscribers/import", need("editor"), (c) =>
    render(c, 200, "Import subscribers", html`<h1>Import subscribers</h1>${importForm(c)}`, { section: "subscribers" }),
  );

  app.post("/admin/subscribers/import", need("editor"), async (c) => {
    const deps = c.get("deps");
    const body = await c.req.parseBody();
    const file = body.file;
    if (!(file instanceof File) || file.size === 0)
      return render(c, 400, "Import subscribers", html`<h1>Import subscribers</h1><p class="error">Choose a CSV file to import.</p>${importForm(c)}`, {
        section: "subscribers",
      });
    const confirmed = body.confirmed === "1";
    const buf = Buffer.from(await file.arrayBuffer());
    const result = await importCsv(deps.lifecycle, readCsv(Readable.from([buf]), { file: file.name }), { confirmed, now: deps.now() });
    await audit(c, "subscribers.import", file.name, `imported ${result.imported}, existing ${result.existing}, bad ${result.badRows}`);
    return render(
      c,
      200,
      "Import done",
      html`<h1>Import done</h1><div class="card" id="import-report"><p>Imported <strong>${n(result.imported)}</strong>, already known ${n(result.existing)}, suppressed ${n(result.suppressed)}, enrolled ${n(result.enrolled)}, bad lines ${n(result.badRows)}.</p>
      ${result.warnings.map((w) => html`<p>${w.message} (${n(w.count)} rows)</p>`)}
      ${result.bad.length ? html`<div class="table-wrap"><table><thead><tr><th scope="col">Line</th><th scope="col">Why it was skipped</th></tr></thead><tbody>${result.bad.map((b) => html`<tr><td>${b.line}</td><td>${b.reason}</td></tr>`)}</tbody></table></div>` : ""}
      </div><p><a href="/admin/subscribers">Back to subscribers</a></p>`,
      { section: "subscribers" },
    );
  });

  app.get("/admin/subscribers/:id", need("viewer"), async (c) => {
    const deps = c.get("deps");
    const s = await deps.store.getSubscriber(c.req.param("id"));
    if (!s) return refuse(c, 404, "No such subscriber", "There is no subscriber with that id (they may have been forgotten).");
    const enrollments = await deps.store.listEnrollments(s.id);
    const timeline = await deps.store.subscriberTimeline(s.id);
    const editor = allows(c.get("staff")!.role, "editor");
    const token = csrfFor(c);
    const act = (path: string, label: string, fields: Html = html``, cls = "secondary") =>
      html`<form class="inline" method="post" action="/admin/subscribers/${s.id}/${path}">${csrfField(token)}${fields}<button type="submit" class="${cls}">${label}</button></form>`;
    return render(
      c,
      200,
      s.email,
      html`<h1>${s.email}</h1>
      <div class="grid"><div class="card"><h2>Details</h2><dl>
      <dt>Name</dt><dd>${s.name || "–"}</dd><dt>Status</dt><dd id="status">${s.status}</dd><dt>Time zone</dt><dd>${s.timezone || "–"}</dd>
      <dt>Tags</dt><dd>${s.tags.length ? s.tags.map((t) => html`<span class="tag">${t}</span>`) : "–"}</dd>
      <dt>Added</dt><dd>${when(s.createdAt)} UTC</dd><dt>Consent</dt><dd>${s.consentAt ? html`${when(s.consentAt)} UTC via ${s.consentSource ?? "?"}` : "not confirmed"}</dd></dl></div>
      <div class="card"><h2>Courses</h2>${
        enrollments.length
          ? html`<ul>${enrollments.map(
              (e) =>
                html`<li><a href="/admin/sequences/${e.sequenceId}">${e.sequenceId}</a>: ${e.status}${e.reason ? ` (${e.reason})` : ""}${e.nextStepId ? html`, next <strong>${e.nextStepId}</strong> at ${when(e.nextDueAt)} UTC` : ""}</li>`,
            )}</ul>`
          : html`<p>Not enrolled.</p>`
      }${await subscriberTopicsCard(c, s)}</div></div>
      ${
        editor
          ? html`<div class="card"><h2>Actions</h2>
      ${act("tag", "Add tag", html`<label for="tag-add">Tag</label><input id="tag-add" name="tag" type="text" required>`)}
      ${s.tags.length ? act("untag", "Remove tag", html`<label for="tag-remove">Tag</label><select id="tag-remove" name="tag">${s.tags.map((t) => html`<option>${t}</option>`)}</select>`) : ""}
      ${act("timezone", "Change time zone", html`<label for="tz">Time zone</label><input id="tz" name="timezone" type="text" value="${s.timezone}" required>`)}
      ${act("pause", "Pause courses")}${act("resume", "Resume courses")}${act("unsubscribe", "Unsubscribe")}
      ${act("forget", "Forget (erase) this person", html`<label for="confirm">Type their email address to confirm</label><input id="confirm" name="confirm" type="text" autocomplete="off" required>`, "danger")}
      </div>`
          : ""
      }
      <div class="card"><h2>Timeline</h2><ol class="timeline" id="timeline">${timeline.map(
        (e) =>
          html`<li data-kind="${e.kind}"><span class="kind">${e.kind}</span> ${e.sequenceId ? html`<span class="muted">${e.sequenceId}${e.stepId ? `/${e.stepId}` : ""}</span>` : ""} · ${when(e.at)} UTC<br>${e.detail}</li>`,
      )}</ol></div>`,
      { section: "subscribers" },
    );
  });

  const subscriberAction = (path: string, run: (c: C, s: { id: string; email: string }) => Promise<string | Response>) =>
    app.post(`/admin/subscribers/:id/${path}`, need("editor"), async (c) => {
      const deps = c.get("deps");
      const s = await deps.store.getSubscriber(c.req.param("id"));
      if (!s) return refuse(c, 404, "No such subscriber", "There is no subscriber with that id.");
      const done = await run(c, s);
      if (typeof done !== "string") return done;
      await audit(c, `subscriber.${path}`, s.email, done);
      return c.redirect(path === "forget" ? "/admin/subscribers" : `/admin/subscribers/${s.id}`, 303);
    });
  subscriberAction("tag", async (c, s) => {
    const tag = (await formField(c, "tag")).trim();
    await c.get("deps").lifecycle.tag(s, tag, c.get("deps").now());
    return tag;
  });
  subscriberAction("untag", async (c, s) => {
    const tag = (await formField(c, "tag")).trim();
    await c.get("deps").lifecycle.untag(s, tag);
    return tag;
  });
  subscriberAction("timezone", async (c, s) => {
    const tz = (await formField(c, "timezone")).trim();
    if (!validZone(tz)) throw new DripError("invalid_input", `"${tz}" is not a time zone: use an IANA name such as Europe/London`);
    await c.get("deps").lifecycle.updateProfile(s, { timezone: tz });
    return tz;
  });
  subscriberAction("pause", async (c, s) => `${await c.get("deps").lifecycle.pause(s, `paused by ${c.get("staff")!.email}`)} course(s)`);
  subscriberAction("resume", async (c, s) => `${await c.get("deps").lifecycle.resume(s)} course(s)`);
  subscriberAction("unsubscribe", async (c, s) => c.get("deps").lifecycle.unsubscribe(s, c.get("deps").now(), `dashboard:${c.get("staff")!.email}`));
  subscriberAction("forget", async (c, s) => {
    const typed = (await formField(c, "confirm")).trim().toLowerCase();
    if (typed !== s.email.toLowerCase())
      return refuse(c, 400, "Not forgotten", "To forget someone, type their exact email address in the confirmation box. Nothing was erased.");
    await c.get("deps").lifecycle.forget(s.email, c.get("deps").now());
    return "erased";
  });

  // ---- failures ------------------------------------------------------------------------
  app.get("/admin/failures", need("viewer"), async (c) => {
    const deps = c.get("deps");
    // The same query as `drip failures`.
    const rows = await deps.store.listSends({ statuses: ["failed", "in_doubt"], limit: 200 });
    const editor = allows(c.get("staff")!.role, "editor");
    const token = csrfFor(c);
    return render(
      c,
      200,
      "Failures",
      html`<h1>Failures and sends in doubt</h1><p class="muted">"In doubt": the provider may or may not have sent it; check its logs before resolving.</p>
      <div class="card table-wrap"><table id="failures"><thead><tr><th scope="col">Status</th><th scope="col">Step</th><th scope="col">Subscriber</th><th scope="col">Attempts</th><th scope="col">Reason</th><th scope="col">Due (UTC)</th>${editor ? html`<th scope="col">Action</th>` : ""}</tr></thead><tbody>
      ${rows.map(
        (r) =>
          html`<tr><td>${r.status}</td><td>${r.sequenceId}/${r.stepId}</td><td><a href="/admin/subscribers/${r.subscriberId}">profile</a></td><td class="n">${r.attempts}</td><td>${r.reason ?? ""}</td><td>${when(r.dueAt)}</td>
          ${editor ? html`<td><form class="inline" method="post" action="/admin/failures/${r.id}/retry">${csrfField(token)}<button type="submit">Retry</button></form> <form class="inline" method="post" action="/admin/failures/${r.id}/resolve">${csrfField(token)}<button type="submit" class="secondary">Mark resolved</button></form></td>` : ""}</tr>`,
      )}</tbody></table>${rows.length === 0 ? html`<p>No failed or doubtful sends.</p>` : ""}</div>`,
      { section: "failures" },
    );
  });

  app.post("/admin/failures/:sendId/resolve", need("editor"), async (c) => {
    const deps = c.get("deps");
    const id = c.req.param("sendId");
    const before = await deps.store.getSend(id);
    const ok = await deps.store.resolveSend(id, `resolved by ${c.get("staff")!.email} (was ${before?.status}: ${before?.reason ?? "no reason"})`);
    if (!ok) return refuse(c, 404, "Nothing to resolve", "That send is not failed or in doubt (any more).");
    await audit(c, "send.resolve", id, before?.reason ?? null);
    return c.redirect("/admin/failures", 303);
  });

  // Back in the queue through the door (the same function as `drip retry`): refused, with the reason, when unsafe.
  app.post("/admin/failures/:sendId/retry", need("editor"), async (c) => {
    const deps = c.get("deps");
    const id = c.req.param("sendId");
    try {
      const r = await deps.lifecycle.retrySend(id, deps.now(), c.get("staff")!.email);
      await audit(c, "send.retry", id, [r.was, ...r.siblings].filter(Boolean).join(" ") || null);
    } catch (err) {
      if (isDripError(err)) return refuse(c, err.code === "not_found" ? 404 : 409, "Not retried", err.message);
      throw err;
    }
    return c.redirect("/admin/failures", 303);
  });

  // ---- staff and audit (owners) --------------------------------------------------------
  app.get("/admin/staff", need("owner"), async (c) => {
    const deps = c.get("deps");
    const rows = await deps.store.listStaff();
    const token = csrfFor(c);
    return render(
      c,
      200,
      "Staff",
      html`<h1>Staff</h1><div class="card table-wrap"><table><thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Two-factor</th><th scope="col">Action</th></tr></thead><tbody>
      ${rows.map(
        (s) =>
          html`<tr><td>${s.email}</td><td>${s.role}</td><td>${s.totp ? "on" : "off"}</td><td>${
            s.id === c.get("staff")!.id
              ? "you"
              : html`<form class="inline" method="post" action="/admin/staff/${s.id}/remove">${csrfField(token)}<button type="submit" class="secondary">Remove ${s.email}</button></form>`
          }</td></tr>`,
      )}</tbody></table></div>
      <form method="post" action="/admin/staff" class="card row">${csrfField(token)}
      <div><label for="new-email">Email</label><input id="new-email" name="email" type="email" required></div>
      <div><label for="new-role">Role</label><select id="new-role" name="role"><option>viewer</option><option>editor</option><option>owner</option></select></div>
      <div><button type="submit">Add or change</button></div></form>
      <p class="muted">They sign in from the sign-in page (a link by email). Two-factor: <code>drip staff totp &lt;email&gt;</code>.</p>`,
      { section: "staff" },
    );
  });

  app.post("/admin/staff", need("owner"), async (c) => {
    const deps = c.get("deps");
    const email = (await formField(c, "email")).trim();
    const role = await formField(c, "role");
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new DripError("invalid_input", `"${email}" is not an email address`);
    if (!["owner", "editor", "viewer"].includes(role)) throw new DripError("invalid_input", `the role must be owner, editor or viewer, not "${role}"`);
    const { created } = await deps.store.putStaff(email, role as StaffRole, deps.now());
    await audit(c, created ? "staff.add" : "staff.role", email, role);
    return c.redirect("/admin/staff", 303);
  });

  app.post("/admin/staff/:id/remove", need("owner"), async (c) => {
    const deps = c.get("deps");
    const s = await deps.store.getStaff(c.req.param("id"));
    if (!s) return refuse(c, 404, "No such account", "There is no staff account with that id.");
    if (s.id === c.get("staff")!.id)
      return refuse(c, 400, "Not removed", "You cannot remove your own account here; ask another owner or use drip staff remove.");
    await deps.store.removeStaff(s.id);
    await audit(c, "staff.remove", s.email);
    return c.redirect("/admin/staff", 303);
  });

  app.get("/admin/audit", need("owner"), async (c) => {
    const deps = c.get("deps");
    const before = Number(c.req.query("before"));
    const rows = await deps.store.listAudit(100, Number.isInteger(before) && before > 0 ? before : undefined);
    const last = rows[rows.length - 1];
    return render(
      c,
      200,
      "Audit log",
      html`<h1>Audit log</h1><div class="card table-wrap"><table id="audit"><thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">On</th><th scope="col">Detail</th></tr></thead><tbody>
      ${rows.map((e) => html`<tr><td>${when(e.at)}</td><td>${e.staffEmail}</td><td>${e.action}</td><td>${e.target ?? ""}</td><td>${e.detail ?? ""}</td></tr>`)}
      </tbody></table></div>${rows.length === 100 && last ? html`<p><a href="/admin/audit?before=${last.id}" rel="next">Older</a></p>` : ""}`,
      { section: "audit" },
    );
  });

  // ---- newsletters (src/admin/newsletters.ts) ------------------------------------------
  newsletterRoutes(app);

  // Errors as dashboard pages (the dashboard's stylesheet under its CSP): a sentence and a
  // status, never internals; the operator's log gets one line (sign-in tokens left out).
  app.onError((raw, c) => {
    if (raw instanceof HTTPException) return raw.getResponse();
    const err = coerceError(raw);
    if (isDripError(err) && err.code === "busy") {
      c.header("Retry-After", "60");
      return refuse(c, 503, "Please try again", "The database is busy: try again in a minute.");
    }
    const status = isDripError(err) ? httpStatusFor(err.code) : 500;
    if (isDripError(err) && status < 500) return refuse(c, status, "That didn't work", err.message);
    const deps = c.get("deps");
    const message = err instanceof Error ? err.message : String(err);
    (deps.log ?? console.error)(
      `${c.req.method} ${c.req.path.replace(/^\/admin\/signin\/.*/, "/admin/signin/[token]")}: ${message.replace(/\s*[\r\n]+\s*/g, " ")}`,
    );
    return refuse(c, 500, "Something went wrong", "Please try again in a moment.");
  });

  return app;
}
