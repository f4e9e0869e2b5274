/**
 * The authorization matrix: every /admin route × {no session, viewer, editor, owner} answers
 * as the role allows (a redirect to sign-in, 403, or the page/action), and every POST without
 * a valid CSRF token is refused. The route list is read from the app itself, so a route added
 * without a row here fails this test.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminRoutes } from "../../src/admin/routes.ts";
import type { StaffRole } from "../../src/store/types.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { type Harness, form, harness } from "../http/harness.ts";
import { type Session, linkFor, signIn } from "./admin-harness.ts";

type Who = "none" | StaffRole;
const WHO: readonly Who[] = ["none", "viewer", "editor", "owner"];
const RANK: Record<Who, number> = { none: -1, viewer: 0, editor: 1, owner: 2 };

/** Per role, things of its own to act on (a POST by one role must not spoil another's). */
interface Fixture {
  subscriberId: string;
  email: string;
  failedSend: string;
  /** Another subscriber's failed send, to retry. */
  retrySend: string;
  staffId: string;
}

interface Row {
  method: "GET" | "POST";
  route: string;
  /** Least role allowed; "public" = anyone. */
  need: StaffRole | "public";
  path: (f: Fixture) => string;
  fields?: (f: Fixture) => Record<string, string>;
  /** The import: a multipart upload. */
  multipart?: boolean;
}

const SEQ = "hip-pain-course";
const ISSUE = "two-ways-to-ease-outer-hip-pain";

