/**
 * What the dashboard's pages show and do: numbers from the same store queries as `drip stats`
 * and `drip status`, the preview in a locked-down frame, search, the timeline, actions through
 * the lifecycle door, import and export, the strict CSP, and assets served from node_modules.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { type Harness, activeReader, harness, pageText } from "../http/harness.ts";
import { type Session, signIn } from "./admin-harness.ts";

const SEQ = "hip-pain-course";
let h: Harness;
let owner: Session;
let viewer: Session;
let reader: { id: string };

beforeAll(async () => {
  h = await harness();
  reader = await activeReader(h, "reader@example.com");
  await activeReader(h, "second@example.com");
  owner = await signIn(h, "owner@clinic.example", "owner");
  viewer = await signIn(h, "viewer@clinic.example", "viewer");
}, 60_000);
afterAll(async () => {
  await h.close();
  cleanupTempDirs();
});

const cellOf = (page: string, step: string, col: string) => {
  const m = new RegExp(`data-step="${step}" data-col="${col}">([\\d,]+)`).exec(page);
  return m ? Number(m[1]!.replace(/,/g, "")) : null;
};

describe("numbers", () => {
  it("the course page's step results are stepStats' (what drip stats prints), with waiting and due counts from stepQueue", async () => {
    const sub = (await h.app.store.findSubscriberByEmail("reader@example.com"))!;
    const [send] = await h.app.store.listSends({ subscriberId: sub.id });
    await h.app.store.recordEvent({ subscriberId: sub.id, sendId: send!.id, type: "opened", at: h.now() });
    const page = await (await viewer.get(`/admin/sequences/${SEQ}`)).text();
    const stats = await h.app.store.stepStats(SEQ);
    const queue = await h.app.store.stepQueue(SEQ, new Date(h.now().getTime() + 86_400_000));
    expect(stats.length).toBeGreaterThan(0);
    for (const s of h.app.engine.getSequence(SEQ)!.steps) {
      const st = stats.find((r) => r.stepId === s.id);
      for (const col of ["sent", "delivered", "opened", "clicked", "booked", "unsubscribed"] as const)
        expect(cellOf(page, s.id, col), `${s.id} ${col}`).toBe(st?.[col] ?? 0);
      const q = queue.find((r) => r.stepId === s.id);
      expect(cellOf(page, s.id, "waiting")).toBe(q?.waiting ?? 0);
    }
    const first = h.app.engine.getSequence(SEQ)!.steps[0]!.id;
    expect(cellOf(page, first, "sent")).toBe(2);
    expect(cellOf(page, first, "opened")).toBe(1);
    expect(page).toContain("50.0%"); // 1 of 2 sent opened: rates, not only counts
  });

  it("the overview's counts are store.status()'s, with a banner linking to failures when a send failed", async () => {
    let page = await (await viewer.get("/admin")).text();
    expect(page).not.toContain('class="banner"');
    const status = await h.app.store.status();
    expect(page).toContain(`data-count="subscribers.active">${status.subscribers.active}<`);
    expect(page).toContain(`data-count="sends.sent">${status.sends.sent}<`);
    // The chart's last day is today, and counts what happened at this very instant too.
    const chart = JSON.parse(/<script type="application\/json" class="chart-data" data-for="activity">([^<]*)<\/script>/.exec(page)![1]!) as {
      labels: string[];
      series: { label: string; data: number[] }[];
    };
    const today = await h.app.store.dailyActivity(h.now(), new Date(h.now().getTime() + 1));
    expect(chart.labels.at(-1)).toBe(h.now().toISOString().slice(5, 10));
    expect(chart.series.find((x) => x.label === "sent")?.data.at(-1)).toBe(today[0]!.sent);
    expect(today[0]!.sent).toBeGreaterThan(0);
    // A failure appears as a banner with a link.
    const [claim] = await h.app.store.claimDue(new Date(h.now().getTime() + 30 * 86_400_000), 1, 60_000);
    await h.app.store.recordOutcome(claim!, { status: "failed", at: h.now(), reason: "provider refused: bad address" }, { kind: "completed" });
    page = await (await viewer.get("/admin")).text();
    expect(page).toContain('class="banner"');
    expect(page).toContain('href="/admin/failures"');
    const failures = await pageText(await viewer.get("/admin/failures"));
    expect(failures).toContain("provider refused: bad address");
    expect(failures).not.toContain("Mark resolved"); // viewers read only
    expect(failures).not.toMatch(/\bRetry\b/);
    const ownerView = await pageText(await owner.get("/admin/failures"));
    expect(ownerView).toContain("Mark resolved");
    expect(ownerView).toMatch(/\bRetry\b/);
    // Retry refuses, with the reason, for someone who has left; nothing changes.
    await h.app.lifecycle.unsubscribe(claim!.subscriber, h.now(), "test");
    const refused = await owner.post(`/admin/failures/${claim!.sendId}/retry`);
    expect(refused.status).toBe(409);
    expect(await pageText(refused)).toContain(`${claim!.subscriber.email} unsubscribed on`);
    expect((await h.app.store.getSend(claim!.sendId))?.status).toBe("failed");
  });
});

describe("preview", () => {
  it("renders a step for a real subscriber in a sandboxed frame with its own CSP, and the text part", async () => {
    const step = h.app.engine.getSequence(SEQ)!.steps[1]!;
    const page = await viewer.get(`/admin/sequences/${SEQ}/steps/${step.id}?email=reader%40example.com`);
    const body = await pageText(page);
    expect(body).toContain('sandbox=""');
    expect(body).toContain("reader@example.com");
    expect(body).toContain("data-live-version=");
    const frame = await viewer.get(`/admin/sequences/${SEQ}/steps/${step.id}/preview.html?email=reader%40example.com`);
    expect(frame.status).toBe(200);
    expect(frame.headers.get("content-security-policy")).toContain("frame-ancestors 'self'");
    expect(frame.headers.get("content-security-policy")).not.toContain("script-src");
    expect(await frame.text()).toContain("<html");
    expect((await viewer.get(`/admin/sequences/${SEQ}/steps/${step.id}?email=nobody%40example.com`)).status).toBe(404);
    expect((await viewer.get(`/admin/sequences/${SEQ}/steps/no-such-step`)).status).toBe(404);
  });

  it("the preview's live version changes when drip start swaps in reloaded definitions (the page polls it)", async () => {
    const before = (await (await viewer.get("/admin/sequences/version")).json()) as { version: string };
    expect((await (await viewer.get("/admin/sequences/version")).json()) as { version: string }).toEqual(before);
    const seq = h.app.engine.getSequence(SEQ)!;
    h.app.engine.setSequences([{ ...seq }]); // what the file watcher does after a save
    const after = (await (await viewer.get("/admin/sequences/version")).json()) as { version: string };
    expect(after.version).not.toBe(before.version);
    h.app.engine.setSequences([seq]);
  });

  it("simulates a timeline from the form, and says what is wrong with a bad zone", async () => {
    const ok = await pageText(await viewer.get(`/admin/sequences/${SEQ}/simulate?start=2026-03-09T10:00Z&tz=America/New_York&tags=booked`));
    expect(ok).toContain("America/New_York");
    expect(ok).toMatch(/skipped/);
    const bad = await viewer.get(`/admin/sequences/${SEQ}/simulate?start=2026-03-09T10:00Z&tz=Mars/Base`);
    expect(bad.status).toBe(400);
    expect(await pageText(bad)).toContain('"Mars/Base" is not a time zone');
  });
});

describe("subscribers", () => {
  it("search by email prefix, name and tag; the profile shows the timeline with reasons", async () => {
    await h.app.lifecycle.tag({ id: reader.id }, "vip", h.now());
    const byEmail = await pageText(await viewer.get("/admin/subscribers?q=reader"));
    expect(byEmail).toContain("reader@example.com");
    expect(byEmail).not.toContain("second@example.com");
    const byTag = await pageText(await viewer.get("/admin/subscribers?tag=vip"));
    expect(byTag).toContain("reader@example.com");
    expect(byTag).not.toContain("second@example.com");
    const profile = await pageText(await viewer.get(`/admin/subscribers/${reader.id}`));
    for (const kind of ["signed_up", "confirmed", "enrolled", "sent"]) expect(profile).toContain(`data-kind="${kind}"`);
    expect(profile).not.toContain('action="/admin/subscribers/'); // no action forms for viewers
  });

  it("editor actions go through the lifecycle: time zone re-plans, pause/resume, unsubscribe; forget needs the typed address", async () => {
    const ed = await signIn(h, "ed@clinic.example", "editor");
    const sub = (await h.app.store.findSubscriberByEmail("second@example.com"))!;
    expect((await ed.post(`/admin/subscribers/${sub.id}/timezone`, { timezone: "Not/AZone" })).status).toBe(400);
    expect((await ed.post(`/admin/subscribers/${sub.id}/timezone`, { timezone: "Asia/Tokyo" })).status).toBe(303);
    expect((await h.app.store.getSubscriber(sub.id))?.timezone).toBe("Asia/Tokyo");
    expect((await ed.post(`/admin/subscribers/${sub.id}/pause`)).status).toBe(303);
    expect((await h.app.store.listEnrollments(sub.id))[0]).toMatchObject({ status: "paused", reason: "paused by ed@clinic.example" });
    expect((await ed.post(`/admin/subscribers/${sub.id}/resume`)).status).toBe(303);
    expect((await h.app.store.listEnrollments(sub.id))[0]?.status).toBe("active");
    const badTag = await ed.post(`/admin/subscribers/${sub.id}/tag`, { tag: "bad tag!" });
    expect(badTag.status).toBe(400);
    const badPage = await pageText(badTag);
    expect(badPage).toContain('tag "bad tag!" must be 1–64 letters');
    expect(badPage).toContain('href="/admin/assets/admin.css"'); // a dashboard page, styled under the dashboard's CSP
    const wrong = await ed.post(`/admin/subscribers/${sub.id}/forget`, { confirm: "someone-else@example.com" });
    expect(wrong.status).toBe(400);
    expect(await h.app.store.getSubscriber(sub.id)).not.toBeNull();
    expect((await ed.post(`/admin/subscribers/${sub.id}/unsubscribe`)).status).toBe(303);
    expect((await h.app.store.getSubscriber(sub.id))?.status).toBe("unsubscribed");
    const tl = await pageText(await ed.get(`/admin/subscribers/${sub.id}`));
    expect(tl).toContain('data-kind="unsubscribed"');
    expect(tl).toContain("dashboard:ed@clinic.example");
  });

  it("import reports bad lines and imports the rest; export gives the same columns as drip export, formulas guarded", async () => {
    const body = new FormData();
    body.set("csrf", owner.csrf);
    body.set("file", new File(["email,name,tags\nnew1@example.com,=HYPERLINK(1),a;b\nnot-an-email,X,\nnew2@example.com,Two,\n"], "people.csv"));
    const res = await h.req("/admin/subscribers/import", { method: "POST", body, headers: { cookie: owner.cookie } });
    expect(res.status).toBe(200);
    const report = await pageText(res);
    expect(report).toMatch(/Imported <strong>2<\/strong>/);
    expect(report).toContain("<td>3</td>"); // line 3 is the bad one
    const csv = await (await owner.get("/admin/subscribers/export.csv")).text();
    expect(csv.split("\n")[0]).toBe("email,name,timezone,tags,status,subscribed_at,status_reason,status_at,consent_at,consent_source,consent_ip");
    expect(csv).toContain("new1@example.com,'=HYPERLINK(1),,a;b,pending,");
    const empty = new FormData();
    empty.set("csrf", owner.csrf);
    expect((await h.req("/admin/subscribers/import", { method: "POST", body: empty, headers: { cookie: owner.cookie } })).status).toBe(400);
  });
});

describe("how it is served", () => {
  it("every page carries a strict CSP (scripts only from this site, no inline code) and is not cached", async () => {
    for (const path of ["/admin", `/admin/sequences/${SEQ}`, "/admin/subscribers", "/admin/signin"]) {
      const res = await viewer.get(path);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).not.toContain("unsafe-inline");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      const html = await res.text();
      expect(html, path).not.toMatch(/<script>(?!<)/); // no inline script bodies
      expect(html, path).not.toMatch(/ style="/);
    }
  });

  it("Chart.js is served from node_modules (nothing from a CDN), and pages label their charts", async () => {
    const res = await viewer.get("/admin/assets/chart.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("javascript");
    const require = createRequire(import.meta.url);
    expect(await res.text()).toBe(readFileSync(join(dirname(require.resolve("chart.js")), "chart.umd.min.js"), "utf8"));
    const page = await (await viewer.get("/admin")).text();
    expect(page).toContain('<script src="/admin/assets/chart.js" defer>');
    expect(page).not.toMatch(/https?:\/\/(?!drip\.example\.com)[^"']*\.js/);
    expect(page).toMatch(/<canvas id="activity" role="img" aria-label="[^"]+">/);
    expect((await viewer.get("/admin/assets/../../package.json")).status).toBe(404);
  });

  it("every form field has a label", async () => {
    for (const path of ["/admin/subscribers", `/admin/subscribers/${reader.id}`, "/admin/staff", `/admin/sequences/${SEQ}`, "/admin/subscribers/import"]) {
      const html = await (await owner.get(path)).text();
      const ids = [...html.matchAll(/<(?:input|select|textarea)(?![^>]*type="(?:hidden|checkbox)")[^>]*\bid="([^"]+)"/g)].map((m) => m[1]);
      const fields = [...html.matchAll(/<(?:input|select|textarea)(?![^>]*type="(?:hidden|checkbox)")[^>]*>/g)];
      expect(ids.length, path).toBe(fields.length);
      for (const id of ids) expect(html, `${path} #${id}`).toContain(`for="${id}"`);
    }
  });
});
