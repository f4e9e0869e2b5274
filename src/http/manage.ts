/**
 * The links in every email: one-click unsubscribe (RFC 8058) and the preferences page.
 * Both are reached through an HMAC token scoped to one subscriber: guessing or altering a
 * token reaches nobody.
 */
import { type Context, Hono } from "hono";
import { subscriberInputSchema } from "../lifecycle/input.ts";
import { canonicalTimeZone } from "../schedule/index.ts";
import { NEWSLETTER_STEP, type Subscriber, issueSequenceId } from "../store/types.ts";
import { sendId as sendIdOf } from "../store/shared.ts";
import { verifyToken } from "../tokens.ts";
import { type Env, type HttpDeps, isGenuineForm, mediaType, organization, respondPage, retryWhileBusy, writeTo } from "./context.ts";
import { type Html, html, page } from "./html.ts";
import { csrfToken } from "./security.ts";
import { zoneSelect } from "./zones.ts";

async function subscriberFor(deps: HttpDeps, token: string): Promise<Subscriber | null> {
  const check = verifyToken(deps.secret, "manage", token, deps.now());
  return check.ok ? deps.store.getSubscriber(check.subscriberId) : null;
}

const invalidLink = (deps: HttpDeps) =>
  html`<h1>This link is not valid</h1><p>It may have been cut short when it was copied. Use the link at the bottom of any of our emails, or ${writeTo(deps)} and we'll sort it out.</p>`;
const unsubscribedPage = html`<h1>You're unsubscribed</h1><p>We won't send you any more emails. If this was a mistake, you can <a href="/">sign up again</a> at any time.</p>`;