const ROWS: Row[] = [
  { method: "GET", route: "/admin/assets/:file", need: "public", path: () => "/admin/assets/admin.css" },
  { method: "GET", route: "/admin", need: "viewer", path: () => "/admin" },
  { method: "GET", route: "/admin/sequences", need: "viewer", path: () => "/admin/sequences" },
  { method: "GET", route: "/admin/sequences/version", need: "viewer", path: () => "/admin/sequences/version" },
  { method: "GET", route: "/admin/sequences/:id", need: "viewer", path: () => `/admin/sequences/${SEQ}` },
  {
    method: "GET",
    route: "/admin/sequences/:id/simulate",
    need: "viewer",
    path: () => `/admin/sequences/${SEQ}/simulate?start=2026-03-09T10:00Z&tz=Europe/London&tags=`,
  },
  {
    method: "GET",
    route: "/admin/sequences/:id/steps/:step",
    need: "viewer",
    path: (f) => `/admin/sequences/${SEQ}/steps/${STEP}?email=${encodeURIComponent(f.email)}`,
  },
  { method: "GET", route: "/admin/sequences/:id/steps/:step/preview.html", need: "viewer", path: () => `/admin/sequences/${SEQ}/steps/${STEP}/preview.html` },
  { method: "GET", route: "/admin/subscribers", need: "viewer", path: () => "/admin/subscribers?q=matrix" },
  { method: "GET", route: "/admin/subscribers/:id", need: "viewer", path: (f) => `/admin/subscribers/${f.subscriberId}` },
  { method: "GET", route: "/admin/failures", need: "viewer", path: () => "/admin/failures" },
  { method: "GET", route: "/admin/subscribers/export.csv", need: "editor", path: () => "/admin/subscribers/export.csv" },
  { method: "GET", route: "/admin/subscribers/import", need: "editor", path: () => "/admin/subscribers/import" },
  { method: "GET", route: "/admin/newsletters", need: "viewer", path: () => "/admin/newsletters" },
  { method: "GET", route: "/admin/newsletters/:id", need: "viewer", path: () => `/admin/newsletters/${ISSUE}` },
  { method: "GET", route: "/admin/newsletters/:id/preview.html", need: "viewer", path: () => `/admin/newsletters/${ISSUE}/preview.html` },
  { method: "GET", route: "/admin/newsletters/:id/missing", need: "viewer", path: () => `/admin/newsletters/${ISSUE}/missing` },
  { method: "GET", route: "/admin/staff", need: "owner", path: () => "/admin/staff" },
  { method: "GET", route: "/admin/audit", need: "owner", path: () => "/admin/audit" },
  {
    method: "POST",
    route: "/admin/subscribers/:id/tag",
    need: "editor",
    path: (f) => `/admin/subscribers/${f.subscriberId}/tag`,
    fields: () => ({ tag: "vip" }),
  },
  {
    method: "POST",
    route: "/admin/subscribers/:id/untag",
    need: "editor",
    path: (f) => `/admin/subscribers/${f.subscriberId}/untag`,
    fields: () => ({ tag: "vip" }),
  },
  {
    method: "POST",
    route: "/admin/subscribers/:id/timezone",
    need: "editor",
    path: (f) => `/admin/subscribers/${f.subscriberId}/timezone`,
    fields: () => ({ timezone: "America/New_York" }),
  },
  { method: "POST", route: "/admin/subscribers/:id/pause", need: "editor", path: (f) => `/admin/subscribers/${f.subscriberId}/pause` },
  { method: "POST", route: "/admin/subscribers/:id/resume", need: "editor", path: (f) => `/admin/subscribers/${f.subscriberId}/resume` },
  { method: "POST", route: "/admin/failures/:sendId/resolve", need: "editor", path: (f) => `/admin/failures/${f.failedSend}/resolve` },
  { method: "POST", route: "/admin/failures/:sendId/retry", need: "editor", path: (f) => `/admin/failures/${f.retrySend}/retry` },
  { method: "POST", route: "/admin/subscribers/import", need: "editor", path: () => "/admin/subscribers/import", multipart: true },
  { method: "POST", route: "/admin/newsletters/:id/test", need: "editor", path: () => `/admin/newsletters/${ISSUE}/test` },
  {
    method: "POST",
    route: "/admin/newsletters/:id/schedule",
    need: "editor",
    path: () => `/admin/newsletters/${ISSUE}/schedule`,
    fields: () => ({ mode: "at", at: "2026-03-20 09:00" }),
  },
  { method: "POST", route: "/admin/newsletters/:id/send", need: "editor", path: () => `/admin/newsletters/${ISSUE}/send` },
  { method: "POST", route: "/admin/newsletters/:id/cancel", need: "editor", path: () => `/admin/newsletters/${ISSUE}/cancel` },
  {
    method: "POST",
    route: "/admin/subscribers/:id/topics/:topic/leave",
    need: "editor",
    path: (f) => `/admin/subscribers/${f.subscriberId}/topics/weekly/leave`,
  },
  { method: "POST", route: "/admin/subscribers/:id/unsubscribe", need: "editor", path: (f) => `/admin/subscribers/${f.subscriberId}/unsubscribe` },
  {
    method: "POST",
    route: "/admin/subscribers/:id/forget",
    need: "editor",
    path: (f) => `/admin/subscribers/${f.subscriberId}/forget`,
    fields: (f) => ({ confirm: f.email }),
  },
  {
    method: "POST",
    route: "/admin/staff",
    need: "owner",
    path: () => "/admin/staff",
    fields: (f) => ({ email: `added-${f.staffId}@clinic.example`, role: "viewer" }),
  },
  { method: "POST", route: "/admin/staff/:id/remove", need: "owner", path: (f) => `/admin/staff/${f.staffId}/remove` },
  // Last: it ends the session.
  { method: "POST", route: "/admin/signout", need: "viewer", path: () => "/admin/signout" },
];
/** Sign-in itself is reached without a session; tested in auth.test.ts (and its CSRF below). */
const SIGN_IN = ["GET /admin/signin", "POST /admin/signin", "GET /admin/signin/:token", "POST /admin/signin/:token"];

let STEP = "";
let h: Harness;
const fixtures = {} as Record<Who, Fixture>;
const sessions = {} as Record<StaffRole, Session>;
const retryOwner = new Map<string, Who>();

