/**
 * Named signup forms: `/f/<id>` serves each form on drip's own page, and `drip form snippet
 * <id>` prints the same form as plain HTML for the clinic's blog, which posts it to drip
 * across origins, with no JavaScript.
 *
 * Cross-site posting, and why it is safe (no route has cookies or sessions: the risk is a
 * stranger's page making a visitor's browser sign someone up):
 * - drip's own page carries the hourly form token (scoped to the form) and must come from
 *   this site, as every page form does.
 * - the snippet carries a signed form token (an HMAC of the form id with DRIP_SECRET: it
 *   proves the snippet came from `drip form snippet`, and never expires, since it lives in a
 *   blog post), and the browser's Origin must be one staff allowed: DRIP_SITE_URL's or one
 *   of DRIP_FORM_ORIGINS. Browsers always send Origin on a cross-origin POST and a page
 *   cannot forge it, so a copied snippet on another site is refused. A client that sends no
 *   Origin is not a browser acting for a visitor; it meets the honeypot, the per-IP limit and
 *   the per-address confirmation cap, as JSON signups do.
 */
import type { Context } from "hono";
import { type Form, formTopics } from "../forms/define.ts";
import type { Topic } from "../newsletters/topics.ts";
import { subscriberInputSchema } from "../lifecycle/input.ts";
import { mac, safeEqual } from "../tokens.ts";
import { type Env, type HttpDeps, isGenuineForm, respondPage } from "./context.ts";
import { type Html, esc, html } from "./html.ts";
import { csrfToken, sameOrigin, siteOrigins } from "./security.ts";
import { ZONE_CHOICES, zoneSelect } from "./zones.ts";

/** The snippet's token: HMAC of the form id. Same secret, same id: the same token (a snippet stays valid). */
export const formToken = (secret: string, formId: string) => mac(secret, `form-snippet:${formId}`);

const text = (v: unknown) => (typeof v === "string" ? v : "");

/**
 * The form's topics as checkboxes, each its own and unticked (consent must be explicit):
 * "Also send me …" joins when the reader confirms; "When the course ends, send me …" records
 * consent now, and the course's hand-off automation joins them at its end. A topic no longer
 * declared is left out.
 */
export function topicChoices(form: Form, declared: readonly Topic[]): { topic: Topic; later: boolean; label: string }[] {
  return formTopics(form).flatMap(({ id, later }) => {
    const topic = declared.find((t) => t.id === id);
    if (!topic) return [];
    return [{ topic, later, label: `${later ? "When the course ends, send me" : "Also send me"} “${topic.name}”. ${topic.description}` }];
  });
}

/** The topics a reader ticked on this form (`topic_<id>=yes`), split into "join now" and "when the course ends". */
export function tickedFormTopics(form: Form, fields: Record<string, unknown>): { now: string[]; later: string[] } {
  const ticked = formTopics(form).filter((t) => fields[`topic_${t.id}`] === "yes");
  return { now: ticked.filter((t) => !t.later).map((t) => t.id), later: ticked.filter((t) => t.later).map((t) => t.id) };
}

/** The hosted page of a form (`/f/<id>`; `/` keeps its own long-standing page). */
export function hostedForm(deps: HttpDeps, form: Form, now: Date, values: { email?: string; name?: string; timezone?: string } = {}, error?: string): Html {
  const zone = values.timezone || (form.sequence ? deps.engine.getSequence(form.sequence) : deps.engine.defaultSequence)?.defaultTimezone || "UTC";
  return html`<h1>${form.title}</h1>
${form.intro ? html`<p>${form.intro}</p>` : ""}
${error ? html`<p class="error" role="alert" id="form-error">${error}</p>` : ""}
<form method="post" action="/f/${form.id}" novalidate>
<input type="hidden" name="csrf" value="${csrfToken(deps.secret, `form:${form.id}`, now)}">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="email" required value="${values.email ?? ""}">
${form.fields.includes("name") ? html`<label for="name">First name <span class="hint">(optional)</span></label><input id="name" name="name" type="text" autocomplete="given-name" maxlength="100" value="${values.name ?? ""}">` : ""}
${form.fields.includes("timezone") ? html`<label for="timezone">Time zone</label>${zoneSelect(zone, now)}` : ""}
${topicChoices(form, deps.lifecycle.topicList()).map(
  (c) =>
    html`<p class="check"><input id="topic_${c.topic.id}" name="topic_${c.topic.id}" type="checkbox" value="yes"> <label for="topic_${c.topic.id}">${c.label}</label></p>`,
)}
<div class="hp" aria-hidden="true"><label for="website">Leave this empty</label><input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<button type="submit">${form.button ?? "Sign up"}</button>
</form>
<p class="hint">We use your address only for this. Every email has an unsubscribe link.</p>`;
}

