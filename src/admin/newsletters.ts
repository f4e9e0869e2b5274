/**
 * The dashboard's newsletter pages under /admin/newsletters: the issues with their status, one
 * issue's preview (sandboxed frame + text part), audience, test send to yourself, schedule at an
 * instant or at a local time in each reader's zone, send now, cancel, and results (clicks per
 * link, who has not received it and why). Every action calls the Newsletters service, the same
 * functions `drip newsletter …` calls; viewers read, editors and owners act; every action lands
 * in the audit log. Also the topic cards the overview and a subscriber's profile show.
 */
import type { Hono } from "hono";
import { DripError } from "../errors.ts";
import type { HttpDeps } from "../http/context.ts";
import type { Newsletters } from "../newsletters/service.ts";
import { isCalendarDate } from "../newsletters/when.ts";
import type { IssueReport, IssueSnapshot, Subscriber } from "../store/types.ts";
import { allows } from "./auth.ts";
import { type AdminEnv, type C, PREVIEW_CSP, audit, csrfFor, need, refuse, render } from "./routes.ts";
import { type Html, csrfField, html, n, pct, when } from "./views.ts";

const SAMPLE = 10;
/** How many of those who have not received an issue one page lists. */
const MISSING_PAGE = 500;
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

function service(c: C): Newsletters {
  const nl = c.get("deps").newsletters;
  if (!nl) throw new DripError("config", "newsletters are not set up in this process");
  return nl;
}

/** What staff read as an issue's state: not scheduled yet, draft, scheduled, sending, sent, cancelled. */
export function issueState(status: string, report: IssueReport | null): string {
  if (status === "file") return "not scheduled";
  if (status !== "scheduled" || !report) return status;
  if (report.pending > 0) return report.sent + report.skipped + report.failed > 0 ? "sending" : "scheduled";
  return report.recipients > 0 ? "sent" : "scheduled";
}

function describeSchedule(s: IssueSnapshot["schedule"]): string {
  if (!s) return "not scheduled";
  if (s.kind === "at") return `at ${s.at.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, "")} UTC`;
  return `at ${s.time} on ${s.date} in each reader's own time zone (where that had passed: ${s.passed === "now" ? "at once" : "the next day"})`;
}