export function manageRoutes(): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/unsubscribe/:token", async (c) => {
    const deps = c.get("deps");
    const token = c.req.param("token");
    const subscriber = await subscriberFor(deps, token);
    if (!subscriber) return respondPage(c, 400, "Link not valid", invalidLink(deps));
    if (subscriber.status === "unsubscribed") return respondPage(c, 200, "Unsubscribed", unsubscribedPage);
    // A newsletter's link leaves its topic only; the page offers leaving everything as well.
    const topic = topicOf(deps, c.req.query("topic"));
    if (topic) {
      const here = `/unsubscribe/${token}?${new URLSearchParams(c.req.query()).toString()}`;
      return respondPage(
        c,
        200,
        "Unsubscribe",
        html`<h1>Stop ${topic.name}?</h1><p>No more ${topic.name} to <strong>${subscriber.email}</strong>. Anything else you get from us stays as it is.</p>
<form method="post" action="${here}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Stop ${topic.name}</button></form>
<form method="post" action="/unsubscribe/${token}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit" class="secondary">Unsubscribe from everything</button></form>
<p class="hint"><a href="/preferences/${token}">All your preferences</a></p>`,
      );
    }
    // GET never unsubscribes: mail scanners open links. The button POSTs what RFC 8058 asks for.
    return respondPage(
      c,
      200,
      "Unsubscribe",
      html`<h1>Unsubscribe?</h1><p>Stop all emails to <strong>${subscriber.email}</strong>.</p>
<form method="post" action="/unsubscribe/${token}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
<p class="hint">Only want a break? <a href="/preferences/${token}">Pause the course instead</a>.</p>`,
    );
  });

  // RFC 8058 §3.1: mailbox providers POST "List-Unsubscribe=One-Click" (urlencoded or multipart)
  // with no cookies and no auth; the answer is 200 and no redirect. It takes effect at once.
  // Cross-site POSTs must work here (they come from the mailbox provider), and are safe: the
  // credential is the HMAC token in the URL, which only the reader's emails carry; there are
  // no cookies for another page to ride on, and the worst a forged POST can do is unsubscribe
  // the holder of a token it already has. No CSRF token, no Origin check, by design.
  app.post("/unsubscribe/:token", async (c) => {
    const deps = c.get("deps");
    const body = await oneClickBody(c);
    if (body !== "One-Click") {
      return respondPage(
        c,
        400,
        "Unsubscribe",
        html`<h1>Unsubscribe</h1><p>The request did not say <code>List-Unsubscribe=One-Click</code>. Use the button on <a href="/unsubscribe/${c.req.param("token")}">this page</a>.</p>`,
      );
    }
    const check = verifyToken(deps.secret, "manage", c.req.param("token"), deps.now());
    if (!check.ok) return respondPage(c, 400, "Link not valid", invalidLink(deps));
    // Never lost to a busy database: retried for a while, then 503 with Retry-After (providers retry).
    const now = deps.now();
    const topic = topicOf(deps, c.req.query("topic"));
    if (topic) {
      const subscriber = await deps.store.getSubscriber(check.subscriberId);
      if (!subscriber) return respondPage(c, 400, "Link not valid", invalidLink(deps));
      // One-click from a newsletter: leaves this topic, credited to the issue's send.
      const issue = c.req.query("issue");
      const delivery = issue ? await deps.store.getEnrollment(subscriber.id, issueSequenceId(issue)) : null;
      const sendId = delivery ? sendIdOf(delivery.id, delivery.round, NEWSLETTER_STEP) : null;
      const sent = sendId ? await deps.store.getSend(sendId) : null;
      await retryWhileBusy(deps, () => deps.lifecycle.leaveTopic(subscriber, topic.id, now, "one-click", sent?.id ?? null));
      const token = c.req.param("token");
      return respondPage(
        c,
        200,
        "Unsubscribed",
        html`<h1>You've left ${topic.name}</h1><p>We won't send you ${topic.name} any more.</p>
<form method="post" action="/unsubscribe/${token}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit" class="secondary">Unsubscribe from everything</button></form>
<p class="hint"><a href="/preferences/${token}">All your preferences</a></p>`,
      );
    }
    // The door reads the subscriber in its own transaction: no read before it. Only when it
    // did nothing ("already") is it asked whether there is anyone (a forgotten subscriber's link is not valid).
    const outcome = await retryWhileBusy(deps, () => deps.lifecycle.unsubscribe({ id: check.subscriberId }, now, "one-click"));
    if (outcome === "already" && !(await deps.store.getSubscriber(check.subscriberId))) return respondPage(c, 400, "Link not valid", invalidLink(deps));
    return unsubscribedResponse(c);
  });

  app.get("/preferences/:token", async (c) => {
    const deps = c.get("deps");
    const subscriber = await subscriberFor(deps, c.req.param("token"));
    if (!subscriber) return respondPage(c, 400, "Link not valid", invalidLink(deps));
    return respondPage(c, 200, "Your preferences", await preferencesPage(deps, c.req.param("token"), subscriber, c.req.query("done")));
  });

  // Cross-site: a page form, so a CSRF token scoped to this link token plus the Origin check.
  app.post("/preferences/:token", async (c) => {
    const deps = c.get("deps");
    const now = deps.now();
    const token = c.req.param("token");
    const subscriber = await subscriberFor(deps, token);
    if (!subscriber) return respondPage(c, 400, "Link not valid", invalidLink(deps));
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (!isGenuineForm(c, `prefs:${token}`, body.csrf)) {
      return respondPage(c, 403, "Your preferences", await preferencesPage(deps, token, subscriber, undefined, "This form has expired. Please try again."));
    }
    const action = String(body.action ?? "");
    switch (action) {
      case "pause":
        await deps.lifecycle.pause(subscriber);
        break;
      case "resume":
        await deps.lifecycle.resume(subscriber);
        break;
      case "leave":
        await deps.lifecycle.leaveCourse(subscriber);
        break;
      case "topic-join":
      case "topic-leave": {
        const topic = topicOf(deps, String(body.topic ?? ""));
        if (!topic) return respondPage(c, 400, "Your preferences", await preferencesPage(deps, token, subscriber, undefined, "Unknown topic."));
        if (action === "topic-join") await deps.lifecycle.joinTopic(subscriber, topic.id, { source: "preferences page" }, now);
        else await deps.lifecycle.leaveTopic(subscriber, topic.id, now, "preferences");
        break;
      }
      case "unsubscribe":
        await deps.lifecycle.unsubscribe(subscriber, now, "preferences");
        return respondPage(c, 200, "Unsubscribed", unsubscribedPage);
      case "profile": {
        // Any valid IANA zone, canonical or legacy (Asia/Calcutta, US/Eastern, Etc/UTC), not only the listed ones.
        const parsed = subscriberInputSchema.pick({ name: true, timezone: true }).safeParse(body);
        if (!parsed.success) {
          const msg = parsed.error.issues[0]?.message ?? "the details are not valid";
          return respondPage(c, 400, "Your preferences", await preferencesPage(deps, token, subscriber, undefined, `Not saved: ${msg}.`));
        }
        // A save that did not touch the zone never changes it: an empty or missing field, or the
        // current zone posted back (under any spelling: the field offers Asia/Kolkata for a
        // stored Asia/Calcutta), leave it (and the planned sends) as they are. A new zone is
        // stored under its canonical name (the schema's transform).
        const posted = parsed.data.timezone;
        const moved = posted !== "" && posted !== (canonicalTimeZone(subscriber.timezone) ?? subscriber.timezone);
        await deps.lifecycle.updateProfile(subscriber, { name: parsed.data.name, ...(moved ? { timezone: posted } : {}) });
        break;
      }
      default:
        return respondPage(c, 400, "Your preferences", await preferencesPage(deps, token, subscriber, undefined, "Unknown action."));
    }
    // Post/redirect/get: a reload does not repeat the action.
    return c.redirect(`/preferences/${token}?done=${action}`, 303);
  });

  return app;
}

/** A Map, not an object: `?done=constructor` must find nothing, not Object's constructor. */
const DONE = new Map<string, string>([
  ["pause", "The course is paused. Resume it whenever you like."],
  ["resume", "Welcome back: the course continues."],
  ["leave", "You've left the course. You're still subscribed to our occasional newsletter."],
  ["profile", "Saved. Upcoming emails are planned in your time zone."],
  ["topic-join", "Done: you're on the list."],
  ["topic-leave", "Done: you've left that list."],
]);

