/**
 * /healthz and the explicit default sequence: 503 when ticks have stalled (the test's clock
 * moves, no tick finishes) or the store is unreachable; "degraded" with the reason when the
 * default sequence is not loaded, while the signup page stays branded and takes signups that
 * wait for the course. The default is named, so a sequence added later never takes over.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Sequence } from "../../src/sequences/types.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { type Harness, START, harness, json } from "./harness.ts";

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  cleanupTempDirs();
});
const MIN = 60_000;

describe("/healthz", () => {
  it("503 when no tick has finished for longer than the threshold; ok again once one does", async () => {
    let lastTick: Date | null = null;
    h = await harness({ http: { lastTick: () => lastTick, startedAt: START, tickStallMs: 5 * MIN } });
    const ok = await h.req("/healthz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true, status: "ok", lastTick: null });
    h.advance(6 * MIN);
    const stalled = await h.req("/healthz");
    expect(stalled.status).toBe(503);
    expect(await stalled.json()).toEqual({
      ok: false,
      status: "unhealthy",
      error: "ticks stalled: no tick has finished since the start 6 minutes ago",
      lastTick: null,
    });
    lastTick = h.now();
    expect((await h.req("/healthz")).status).toBe(200);
    h.advance(11 * MIN);
    expect(await (await h.req("/healthz")).json()).toMatchObject({ ok: false, error: "ticks stalled: the last tick finished 11 minutes ago" });
  });

  it("503 when the store is unreachable", async () => {
    const real = await harness();
    // The real store, whose database stops answering (as a removed disk or a lost server).
    const unreachable = new Proxy(real.app.store, {
      get: (t, k, r) => (k === "getMeta" ? () => Promise.reject(new Error("SQLITE_IOERR: disk I/O error")) : Reflect.get(t, k, r)),
    });
    await real.close();
    h = await harness({ http: { store: unreachable } });
    const r = await h.req("/healthz");
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ ok: false, error: "database unavailable" });
  });

  it("degraded with the reason when the default sequence is not loaded; the page stays branded and signups wait", async () => {
    h = await harness();
    const course = h.app.engine.defaultSequence as Sequence;
    expect(course.id).toBe("hip-pain-course");
    // As at a start where the only sequence file failed to load.
    h.app.engine.setSequences([]);
    h.app.engine.sequenceProblems = ["sequences/hip-pain-course.ts: the file could not be loaded: sequences/hip-pain-course.ts:3:1: Unexpected token"];
    const r = await h.req("/healthz");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({
      ok: true,
      status: "degraded",
      reason:
        'the default sequence "hip-pain-course" is not loaded: sequences/hip-pain-course.ts: the file could not be loaded: sequences/hip-pain-course.ts:3:1: Unexpected token',
      lastTick: null,
    });
    const page = await (await h.req("/")).text();
    // Branded: the default form's own title (sequences/forms.ts) and the clinic's name from sequences/index.ts.
    expect(page).toContain("<h1>Outer hip and leg pain that isn&#39;t your IT band</h1>");
    expect(page).toContain('<p class="brand">Body Heal Therapy</p>');
    expect(page).toContain("A free email course from Body Heal Therapy.");
    expect(page).not.toContain("in  short emails");
    expect(page).toMatch(/<option value="Europe\/London" selected/);
    const signup = await h.req("/subscribe", json({ email: "wait@example.com", name: "Wai", timezone: "" }));
    expect(signup.status).toBeLessThan(300);
    await h.tick();
    expect(h.files()).toEqual([]); // nothing lost: the confirmation waits for the course
    h.app.engine.setSequences([course]);
    expect(await (await h.req("/healthz")).json()).toMatchObject({ status: "ok" });
    await h.tick();
    expect(h.files()).toHaveLength(1);
  });
});

describe("the default sequence", () => {
  it("is the one sequences/index.ts names; a sequence added later (hot reload) never takes it over", async () => {
    h = await harness();
    const course = h.app.engine.defaultSequence as Sequence;
    const december = { ...course, id: "aaa-december-newsletter", name: "December newsletter" } as Sequence;
    h.app.engine.setSequences([december, course]);
    expect(h.app.engine.defaultSequence?.id).toBe("hip-pain-course");
    expect(await (await h.req("/")).text()).toContain("<h1>Outer hip and leg pain that isn&#39;t your IT band</h1>");
  });

  it("without a name, the first loaded is pinned for the life of the process", async () => {
    h = await harness();
    const course = h.app.engine.defaultSequence as Sequence;
    h.app.engine.setDefaultSequenceId(null);
    const december = { ...course, id: "aaa-december-newsletter", name: "December newsletter" } as Sequence;
    h.app.engine.setSequences([december, course]);
    expect(h.app.engine.defaultSequence?.id).toBe("hip-pain-course");
  });

  it("DRIP_DEFAULT_SEQUENCE overrides sequences/index.ts", async () => {
    h = await harness({ env: { DRIP_DEFAULT_SEQUENCE: "other-course" } });
    expect(h.app.engine.defaultSequenceId).toBe("other-course");
    expect(await (await h.req("/healthz")).json()).toMatchObject({ status: "degraded", reason: 'the default sequence "other-course" is not loaded' });
  });
});
