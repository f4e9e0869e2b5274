/**
 * The clinic's automation, end to end on the real app (SQLite file, the real sequences in
 * sequences/): a reader tagged `booked` — by the booking API, `drip event`, or `drip tag` —
 * enters the post-booking sequence exactly once, even when the event comes twice or while a
 * tick runs; its first email goes out on the next tick; the course's booking steps skip.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { ScriptedTransport, cleanupTempDirs, runDrip } from "../support/engine-helpers.ts";
import { API_KEY, DAY, type Harness, harness, json } from "../http/harness.ts";

let h: Harness;
let transport: ScriptedTransport;
beforeEach(async () => {
  transport = new ScriptedTransport((msg) => ({ ok: true, providerMessageId: `re_${msg.sendId}` }));
  h = await harness({ transport });
});
afterEach(async () => {
  await h.close();
  cleanupTempDirs();
});

async function reader(email: string): Promise<string> {
  const r = await h.app.lifecycle.subscribe({ email, name: "Ann", timezone: "Europe/London", tags: [] }, { confirmed: true, source: "test" }, h.now());
  if (r.kind !== "ok") throw new Error("suppressed");
  await h.tick(); // the course's first email
  return r.subscriber.id;
}

const book = (email: string, at?: string) =>
  h.req("/api/events", json({ email, name: "booked", ...(at ? { at } : {}) }, { authorization: `Bearer ${API_KEY}` }));
const enrollmentRows = (id: string) =>
  (h.app.store as SqliteStore).db.selectFrom("enrollments").selectAll().where("subscriber_id", "=", id).where("sequence_id", "=", "post-booking").execute();

describe("booked → post-booking", () => {
  it("the booking API enrolls once, even when the same event and a later one arrive; the first email goes out once", async () => {
    const ann = await reader("ann@example.com");
    const at = new Date(h.now().getTime() + 60_000).toISOString();
    for (const when of [at, at, undefined]) expect((await book("ann@example.com", when)).status).toBe(200);
    expect(await enrollmentRows(ann)).toHaveLength(1);
    const runs = await h.app.store.automationRuns(ann);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ automationId: "booked-starts-post-booking", trigger: 'tag "booked" added', outcome: "done", enrolled: "post-booking" });
    await h.tick();
    await h.tick();
    expect(transport.stepsTo("ann@example.com")).toEqual(["article", "thanks"]);
    const thanks = transport.calls.find((m) => m.tags.some((t) => t.value === "thanks"))!;
    expect(thanks.subject).toBe("Thanks for booking with Body Heal Therapy");
    expect(thanks.text).toContain("Your session with Body Heal Therapy is booked");
  });

  it("the course's booking steps skip for the booked reader, and the follow-up comes a week later", async () => {
    const ann = await reader("ann@example.com");
    expect((await book("ann@example.com")).status).toBe(200);
    await h.tick(); // "thanks", at once
    for (let d = 1; d <= 15; d++) await h.tick(new Date(Date.parse("2026-03-09T09:00:00Z") + d * DAY));
    const sends = await h.app.store.listSends({ subscriberId: ann });
    for (const step of ["book", "last-call"])
      expect(
        sends.find((s) => s.stepId === step),
        step,
      ).toMatchObject({ status: "skipped", reason: 'subscriber has tag "booked"' });
    const steps = transport.stepsTo("ann@example.com");
    expect(steps.filter((s) => s === "thanks" || s === "follow-up")).toEqual(["thanks", "follow-up"]);
    const followUp = sends.find((s) => s.stepId === "follow-up")!;
    // Booked on Monday 9 March at 10:00 (London): day 7 at 09:00 local is Monday 16 March.
    expect(followUp).toMatchObject({ status: "sent", dueAt: new Date("2026-03-16T09:00:00Z") });
  });

  it("`drip event` and `drip tag` enroll once; a second time changes nothing", async () => {
    const bob = await reader("bob@example.com");
    const cli = (argv: string[]) => runDrip(argv, { env: h.env, cwd: h.dir, now: h.now() });
    const first = await cli(["event", "bob@example.com", "booked"]);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toContain("1 automation fired (1 sequence started)");
    expect((await cli(["event", "bob@example.com", "booked"])).out).not.toContain("automation");
    expect(await enrollmentRows(bob)).toHaveLength(1);

    const cat = await reader("cat@example.com");
    expect((await cli(["tag", "cat@example.com", "booked"])).code).toBe(0);
    expect((await cli(["tag", "cat@example.com", "booked"])).code).toBe(0);
    expect(await enrollmentRows(cat)).toHaveLength(1);
    expect((await h.app.store.automationRuns(cat)).map((r) => r.detail)).toEqual(["enrolled in post-booking"]);
    // drip stats counts entries per trigger: two readers entered through the booked tag.
    const stats = await cli(["stats", "--automations", "--json"]);
    expect(JSON.parse(stats.out)).toEqual([
      { automationId: "booked-starts-post-booking", trigger: 'tag "booked" added', fired: 2, entered: 2, joined: 0, unchanged: 0, skipped: 0 },
    ]);
    expect((await cli(["stats"])).out).toMatch(/^booked-starts-post-booking \(tag "booked" added\) +2 +2 +0 +0 +0$/m);
    await h.tick();
    expect(transport.stepsTo("cat@example.com")).toEqual(["article", "thanks"]);
  });

  it("events arriving while a tick delivers: one enrollment, one thanks email", async () => {
    // Enough readers that the tick is still delivering when the events come in.
    const emails = Array.from({ length: 40 }, (_, i) => `r${i}@example.com`);
    for (const email of emails)
      await h.app.lifecycle.subscribe({ email, name: "", timezone: "Europe/London", tags: [] }, { confirmed: true, source: "test" }, h.now());
    const target = emails[7]!;
    const ticking = h.tick();
    const during = await Promise.all([book(target), book(target), book(target)]);
    await ticking;
    for (const r of during) expect(r.status).toBe(200);
    await h.tick();
    await h.tick();
    const sub = (await h.app.store.findSubscriberByEmail(target))!;
    expect(await enrollmentRows(sub.id)).toHaveLength(1);
    expect(transport.stepsTo(target).filter((s) => s === "thanks")).toHaveLength(1);
    expect(transport.calls.filter((m) => m.tags.some((t) => t.value === "thanks"))).toHaveLength(1);
  });

  it("a reader who is not active (pending) is not enrolled; the run says why", async () => {
    const r = await h.app.lifecycle.subscribe({ email: "pat@example.com", name: "", timezone: "", tags: [] }, { confirmed: false, source: "test" }, h.now());
    if (r.kind !== "ok") throw new Error("suppressed");
    expect((await book("pat@example.com")).status).toBe(200);
    expect(await enrollmentRows(r.subscriber.id)).toHaveLength(0);
    expect(await h.app.store.automationRuns(r.subscriber.id)).toMatchObject([{ outcome: "skipped", detail: "subscriber is pending" }]);
  });
});