beforeAll(async () => {
  h = await harness();
  STEP = h.app.engine.getSequence(SEQ)!.steps[0]!.id;
  for (const who of WHO) {
    const email = `matrix-${who}@example.com`;
    const res = await h.app.lifecycle.subscribe({ email, name: "Mat", timezone: "Europe/London", tags: [] }, { confirmed: true, source: "test" }, h.now());
    if (res.kind === "suppressed") throw new Error("fixture suppressed");
    await h.app.lifecycle.joinTopic(res.subscriber, "weekly", { source: "test" }, h.now());
    const { staff } = await h.app.store.putStaff(`spare-${who}@clinic.example`, "viewer", h.now());
    fixtures[who] = { subscriberId: res.subscriber.id, email, failedSend: "", retrySend: "", staffId: staff.id };
    const other = await h.app.lifecycle.subscribe(
      { email: `retry-${who}@example.com`, name: "", timezone: "Europe/London", tags: [] },
      { confirmed: true, source: "test" },
      h.now(),
    );
    if (other.kind === "ok") retryOwner.set(other.subscriber.id, who);
  }
  // One failed send per role, to resolve.
  const claims = await h.app.store.claimDue(h.now(), 100, 60_000);
  for (const who of WHO) {
    const claim = claims.find((c) => c.subscriber.id === fixtures[who].subscriberId)!;
    await h.app.store.recordOutcome(claim, { status: "failed", at: h.now(), reason: "provider refused" }, { kind: "completed" });
    fixtures[who].failedSend = claim.sendId;
  }
  // An issue scheduled already (its results and missing list exist), far enough ahead to stay unsent.
  await h.app.newsletters.schedule(ISSUE, { kind: "at", at: new Date("2026-03-20T09:00:00Z") }, h.now());
  for (const claim of claims.filter((c) => retryOwner.has(c.subscriber.id))) {
    await h.app.store.recordOutcome(claim, { status: "failed", at: h.now(), reason: "provider refused" }, { kind: "completed" });
    fixtures[retryOwner.get(claim.subscriber.id)!].retrySend = claim.sendId;
  }
  for (const role of ["viewer", "editor", "owner"] as const) sessions[role] = await signIn(h, `${role}@clinic.example`, role);
}, 60_000);
afterAll(async () => {
  await h.close();
  cleanupTempDirs();
});

function request(row: Row, who: Who, opts: { csrf?: string | null } = {}): Promise<Response> {
  const f = fixtures[who];
  const path = row.path(f);
  const session = who === "none" ? null : sessions[who];
  const cookie: Record<string, string> = session ? { cookie: session.cookie } : {};
  if (row.method === "GET") return h.req(path, { headers: cookie });
  const csrf = opts.csrf === undefined ? (session?.csrf ?? "") : opts.csrf;
  if (row.multipart) {
    const body = new FormData();
    if (csrf !== null) body.set("csrf", csrf);
    body.set("file", new File([`email,name\nimported-${who}@example.com,Imp\n`], "people.csv", { type: "text/csv" }));
    return h.req(path, { method: "POST", body, headers: cookie });
  }
  return h.req(path, form({ ...(csrf === null ? {} : { csrf }), ...(row.fields?.(f) ?? {}) }, cookie));
}

