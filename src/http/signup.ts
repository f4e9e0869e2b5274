/**
 * Signup with double opt-in. POST /subscribe answers the same way whether or not the
 * address is known (no enumeration). Bots meet a honeypot field and a per-IP limit;
 * subscription bombing meets the cap of three confirmation emails per address per day.
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { subscriberInputSchema } from "../lifecycle/input.ts";
import { formatLocal } from "../schedule/index.ts";
import { verifyToken } from "../tokens.ts";
import { type Env, type HttpDeps, clientIp, fromThisSite, isGenuineForm, isJsonBody, organization, respondPage, wantsJson, writeTo } from "./context.ts";
import { type Html, html } from "./html.ts";
import { WindowLimiter, csrfToken } from "./security.ts";
import { TZ_SCRIPT, zoneSelect } from "./zones.ts";
import { checkFormPost, formFields, hostedForm, thankYou } from "./forms.ts";

const text = (v: unknown) => (typeof v === "string" ? v : "");

/** The JSON answer to a signup: the same for every address (no enumeration). */
const CHECK_INBOX = "A confirmation link is on its way: open it and press the button to start the course.";

/**
 * The page after a signup (and after the resend form): the same words for every address,
 * known or not, so nothing tells a stranger whether an address is on the list. It repeats
 * the address (a typo shows), says where to look, and says plainly, for everyone, when no
 * email comes and how to get back in.
 */
function checkInboxPage(deps: HttpDeps, email: string): Html {
  return html`<h1>Check your inbox</h1>
<p>A confirmation link is on its way to <strong>${email}</strong>. Open it and press the button to start the course.</p>
<p><strong>Not there in a few minutes?</strong> Look in your spam or junk folder.</p>
<p><strong>A typo in the address?</strong> <a href="/">Go back to the form</a> and enter it again.</p>
<p class="hint">No email comes if this address is already on the course, if it was sent three links today, if it unsubscribed and was sent a link recently, or if you asked us to forget it or our emails to it bounced. To get back in, ${writeTo(deps)} and we'll sort it out.</p>`;
}

const signupBody = subscriberInputSchema.pick({ email: true, name: true, timezone: true }).extend({
  website: z.string().optional(), // the honeypot
  csrf: z.string().optional(),
});

function signupForm(deps: HttpDeps, now: Date, values: { email?: string; name?: string; timezone?: string } = {}, error?: string): Html {
  // The page at / is the default form (sequences/forms.ts), posting to /subscribe as it always has.
  const form = deps.forms?.().defaultForm;
  const seq = (form?.sequence ? deps.engine.getSequence(form.sequence) : undefined) ?? deps.engine.defaultSequence;
  // The default sequence may fail to load (a broken edit at start): the page stays branded
  // from sequences/index.ts and signups wait for the course.
  const zone = values.timezone || seq?.defaultTimezone || deps.site?.defaultTimezone || "UTC";
  const intro = seq
    ? html`<p>A free email course in ${seq.steps.length} short emails. We'll send them in your own time zone, and you can pause or leave with one click.</p>`
    : html`<p>A free email course from ${organization(deps)}. We'll send it in your own time zone, and you can pause or leave with one click.</p>`;
  return html`<h1>${form?.title ?? seq?.name ?? `Sign up: ${organization(deps)}`}</h1>
${intro}
${error ? html`<p class="error" role="alert" id="form-error">${error}</p>` : ""}
<form method="post" action="/subscribe" novalidate${error ? html` aria-describedby="form-error"` : ""}>
<input type="hidden" name="csrf" value="${csrfToken(deps.secret, "signup", now)}">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="email" required value="${values.email ?? ""}">
<label for="name">First name <span class="hint">(optional)</span></label>
<input id="name" name="name" type="text" autocomplete="given-name" maxlength="100" value="${values.name ?? ""}">
<label for="timezone">Time zone</label>
${zoneSelect(zone, now)}
${deps.lifecycle
  .topicList()
  .filter((t) => t.askAtSignup)
  .map(
    (t) =>
      html`<p class="check"><input id="topic_${t.id}" name="topic_${t.id}" type="checkbox" value="yes"><label for="topic_${t.id}"><strong>${t.name}</strong> <span class="hint">(optional)</span><br>${t.description}</label></p>`,
  )}
<div class="hp" aria-hidden="true"><label for="website">Leave this empty</label><input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<button type="submit">${form?.button ?? "Send me the course"}</button>
</form>
<p class="hint">We use your address only for what you ask for here. Every email has an unsubscribe link.</p>`;
}