/** An instant typed by staff: "2026-03-09 10:00" or "2026-03-09T10:00" (UTC), or ISO 8601 with Z or an offset. */
export function parseInstant(raw: string): Date | null {
  const s = raw.trim().replace(" ", "T");
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.test(s)) return null;
  const d = new Date(/(Z|[+-]\d{2}:\d{2})$/.test(s) ? s : `${s}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

const reportRows: [keyof IssueReport, string][] = [
  ["recipients", "Recipients"],
  ["pending", "Waiting to go out"],
  ["sent", "Sent"],
  ["skipped", "Skipped"],
  ["failed", "Failed or in doubt"],
  ["cancelled", "Cancelled"],
  ["delivered", "Delivered"],
  ["opened", "Opened"],
  ["clicked", "Clicked"],
  ["bounced", "Bounced"],
  ["complained", "Marked as spam"],
  ["unsubscribed", "Left the topic"],
];

const RATED = new Set<keyof IssueReport>(["delivered", "opened", "clicked", "bounced", "complained", "unsubscribed"]);

function resultsCard(id: string, r: IssueReport): Html {
  const links = Object.entries(r.clicksByLink).sort((a, b) => b[1] - a[1]);
  const skipped = Object.entries(r.skippedReasons);
  const missing = r.recipients - r.sent;
  return html`<div class="card" id="results"><h2>Results</h2>
  <div class="table-wrap"><table><tbody>${reportRows.map(
    ([k, label]) =>
      html`<tr><th scope="row">${label}</th><td class="n" data-report="${k}">${n(r[k] as number)}</td><td class="n muted">${RATED.has(k) ? pct(r[k] as number, r.sent) : ""}</td></tr>`,
  )}</tbody></table></div>
  <p class="muted">Rates are of emails sent.</p>
  ${skipped.length ? html`<h3>Why some were skipped</h3><ul>${skipped.map(([why, k]) => html`<li>${why}: ${n(k)}</li>`)}</ul>` : ""}
  <h3>Clicks per link</h3>${
    links.length
      ? html`<div class="table-wrap"><table id="clicks"><thead><tr><th scope="col">Link</th><th class="n" scope="col">Readers who clicked</th><th class="n" scope="col">Of sent</th></tr></thead><tbody>${links.map(
          ([link, k]) => html`<tr><td class="link">${link}</td><td class="n">${n(k)}</td><td class="n">${pct(k, r.sent)}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p>No clicks yet.</p>`
  }
  ${missing > 0 ? html`<p><a href="/admin/newsletters/${id}/missing">Who has not received it, and why (${n(missing)})</a></p>` : ""}</div>`;
}

/** The topics card of a subscriber's profile: each topic with consent; editors can turn one off. */
export async function subscriberTopicsCard(c: C, s: Pick<Subscriber, "id">): Promise<Html> {
  const deps = c.get("deps");
  const declared = deps.lifecycle.topicList();
  const memberships = await deps.store.listTopicMemberships(s.id);
  if (declared.length === 0 && memberships.length === 0) return html`<p class="muted">No topics (newsletter lists) are declared.</p>`;
  const editor = allows(c.get("staff")!.role, "editor");
  const token = csrfFor(c);
  const name = (id: string) => declared.find((t) => t.id === id)?.name ?? id;
  const rows = declared.map((t) => ({ id: t.id, m: memberships.find((x) => x.topicId === t.id) }));
  for (const m of memberships) if (!declared.some((t) => t.id === m.topicId)) rows.push({ id: m.topicId, m });
  return html`<h3>Topics</h3><ul id="topics">${rows.map(({ id, m }) => {
    if (!m) return html`<li data-topic="${id}">${name(id)}: <strong>off</strong> (never joined)</li>`;
    const consent = html`consent ${when(m.consentAt)} UTC via ${m.consentSource}`;
    if (m.status === "left") return html`<li data-topic="${id}">${name(id)}: <strong>off</strong> (left ${when(m.leftAt)} UTC; ${consent})</li>`;
    return html`<li data-topic="${id}">${name(id)}: <strong>on</strong> (${consent})${
      editor
        ? html` <form class="inline" method="post" action="/admin/subscribers/${s.id}/topics/${id}/leave">${csrfField(token)}<button type="submit" class="secondary">Turn off ${name(id)}</button></form>`
        : ""
    }</li>`;
  })}</ul>`;
}

/** Subscribers by topic for the overview: active readers joined to each declared topic. */
export async function topicsOverviewCard(deps: HttpDeps): Promise<Html> {
  const declared = deps.lifecycle.topicList();
  const counts = await deps.store.topicCounts();
  const ids = [...new Set([...declared.map((t) => t.id), ...counts.map((t) => t.topicId)])];
  if (ids.length === 0) return html``;
  return html`<div class="card"><h2>Subscribers by topic</h2><dl>${ids.map((id) => {
    const k = counts.find((x) => x.topicId === id);
    const t = declared.find((x) => x.id === id);
    return html`<div class="row"><dt>${t?.name ?? id}</dt><dd data-count="topics.${id}">${n(k?.subscribers ?? 0)}</dd></div>`;
  })}</dl><p class="muted">Active subscribers who joined the topic (and have not left it).</p></div>`;
}

export function newsletterRoutes(app: Hono<AdminEnv>): void {
  app.get("/admin/newsletters", need("viewer"), async (c) => {
    const nl = service(c);
    const { problems } = nl.files();
    const rows = await nl.list();
    return render(
      c,
      200,
      "Newsletters",
      html`<h1>Newsletters</h1>
      ${problems.length ? html`<div class="banner" role="alert">${problems.map((p) => html`<p>${p.file}: ${p.path ? `${p.path}: ` : ""}${p.message}</p>`)}</div>` : ""}
      <div class="card table-wrap"><table id="issues"><thead><tr><th scope="col">Issue</th><th scope="col">Topic</th><th scope="col">Status</th><th class="n" scope="col">Sent</th><th class="n" scope="col">Opened</th><th class="n" scope="col">Clicked</th><th scope="col">First out (UTC)</th></tr></thead><tbody>
      ${rows.map(
        (r) =>
          html`<tr data-issue="${r.id}"><td><a href="/admin/newsletters/${r.id}">${r.subject}</a><span class="rate">${r.id}${r.editedSinceScheduled ? " · file edited since scheduled" : ""}</span></td><td>${r.topicId}</td>
          <td data-col="status">${issueState(r.status, r.report)}</td><td class="n">${r.report ? html`${n(r.report.sent)} <span class="rate">of ${n(r.report.recipients)}</span>` : "–"}</td>
          <td class="n">${r.report ? html`${n(r.report.opened)}<span class="rate">${pct(r.report.opened, r.report.sent)}</span>` : "–"}</td><td class="n">${r.report ? html`${n(r.report.clicked)}<span class="rate">${pct(r.report.clicked, r.report.sent)}</span>` : "–"}</td>
          <td>${r.status === "scheduled" || r.status === "cancelled" ? when(r.publishedAt) : "–"}</td></tr>`,
      )}</tbody></table>${rows.length === 0 ? html`<p>No issues yet: add one as <code>newsletters/&lt;id&gt;.md</code>.</p>` : ""}</div>
      <p class="muted">Issues are Markdown files in <code>newsletters/</code>, reviewed in git; blog feeds add drafts. Scheduling stores a snapshot: editing the file afterwards changes nothing until you schedule again.</p>`,
      { section: "newsletters" },
    );
  });

  /** The reader a preview is for: a real subscriber by email, or the sample one. */
  async function previewReader(c: C): Promise<{ reader?: Subscriber; label: string } | null> {
    const email = c.req.query("email")?.trim();
    if (!email) return { label: "a sample reader" };
    const s = await c.get("deps").store.findSubscriberByEmail(email);
    return s ? { reader: s, label: s.email } : null;
  }

  app.get("/admin/newsletters/:id", need("viewer"), async (c) => {
    const deps = c.get("deps");
    const nl = service(c);
    const id = c.req.param("id");
    const who = await previewReader(c);
    if (!who) return refuse(c, 404, "No such subscriber", `No subscriber has the address ${c.req.query("email")}.`);
    const email = await nl.render(id, ...(who.reader ? [who.reader] : []));
    const stored = await deps.store.getIssue(id);
    const file = stored?.source === "file" || !stored ? nl.file(id) : null;
    const topicId = stored?.topicId ?? file?.topicId ?? "";
    const topic = nl.topics().find((t) => t.id === topicId);
    const report = stored && stored.status !== "draft" ? await deps.store.issueReport(id) : null;
    const status = stored?.status ?? "file";
    const audience = await nl.audience(id, SAMPLE);
    const editor = allows(c.get("staff")!.role, "editor");
    const token = csrfFor(c);
    const now = deps.now();
    const edited = Boolean(
      file && stored?.status === "scheduled" && (stored.subject !== file.subject || stored.preview !== file.preview || stored.bodyHtml !== file.bodyHtml),
    );
    const q = c.req.query("email") ? `?email=${encodeURIComponent(c.req.query("email")!)}` : "";
    const done = c.req.query("done");
    const notices: Record<string, string> = {
      test: `A test copy ([Test] in the subject) was sent to ${c.get("staff")!.email}. It is not counted in the results.`,
      scheduled: "Scheduled. The content is a snapshot: editing the file now changes nothing unless you schedule again.",
      sent: "Sending now: the scheduler sends it on its next run.",
      cancelled: "Cancelled: what had not gone out will not go out.",
    };
    const tomorrow = new Date(now.getTime() + 86_400_000).toISOString().slice(0, 10);
    const inAnHour = new Date(Math.ceil((now.getTime() + 3_600_000) / 900_000) * 900_000).toISOString().slice(0, 16).replace("T", " ");
    return render(
      c,
      200,
      email.subject,
      html`<h1>${email.subject}</h1>
      ${done && notices[done] ? html`<p class="notice" role="status">${notices[done]}</p>` : ""}
      ${edited ? html`<div class="banner" role="alert"><p>The file was edited after this issue was scheduled: what goes out is the scheduled version. Schedule again to send the edited one.</p></div>` : ""}
      <div class="grid">
        <div class="card"><h2>Issue</h2><dl>
        <dt>Id</dt><dd><code>${id}</code></dd><dt>Topic</dt><dd>${topic ? topic.name : topicId} <span class="muted">(${topicId})</span></dd>
        <dt>Status</dt><dd id="issue-status">${issueState(status, report)}</dd><dt>When</dt><dd id="issue-schedule">${stored && status !== "draft" ? describeSchedule(stored.schedule) : "not scheduled"}</dd>
        <dt>Source</dt><dd>${stored?.source ?? "file"}</dd></dl></div>
        <div class="card"><h2>Audience</h2><p><span class="num" data-count="audience">${n(audience.count)}</span> reader${audience.count === 1 ? "" : "s"} would get it now</p>
        <p class="muted">Active subscribers who joined ${topic?.name ?? topicId}${audience.filter.tags || audience.filter.course || audience.filter.signedUp ? ", narrowed by the issue's audience filter" : ""}.</p>
        ${audience.sample.length ? html`<details><summary>A sample of ${audience.sample.length}</summary><ul id="audience-sample">${audience.sample.map((s) => html`<li><a href="/admin/subscribers/${s.id}">${s.email}</a> <span class="muted">${s.timezone}</span></li>`)}</ul></details>` : ""}</div>
      </div>
      ${report ? resultsCard(id, report) : ""}
      ${
        editor
          ? html`<div class="card" id="actions"><h2>Send</h2>
      <form class="inline" method="post" action="/admin/newsletters/${id}/test">${csrfField(token)}<button type="submit" class="secondary">Send a test to ${c.get("staff")!.email}</button></form>
      <h3>Schedule at one moment</h3>
      <form method="post" action="/admin/newsletters/${id}/schedule" class="row">${csrfField(token)}<input type="hidden" name="mode" value="at">
      <div><label for="at">Date and time (UTC)</label><input id="at" name="at" type="text" value="${inAnHour}" placeholder="2026-03-09 10:00" required></div>
      <div><button type="submit">Schedule</button></div></form>
      <h3>Schedule at a local time</h3><p class="muted">Each reader gets it at this time in their own time zone.</p>
      <form method="post" action="/admin/newsletters/${id}/schedule" class="row">${csrfField(token)}<input type="hidden" name="mode" value="local">
      <div><label for="local-time">Local time</label><input id="local-time" name="time" type="time" value="09:00" required></div>
      <div><label for="local-date">Date</label><input id="local-date" name="date" type="date" value="${tomorrow}" required></div>
      <div><button type="submit">Schedule</button></div></form>
      <h3>Now</h3>
      <form class="inline" method="post" action="/admin/newsletters/${id}/send">${csrfField(token)}<button type="submit">Send now to ${n(audience.count)} reader${audience.count === 1 ? "" : "s"}</button></form>
      ${status === "scheduled" ? html`<form class="inline" method="post" action="/admin/newsletters/${id}/cancel">${csrfField(token)}<button type="submit" class="danger">Cancel what has not gone out</button></form>` : ""}
      </div>`
          : ""
      }
      <div class="card"><h2>Preview</h2><p><strong>Subject:</strong> <span id="subject">${email.subject}</span><br><strong>Preview text:</strong> ${email.preview}<br><strong>As:</strong> ${who.label}</p>
      <form method="get" class="row"><div><label for="email">Preview as a subscriber (email)</label><input id="email" name="email" type="email" value="${c.req.query("email") ?? ""}"></div><div><button type="submit" class="secondary">Preview</button></div></form>
      <h3>HTML</h3><iframe class="preview" sandbox="" title="The issue as HTML" src="/admin/newsletters/${id}/preview.html${q}"></iframe>
      <h3>Text part</h3><pre class="text">${email.text}</pre></div>
      <p><a href="/admin/newsletters">All newsletters</a></p>`,
      { section: "newsletters" },
    );
  });

  app.get("/admin/newsletters/:id/preview.html", need("viewer"), async (c) => {
    const who = await previewReader(c);
    if (!who) return refuse(c, 404, "No such subscriber", "No subscriber has that address.");
    const email = await service(c).render(c.req.param("id"), ...(who.reader ? [who.reader] : []));
    c.header("Content-Security-Policy", PREVIEW_CSP);
    c.header("X-Frame-Options", "SAMEORIGIN");
    return c.html(email.html);
  });

  app.get("/admin/newsletters/:id/missing", need("viewer"), async (c) => {
    const id = c.req.param("id");
    const rows = await service(c).missing(id, MISSING_PAGE + 1);
    const more = rows.length > MISSING_PAGE;
    return render(
      c,
      200,
      `Not received: ${id}`,
      html`<h1>Who has not received <code>${id}</code></h1>
      <p class="muted">Everyone planned for this issue who has not been sent it: waiting (with when it is due), skipped or cancelled (with why), failed.</p>
      <div class="card table-wrap"><table id="missing"><thead><tr><th scope="col">Subscriber</th><th scope="col">State</th><th scope="col">Why, or when due (UTC)</th></tr></thead><tbody>
      ${rows
        .slice(0, MISSING_PAGE)
        .map(
          (r) =>
            html`<tr><td><a href="/admin/subscribers/${r.subscriberId}">${r.email}</a></td><td>${r.state}</td><td>${r.state === "pending" && r.dueAt ? `due ${when(r.dueAt)}` : r.reason && r.reason !== r.state ? r.reason : ""}</td></tr>`,
        )}</tbody></table>${rows.length === 0 ? html`<p>Everyone planned has received it.</p>` : ""}</div>
      ${more ? html`<p>The first ${n(MISSING_PAGE)} are shown; <code>drip newsletter status ${id} --missing</code> lists them all.</p>` : ""}
      <p><a href="/admin/newsletters/${id}">Back to the issue</a></p>`,
      { section: "newsletters" },
    );
  });

  app.post("/admin/newsletters/:id/test", need("editor"), async (c) => {
    const deps = c.get("deps");
    const id = c.req.param("id");
    const me = c.get("staff")!.email;
    const r = await service(c).test(id, me, deps.now());
    await audit(c, "newsletter.test", id, r.ok ? `to ${me}` : `to ${me} failed: ${r.detail}`);
    if (!r.ok) return refuse(c, 502, "Test not sent", `The test email was not sent: ${r.detail}.`);
    return c.redirect(`/admin/newsletters/${id}?done=test`, 303);
  });

  app.post("/admin/newsletters/:id/schedule", need("editor"), async (c) => {
    const deps = c.get("deps");
    const nl = service(c);
    const id = c.req.param("id");
    const now = deps.now();
    const body = await c.req.parseBody();
    const field = (k: string) => (typeof body[k] === "string" ? (body[k] as string).trim() : "");
    if (field("mode") === "at") {
      const at = parseInstant(field("at"));
      if (!at) return refuse(c, 400, "Not a time", `"${field("at")}" is not a date and time: write it like 2026-03-09 10:00 (UTC).`);
      if (at.getTime() < now.getTime())
        return refuse(c, 400, "That moment has passed", `${when(at)} UTC has already passed: pick a later time, or use "Send now".`);
      const r = await nl.schedule(id, { kind: "at", at }, now);
      await audit(c, "newsletter.schedule", id, `at ${at.toISOString()}: ${r.planned} recipient(s)${r.rescheduled ? " (re-scheduled)" : ""}`);
      return c.redirect(`/admin/newsletters/${id}?done=scheduled`, 303);
    }
    if (field("mode") !== "local") return refuse(c, 400, "Not scheduled", "Choose to schedule at one moment or at a local time.");
    const time = field("time");
    const date = field("date");
    const ifPassed = field("if_passed");
    if (!HHMM.test(time)) return refuse(c, 400, "Not a time", `"${time}" is not a time of day: write it as HH:MM, e.g. 09:00.`);
    if (!isCalendarDate(date)) return refuse(c, 400, "Not a date", `"${date}" is not a date: write it as YYYY-MM-DD, e.g. 2026-03-09.`);
    if (ifPassed !== "" && ifPassed !== "next-day" && ifPassed !== "now") return refuse(c, 400, "Not scheduled", "Choose the next day or now.");
    if (ifPassed === "") {
      const passed = await nl.passedZones(id, time, date, now);
      if (passed.length > 0) {
        const token = csrfFor(c);
        const choice = (value: string, label: string, cls = "") =>
          html`<form class="inline" method="post" action="/admin/newsletters/${id}/schedule">${csrfField(token)}<input type="hidden" name="mode" value="local"><input type="hidden" name="time" value="${time}"><input type="hidden" name="date" value="${date}"><input type="hidden" name="if_passed" value="${value}"><button type="submit"${cls ? html` class="${cls}"` : ""}>${label}</button></form>`;
        // A question, not an error: the form needs one more answer.
        return render(
          c,
          200,
          "That moment has passed for some readers",
          html`<h1>${time} on ${date} has already passed for some readers</h1>
          <div class="card" id="passed"><p>It is past ${time} on ${date} in ${n(passed.length)} of the audience's time zones:</p>
          <ul>${passed.slice(0, 20).map((z) => html`<li>${z}</li>`)}</ul>${passed.length > 20 ? html`<p>…and ${n(passed.length - 20)} more.</p>` : ""}
          <p>What should readers in those zones get?</p>
          ${choice("next-day", `Their ${time} the next day`)}${choice("now", "Send theirs now", "secondary")}
          <p><a href="/admin/newsletters/${id}">Back without scheduling</a></p></div>`,
          { section: "newsletters" },
        );
      }
    }
    const r = await nl.schedule(id, { kind: "local", time, date, ...(ifPassed ? { ifPassed: ifPassed as "next-day" | "now" } : {}) }, now);
    await audit(
      c,
      "newsletter.schedule",
      id,
      `at ${time} local on ${date}${r.passed.length ? ` (passed in ${r.passed.length} zone(s): ${ifPassed})` : ""}: ${r.planned} recipient(s)${r.rescheduled ? " (re-scheduled)" : ""}`,
    );
    return c.redirect(`/admin/newsletters/${id}?done=scheduled`, 303);
  });

  app.post("/admin/newsletters/:id/send", need("editor"), async (c) => {
    const deps = c.get("deps");
    const id = c.req.param("id");
    const r = await service(c).schedule(id, { kind: "now" }, deps.now());
    await audit(c, "newsletter.send", id, `now: ${r.planned} recipient(s)${r.rescheduled ? " (re-scheduled)" : ""}`);
    deps.wake?.();
    return c.redirect(`/admin/newsletters/${id}?done=sent`, 303);
  });

  app.post("/admin/newsletters/:id/cancel", need("editor"), async (c) => {
    const deps = c.get("deps");
    const id = c.req.param("id");
    const k = await service(c).cancel(id, deps.now());
    await audit(c, "newsletter.cancel", id, `${k} delivery(ies) not yet sent`);
    return c.redirect(`/admin/newsletters/${id}?done=cancelled`, 303);
  });

  app.post("/admin/subscribers/:id/topics/:topic/leave", need("editor"), async (c) => {
    const deps = c.get("deps");
    const s = await deps.store.getSubscriber(c.req.param("id"));
    if (!s) return refuse(c, 404, "No such subscriber", "There is no subscriber with that id.");
    const topic = c.req.param("topic");
    const r = await deps.lifecycle.leaveTopic(s, topic, deps.now(), `dashboard:${c.get("staff")!.email}`);
    await audit(c, "subscriber.topic-leave", s.email, `${topic}: ${r}`);
    return c.redirect(`/admin/subscribers/${s.id}`, 303);
  });
}