describe("authorization matrix", () => {
  it("covers every route the dashboard registers", () => {
    const registered = new Set(
      adminRoutes()
        .routes.filter((r) => r.method !== "ALL")
        .map((r) => `${r.method} ${r.path}`),
    );
    const covered = new Set([...ROWS.map((r) => `${r.method} ${r.route}`), ...SIGN_IN]);
    expect([...registered].sort()).toEqual([...covered].sort());
  });

  for (const who of WHO) {
    it(`as ${who}: every route answers as the role allows`, async () => {
      const seen: string[] = [];
      for (const row of ROWS) {
        const res = await request(row, who);
        const location = res.headers.get("location") ?? "";
        const got = `${row.method} ${row.route}: ${res.status}${res.status === 303 ? ` → ${location.replace(/\?.*/, "")}` : ""}`;
        let want: string;
        if (row.need === "public") want = `${row.method} ${row.route}: 200`;
        else if (who === "none") want = `${row.method} ${row.route}: 303 → /admin/signin`;
        else if (RANK[who] < RANK[row.need]) want = `${row.method} ${row.route}: 403`;
        else if (row.method === "GET" || row.multipart) want = `${row.method} ${row.route}: 200`;
        else want = `${row.method} ${row.route}: 303 → ${row.route === "/admin/signout" ? "/admin/signin" : location.replace(/\?.*/, "")}`;
        // An allowed action never bounces to sign-in (that would be a refusal dressed as success).
        if (who !== "none" && row.need !== "public" && RANK[who] >= RANK[row.need] && row.route !== "/admin/signout") expect(location).not.toMatch(/signin/);
        seen.push(got === want ? "ok" : `${got} (wanted ${want})`);
      }
      expect(seen.filter((s) => s !== "ok")).toEqual([]);
    });
  }

  it("the allowed actions took effect through the lifecycle door (editor's fixture)", async () => {
    const f = fixtures.editor;
    expect(await h.app.store.getSubscriber(f.subscriberId)).toBeNull(); // forgotten
    expect(await h.app.store.isSuppressed(f.email)).toBe(true);
    expect(await h.app.store.getSend(fixtures.editor.failedSend)).toBeNull(); // resolved, then erased with the subscriber
    const resolved = (await h.app.store.listAudit(500)).filter((e) => e.action === "send.resolve").map((e) => e.target);
    expect(resolved.sort()).toEqual([fixtures.editor.failedSend, fixtures.owner.failedSend].sort());
    expect((await h.app.store.getSend(fixtures.viewer.failedSend))?.status).toBe("failed");
    // Retried through the door: back in the queue (claimed until the tick sends it), audited; a viewer's stays failed.
    expect((await h.app.store.getSend(fixtures.owner.retrySend))?.status).toBe("claimed");
    expect((await h.app.store.getSend(fixtures.viewer.retrySend))?.status).toBe("failed");
    const retried = (await h.app.store.listAudit(500)).filter((e) => e.action === "send.retry").map((e) => e.target);
    expect(retried.sort()).toEqual([fixtures.editor.retrySend, fixtures.owner.retrySend].sort());
    expect(await h.app.store.findSubscriberByEmail("imported-editor@example.com")).not.toBeNull();
    expect(await h.app.store.findSubscriberByEmail("imported-viewer@example.com")).toBeNull();
    expect(await h.app.store.getStaff(fixtures.owner.staffId)).toBeNull();
    expect(await h.app.store.getStaff(fixtures.editor.staffId)).not.toBeNull();
    // Newsletter actions: audited for editor and owner, never for the viewer; the test copies went to the signed-in staff.
    const log = await h.app.store.listAudit(500);
    for (const action of ["newsletter.test", "newsletter.schedule", "newsletter.send", "newsletter.cancel", "subscriber.topic-leave"])
      expect(
        log
          .filter((e) => e.action === action)
          .map((e) => e.staffEmail)
          .sort(),
        action,
      ).toEqual(["editor@clinic.example", "owner@clinic.example"]);
    const tests = (await h.mails()).filter((m) => m.mail.subject?.startsWith("[Test] "));
    expect(tests.map((m) => m.mail.to && JSON.stringify(m.mail.to)).sort()).toEqual([
      expect.stringContaining("editor@clinic.example"),
      expect.stringContaining("owner@clinic.example"),
    ]);
    expect((await h.app.store.getIssue(ISSUE))?.status).toBe("cancelled");
  });
});

describe("CSRF", () => {
  it("every POST without a valid token is refused (missing, forged, or another session's), and changes nothing", async () => {
    const owner = await signIn(h, "csrf-owner@clinic.example", "owner");
    const other = await signIn(h, "csrf-other@clinic.example", "owner");
    sessions.owner = owner;
    const f = fixtures.viewer; // untouched so far: viewers could not act
    const before = await h.app.store.getSubscriber(f.subscriberId);
    const bad: string[] = [];
    for (const row of ROWS.filter((r) => r.method === "POST")) {
      for (const csrf of [null, "", "1.forged-token-aaaaaaaaaaaaaaaaaaaaaaaa", other.csrf]) {
        const res = await request({ ...row, path: (x) => row.path({ ...x, ...f }) }, "owner", { csrf });
        if (res.status !== 403) bad.push(`${row.route} with csrf ${JSON.stringify(csrf)}: ${res.status}`);
      }
    }
    expect(bad).toEqual([]);
    expect(await h.app.store.getSubscriber(f.subscriberId)).toEqual(before);
    expect((await h.app.store.getSend(f.failedSend))?.status).toBe("failed");
    expect((await h.app.store.getSend(f.retrySend))?.status).toBe("failed");
    expect((await owner.get("/admin")).status).toBe(200); // signout without a token did not sign out
    // The public sign-in forms need their own tokens too.
    expect((await h.req("/admin/signin", form({ email: "csrf-owner@clinic.example" }))).status).toBe(403);
    const link = await linkFor(h, "csrf-owner@clinic.example", "owner");
    expect((await h.req(link, form({}))).status).toBe(403);
  });

  it("a POST from another site (Origin header) is refused even with a valid token", async () => {
    const owner = await signIn(h, "origin-owner@clinic.example", "owner");
    const res = await h.req(
      `/admin/subscribers/${fixtures.viewer.subscriberId}/tag`,
      form({ csrf: owner.csrf, tag: "evil" }, { cookie: owner.cookie, origin: "https://evil.example" }),
    );
    expect(res.status).toBe(403);
    expect((await h.app.store.getSubscriber(fixtures.viewer.subscriberId))?.tags).not.toContain("evil");
  });
});