export function signupRoutes(): Hono<Env> {
  const app = new Hono<Env>();
  let perIp: WindowLimiter | null = null;
  let perIpMax = Number.NaN;

  app.get("/", (c) => {
    const deps = c.get("deps");
    return respondPage(c, 200, "Sign up", signupForm(deps, deps.now()), TZ_SCRIPT);
  });

  /** One budget per IP for everything that can send a confirmation email (signup and resend). */
  const overIpLimit = (c: Context<Env>, now: Date) => {
    const max = c.get("deps").signupsPerIp ?? 30;
    if (max !== perIpMax) [perIp, perIpMax] = [new WindowLimiter(max, 10 * 60_000), max];
    return !perIp!.hit(clientIp(c), now.getTime());
  };

  /*
   * Cross-site requests. No route has cookies or sessions, so the risk is a stranger's page
   * making a visitor's browser act (sign someone up from the visitor's IP):
   * - POST /subscribe: JSON only with Content-Type: application/json, which a browser sends
   *   cross-site only after a CORS preflight that drip never answers; and its Origin, when
   *   sent, must be this site. Every other body (form, multipart, text/plain, none) needs the
   *   page's CSRF token and the Origin check. Accept only picks the format of the answer.
   * - POST /confirm/resend: a page form, so the token and the Origin check.
   * - GET /confirm/:token changes nothing (mail scanners open links); POST /confirm/:token
   *   needs the signed, expiring link token, which only the address's inbox receives, plus the
   *   page's form token and the Origin check (see the route).
   * - POST /unsubscribe/:token and /preferences/:token: see manage.ts.
   * - POST /webhooks/resend and /api/events: see hooks.ts (a signature or a key, never ambient).
   */
  app.post("/subscribe", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const jsonBody = isJsonBody(c);
    const json = wantsJson(c); // the answer's format only
    if (overIpLimit(c, now)) {
      return json
        ? c.json({ error: "too many signups from this address: try again in a few minutes" }, 429)
        : respondPage(c, 429, "Too many attempts", html`<h1>Too many attempts</h1><p>Please wait a few minutes and try again.</p>`);
    }
    if (jsonBody && !fromThisSite(c)) return c.json({ error: "signups from another site's pages are refused: use the form on this site" }, 403);
    let raw: unknown;
    try {
      raw = jsonBody ? await c.req.json() : await c.req.parseBody();
    } catch {
      return json
        ? c.json({ error: "the body is not valid JSON" }, 400)
        : respondPage(c, 400, "Sign up", signupForm(deps, now, {}, "The form could not be read. Please try again."));
    }
    const fields = (raw !== null && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
    const typed = { email: text(fields.email), name: text(fields.name), timezone: text(fields.timezone) };
    if (!jsonBody && !isGenuineForm(c, "signup", fields.csrf)) {
      return json
        ? c.json(
            { error: "this form has expired or did not come from this site: send Content-Type: application/json, or the page's form with its csrf field" },
            403,
          )
        : respondPage(c, 403, "Sign up", signupForm(deps, now, typed, "This form has expired. Please submit it again."), TZ_SCRIPT);
    }
    const parsed = signupBody.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = String(issue.path[0] ?? "body");
      const message = field === "email" ? "Please enter a valid email address." : `${field}: ${issue.message}`;
      if (json) return c.json({ error: message, field }, 400);
      return respondPage(c, 400, "Sign up", signupForm(deps, now, { email: typed.email, name: typed.name }, message), TZ_SCRIPT);
    }
    const form = parsed.data;
    // A filled honeypot is a bot: it gets the same answer as everyone, and nothing happens.
    if (!form.website) await signUp(deps, { email: form.email, name: form.name, timezone: form.timezone }, clientIp(c), now, tickedTopics(raw));
    return json ? c.json({ ok: true, message: CHECK_INBOX }) : respondPage(c, 200, "Check your inbox", checkInboxPage(deps, form.email));
  });

  /** Each named form on its own page; the snippet on the blog posts here too (see forms.ts). */
  app.get("/f/:id", (c) => {
    const deps = c.get("deps");
    const form = deps.forms?.().getForm(c.req.param("id"));
    if (!form) return c.notFound();
    return respondPage(c, 200, form.title, hostedForm(deps, form, deps.now()), TZ_SCRIPT);
  });

  app.post("/f/:id", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const form = deps.forms?.().getForm(c.req.param("id"));
    if (!form) return c.notFound();
    if (overIpLimit(c, now)) return respondPage(c, 429, "Too many attempts", html`<h1>Too many attempts</h1><p>Please wait a few minutes and try again.</p>`);
    const fields = (await c.req.parseBody().catch(() => ({}))) as Record<string, unknown>;
    const typed = { email: text(fields.email), name: text(fields.name), timezone: text(fields.timezone) };
    const genuine = checkFormPost(c, form, fields);
    if (!genuine.ok) return respondPage(c, genuine.status, form.title, hostedForm(deps, form, now, typed, genuine.why), TZ_SCRIPT);
    const parsed = formFields(fields);
    if (!parsed.ok) {
      const message = parsed.field === "email" ? "Please enter a valid email address." : `Please check the ${parsed.field} field.`;
      return respondPage(c, 400, form.title, hostedForm(deps, form, now, typed, message), TZ_SCRIPT);
    }
    // A filled honeypot is a bot: it gets the same answer as everyone, and nothing happens.
    if (!text(fields.website)) {
      const res = await deps.lifecycle.signUp({ ...parsed.input, tags: [] }, { source: "signup form", ip: clientIp(c), form: form.id }, now);
      if (res === "queued") deps.afterSignup?.();
    }
    return thankYou(c, form, parsed.input.email);
  });

  app.post("/confirm/resend", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const email = subscriberInputSchema.shape.email.safeParse(body.email);
    if (!isGenuineForm(c, "resend", body.csrf)) return respondPage(c, 403, "Link not valid", resendForm(deps, now, "This form has expired. Please try again."));
    if (overIpLimit(c, now)) return respondPage(c, 429, "Too many attempts", html`<h1>Too many attempts</h1><p>Please wait a few minutes and try again.</p>`);
    if (!email.success) return respondPage(c, 400, "Link not valid", resendForm(deps, now, "Please enter a valid email address."));
    await signUp(deps, { email: email.data, name: "", timezone: "" }, clientIp(c), now);
    return respondPage(c, 200, "Check your inbox", checkInboxPage(deps, email.data));
  });

  /*
   * The link in the confirmation email. Mail scanners (Microsoft Defender Safe Links and
   * others) open every link in an incoming email, and some run the page's scripts, so
   * opening the link changes nothing: GET shows one "Confirm my subscription" button, and
   * only its POST confirms. The link token alone is not enough for the POST (a scanner has
   * it, and could post the URL back): the POST also needs the page's form token (scoped to
   * this link token, valid for three hours) and, when the browser sends one, this site's
   * Origin. The page does not submit itself with JavaScript: a scanner that runs scripts
   * would then confirm too, and one tap is little to ask of the reader.
   */
  app.get("/confirm/:token", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const token = c.req.param("token");
    const check = await confirmLinkCheck(deps, token, now);
    if (!check.ok) return respondPage(c, 400, "Link not valid", resendForm(deps, now, check.why));
    const preview = await deps.lifecycle.confirmPreview(check.subscriberId, check.issuedAt);
    if (preview.kind === "gone") return goneAnswer(c);
    if (preview.kind === "already") return alreadyAnswer(c);
    return respondPage(c, 200, "Confirm your subscription", confirmButtonPage(deps, token, now, preview));
  });

  app.post("/confirm/:token", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const token = c.req.param("token");
    const check = await confirmLinkCheck(deps, token, now);
    if (!check.ok) return respondPage(c, 400, "Link not valid", resendForm(deps, now, check.why));
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (!isGenuineForm(c, `confirm:${token}`, body.csrf)) {
      const preview = await deps.lifecycle.confirmPreview(check.subscriberId, check.issuedAt);
      if (preview.kind === "gone") return goneAnswer(c);
      if (preview.kind === "already") return alreadyAnswer(c);
      return respondPage(
        c,
        403,
        "Confirm your subscription",
        confirmButtonPage(deps, token, now, preview, "Nothing was confirmed yet: please press the button again."),
      );
    }
    const result = await deps.lifecycle.confirm(check.subscriberId, check.issuedAt, now, { ip: clientIp(c) });
    if (result.kind === "gone") return goneAnswer(c);
    if (result.kind === "already") return alreadyAnswer(c);
    if (result.kind === "returned") {
      const subscriber = await deps.store.getSubscriber(check.subscriberId);
      // Say what really happens: the course resumes where it stopped, or there is nothing left to send.
      const next = result.nextDueAt;
      const when =
        next === null
          ? html`You had already received every email of the course, so there is nothing more to send for now.`
          : next.getTime() <= now.getTime() + 10 * 60_000
            ? html`The course picks up where you left off: your next email is on its way and should arrive in the next few minutes.`
            : html`The course picks up where you left off: your next email arrives ${formatLocal(next, subscriber?.timezone || "UTC")} (your time).`;
      return respondPage(
        c,
        200,
        "Welcome back",
        html`<h1>Welcome back</h1><p>${when} You can pause or leave at any time from the link at the bottom of every email.</p>`,
      );
    }
    return respondPage(
      c,
      200,
      "You're in",
      html`<h1>You're in!</h1><p>The first email of the course is on its way: look for it in the next few minutes. The rest follow on their days, in your time zone.</p>`,
    );
  });

  return app;
}