/**
 * The one-click body's List-Unsubscribe value (null when it cannot be read). An urlencoded body
 * (what mailbox providers send) is read as text; multipart goes through Hono's form parser.
 * A repeated field counts by its last value, as Hono's parseBody does.
 */
async function oneClickBody(c: Context<Env>): Promise<string | null> {
  try {
    if (mediaType(c) === "application/x-www-form-urlencoded") return new URLSearchParams(await c.req.text()).getAll("List-Unsubscribe").at(-1) ?? null;
    const body = await c.req.parseBody();
    const value = body["List-Unsubscribe"];
    return typeof value === "string" ? value : null;
  } catch {
    return null;
  }
}

/** The unsubscribed page is the same for everyone: rendered once per organization name. */
const unsubscribedPages = new Map<string, string>();
function unsubscribedResponse(c: Context<Env>) {
  const org = organization(c.get("deps"));
  let text = unsubscribedPages.get(org);
  if (text === undefined) {
    text = page({ title: "Unsubscribed", organization: org, body: unsubscribedPage });
    if (unsubscribedPages.size > 16) unsubscribedPages.clear();
    unsubscribedPages.set(org, text);
  }
  return c.html(text, 200);
}

/** A declared topic by id, or null (a made-up ?topic= is ignored). */
function topicOf(deps: HttpDeps, id: string | undefined) {
  return id ? (deps.lifecycle.topicList().find((t) => t.id === id) ?? null) : null;
}

/** The done messages that say the state themselves (so the state is not said again below them). */
const STATE_AFTER = new Map<string, "paused" | "active" | "none">([
  ["pause", "paused"],
  ["resume", "active"],
  ["leave", "none"],
]);

async function preferencesPage(deps: HttpDeps, token: string, s: Subscriber, done?: string, error?: string): Promise<Html> {
  const enrollments = await deps.store.listEnrollments(s.id);
  const paused = enrollments.some((e) => e.status === "paused");
  const active = enrollments.some((e) => e.status === "active");
  const csrf = csrfToken(deps.secret, `prefs:${token}`, deps.now());
  const button = (action: string, label: string, secondary = false) =>
    html`<form method="post" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="${action}"><button type="submit"${secondary ? html` class="secondary"` : ""}>${label}</button></form>`;
  const state =
    s.status === "unsubscribed"
      ? "You're unsubscribed."
      : paused
        ? "Your course is paused."
        : active
          ? "Your course is running."
          : "You're not in a course right now.";
  // Said once: after pausing, "The course is paused" stands for the state (if it still holds).
  const doneText = done && DONE.has(done) ? DONE.get(done) : undefined;
  const current = s.status === "unsubscribed" ? "unsubscribed" : paused ? "paused" : active ? "active" : "none";
  const stateSaid = doneText !== undefined && STATE_AFTER.get(done!) === current;
  return html`<h1>Your preferences</h1>
${doneText ? html`<p role="status">${doneText}</p>` : ""}${error ? html`<p class="error" role="alert">${error}</p>` : ""}
<p>For <strong>${s.email}</strong>${stateSaid ? "." : html`: ${state}`}</p>
${active ? button("pause", "Pause the course") : ""}${paused ? button("resume", "Resume the course") : ""}
${active || paused ? button("leave", "Leave the course, keep the newsletter", true) : ""}
${s.status !== "unsubscribed" ? await topicButtons(deps, s, csrf) : ""}
${s.status !== "unsubscribed" ? button("unsubscribe", "Unsubscribe from everything", true) : ""}
<hr><form method="post"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="profile">
<label for="name">First name</label><input id="name" name="name" type="text" maxlength="100" autocomplete="given-name" value="${s.name}">
<label for="timezone">Time zone</label>${zoneSelect(s.timezone, deps.now())}
<button type="submit">Save details</button></form>`;
}

/** One on/off switch per topic (newsletters/topics.ts): joining records consent from this page. */
async function topicButtons(deps: HttpDeps, s: Subscriber, csrf: string): Promise<Html> {
  const topics = deps.lifecycle.topicList();
  if (topics.length === 0) return html``;
  const status = new Map((await deps.store.listTopicMemberships(s.id)).map((m) => [m.topicId, m.status]));
  return html`<h2>Newsletters</h2>${topics.map((t) => {
    // "consented": asked for it when the course ends; withdrawing that is one press too.
    const later = status.get(t.id) === "consented";
    const on = status.get(t.id) === "joined" || later;
    const state = later ? "on when the course ends" : on ? "on" : "off";
    return html`<form method="post" class="topic"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="topic" value="${t.id}"><input type="hidden" name="action" value="${on ? "topic-leave" : "topic-join"}"><p><strong>${t.name}</strong>: ${state}. ${t.description}</p><button type="submit"${on ? html` class="secondary"` : ""}>${on ? `Stop ${t.name}` : `Send me ${t.name}`}</button></form>`;
  })}`;
}