/**
 * The copy-paste HTML for the clinic's blog: a plain <form> posting to drip (no script, no
 * stylesheet: it takes the blog's styles), with the signed form token and the honeypot. The
 * time-zone list names places only (offsets change with daylight saving; the blog page is
 * static); the sequence's own zone is chosen until the reader picks theirs.
 */
export function formSnippet(form: Form, opts: { publicUrl: string; secret: string; defaultZone: string; topics?: readonly Topic[] }): string {
  const p = `drip-${form.id}`;
  const zones = ZONE_CHOICES.map((z) => `<option value="${esc(z)}"${z === opts.defaultZone ? " selected" : ""}>${esc(z.replace(/_/g, " "))}</option>`).join("");
  const lines = [
    `<!-- Signup form "${form.id}" from drip (drip form snippet ${form.id}). Works without JavaScript. -->`,
    `<form method="post" action="${esc(`${opts.publicUrl}/f/${form.id}`)}" accept-charset="utf-8">`,
    `  <input type="hidden" name="form_token" value="${esc(formToken(opts.secret, form.id))}">`,
    `  <p><label for="${p}-email">Email address</label><br><input id="${p}-email" name="email" type="email" autocomplete="email" required></p>`,
    form.fields.includes("name")
      ? `  <p><label for="${p}-name">First name (optional)</label><br><input id="${p}-name" name="name" type="text" autocomplete="given-name" maxlength="100"></p>`
      : "",
    form.fields.includes("timezone")
      ? `  <p><label for="${p}-timezone">Time zone</label><br><select id="${p}-timezone" name="timezone">${zones}</select></p>`
      : "",
    ...topicChoices(form, opts.topics ?? []).map(
      (c) =>
        `  <p><input id="${p}-topic-${c.topic.id}" name="topic_${c.topic.id}" type="checkbox" value="yes"> <label for="${p}-topic-${c.topic.id}">${esc(c.label)}</label></p>`,
    ),
    `  <div style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden" aria-hidden="true"><label for="${p}-website">Leave this empty</label><input id="${p}-website" name="website" type="text" tabindex="-1" autocomplete="off"></div>`,
    `  <button type="submit">${esc(form.button ?? "Sign up")}</button>`,
    "</form>",
  ];
  return `${lines.filter(Boolean).join("\n")}\n`;
}

export type FormPost = { ok: true } | { ok: false; status: 403; why: string };

/** Is this POST to /f/<id> genuine: drip's own page (hourly token, this site), or the snippet (signed token, an allowed origin)? */
export function checkFormPost(c: Context<Env>, form: Form, fields: Record<string, unknown>): FormPost {
  const deps = c.get("deps");
  if (typeof fields.csrf === "string" && fields.csrf) {
    return isGenuineForm(c, `form:${form.id}`, fields.csrf) ? { ok: true } : { ok: false, status: 403, why: "This form has expired. Please submit it again." };
  }
  const token = text(fields.form_token);
  if (!token || !safeEqual(token, formToken(deps.secret, form.id)))
    return { ok: false, status: 403, why: "This form is not valid: copy it again with `drip form snippet`." };
  const allowed = [...siteOrigins(c.req.url, deps.publicUrl), ...(deps.formOrigins ?? [])];
  if (!sameOrigin(c.req.header("origin"), allowed))
    return { ok: false, status: 403, why: "Signups from this page are not accepted: the site it is on is not one drip allows (DRIP_FORM_ORIGINS)." };
  return { ok: true };
}

/** What a reader sees after posting: the form's own text on drip's page, or its redirect. */
export function thankYou(c: Context<Env>, form: Form, email: string) {
  if ("redirect" in form.thankYou) return c.redirect(form.thankYou.redirect, 303);
  return respondPage(
    c,
    200,
    "Check your inbox",
    html`<h1>Check your inbox</h1><p>${form.thankYou.text}</p><p>We sent it to <strong>${email}</strong>. Not there in a few minutes? Look in your spam or junk folder.</p>`,
  );
}

/** Parse and validate the typed fields; null (with the answer to give) when they are not usable. */
export function formFields(fields: Record<string, unknown>) {
  const parsed = subscriberInputSchema.pick({ email: true, name: true, timezone: true }).safeParse({
    email: text(fields.email),
    name: text(fields.name),
    timezone: text(fields.timezone),
  });
  return parsed.success ? { ok: true as const, input: parsed.data } : { ok: false as const, field: String(parsed.error.issues[0]?.path[0] ?? "email") };
}