type LinkCheck = { ok: true; subscriberId: string; issuedAt: Date } | { ok: false; why: string };

/** A confirmation link's token: valid, unexpired, and its subscriber still exists. */
async function confirmLinkCheck(deps: HttpDeps, token: string, now: Date): Promise<LinkCheck> {
  const check = verifyToken(deps.secret, "confirm", token, now);
  if (!check.ok) return { ok: false, why: check.reason === "expired" ? "This confirmation link has expired." : "This confirmation link is not valid." };
  if (!(await deps.store.getSubscriber(check.subscriberId))) return { ok: false, why: "This link no longer works." };
  return { ok: true, subscriberId: check.subscriberId, issuedAt: check.issuedAt ?? now };
}

const goneAnswer = (c: Context<Env>) =>
  respondPage(
    c,
    410,
    "Not subscribed",
    html`<h1>You're not subscribed</h1><p>This address left the course after this link was sent, so we won't write to it. You can <a href="/">sign up again</a> at any time.</p>`,
  );

const alreadyAnswer = (c: Context<Env>) =>
  respondPage(
    c,
    200,
    "You're in",
    html`<h1>You're already in</h1><p>This address is already confirmed: the course emails arrive on their days, in your time zone. There is nothing more to do.</p>`,
  );

/** The page behind the link: one button, which POSTs the page's form token to the same URL. */
function confirmButtonPage(deps: HttpDeps, token: string, now: Date, who: { kind: "first" | "returning"; email: string }, error?: string): Html {
  const intro =
    who.kind === "returning"
      ? html`<h1>Come back to the course?</h1><p>Press the button to start receiving the course at <strong>${who.email}</strong> again, from where you left off.</p>`
      : html`<h1>One last step</h1><p>Press the button to start the course at <strong>${who.email}</strong>.</p>`;
  return html`${intro}${error ? html`<p class="error" role="alert">${error}</p>` : ""}
<form method="post" action="/confirm/${token}"><input type="hidden" name="csrf" value="${csrfToken(deps.secret, `confirm:${token}`, now)}"><button type="submit">Confirm my subscription</button></form>
<p class="hint">Didn't sign up? Close this page: nothing happens unless you press the button.</p>`;
}

function resendForm(deps: HttpDeps, now: Date, why: string): Html {
  return html`<h1>Let's get you a new link</h1><p>${why} Enter your email address and we'll send a fresh confirmation link.</p>
<form method="post" action="/confirm/resend"><input type="hidden" name="csrf" value="${csrfToken(deps.secret, "resend", now)}">
<label for="email">Email address</label><input id="email" name="email" type="email" autocomplete="email" required>
<button type="submit">Send a new link</button></form>
<p class="hint">Still stuck? ${writeTo(deps, { sentenceStart: true })} and we'll sort it out.</p>`;
}

/**
 * Record consent and queue a confirmation, through the lifecycle door: a known address
 * changes in nothing before it is confirmed, and an unsubscribed one stays unsubscribed
 * (at most one confirmation email a month reaches it).
 */
/** Topics the reader ticked: form fields topic_<id>=yes, or JSON {topics: [id…]}; never ticked by default. */
function tickedTopics(raw: unknown): string[] {
  if (!raw || typeof raw !== "object") return [];
  const body = raw as Record<string, unknown>;
  const fromForm = Object.keys(body)
    .filter((k) => k.startsWith("topic_") && body[k] === "yes")
    .map((k) => k.slice(6));
  const fromJson = Array.isArray(body.topics) ? body.topics.filter((t): t is string => typeof t === "string") : [];
  return [...new Set([...fromForm, ...fromJson])];
}

async function signUp(deps: HttpDeps, input: { email: string; name: string; timezone: string }, ip: string, now: Date, topics: string[] = []): Promise<void> {
  const res = await deps.lifecycle.signUp({ ...input, tags: [] }, { source: "signup form", ip, topics }, now);
  if (res === "queued") deps.afterSignup?.();
}
