/**
 * Automations fired from the lifecycle door, on an in-memory store: each trigger kind, the
 * conditions, a delay, chained actions, idempotency (the same cause fires once), atomicity (a
 * failure inside an automation leaves the change that caused it undone too), completions that
 * fire once per round, and an import page firing its rows' automations in one transaction.
 */
import { describe, expect, it } from "vitest";
import { compileAutomations } from "../../src/automations/compile.ts";
import { defineAutomations } from "../../src/automations/define.ts";
import type { AutomationDefinition, SequenceTrigger } from "../../src/automations/types.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import type { Sequence } from "../../src/sequences/types.ts";
import type { Store } from "../../src/store/types.ts";
import { MINUTE, at, memoryEngine, tinySequence } from "../support/engine-helpers.ts";

const NOW = at("2027-01-04T10:00:00Z");

async function world(opts: { triggers?: readonly SequenceTrigger[]; automations?: AutomationDefinition[]; store?: (s: Store) => Store } = {}) {
  const course = tinySequence({ id: "course" });
  const after = { ...tinySequence({ id: "after" }), triggers: opts.triggers ?? [] } as Sequence;
  const other = tinySequence({ id: "other" });
  const sequences = [course, after, other];
  const { store, engine, transport } = await memoryEngine({ sequences });
  const automations = compileAutomations(
    sequences.map((sequence) => ({ sequence })),
    opts.automations ? { file: "automations.ts", automations: defineAutomations(opts.automations).automations } : undefined,
  );
  const lifecycle = new Lifecycle({ store: opts.store?.(store) ?? store, sequences: engine, automations: () => automations });
  const reader = async (email: string, tags: string[] = []) => {
    const r = await lifecycle.subscribe({ email, name: "", timezone: "Europe/London", tags }, { confirmed: true, source: "test" }, NOW);
    if (r.kind !== "ok") throw new Error("suppressed");
    return r.subscriber;
  };
  const enrollment = async (id: string, seq = "after") => store.getEnrollment(id, seq);
  return { store, engine, transport, lifecycle, reader, enrollment };
}

describe("triggers fired from the door", () => {
  it("tag-added enrolls once; tagging again, or with the tag already there, fires nothing", async () => {
    const w = await world({ triggers: [{ on: "tag-added", tag: "vip" }] });
    const s = await w.reader("a@example.com");
    expect(await w.lifecycle.tag(s, "vip", NOW)).toBe("added");
    expect(await w.lifecycle.tag(s, "vip", new Date(NOW.getTime() + MINUTE))).toBe("already");
    expect(await w.enrollment(s.id)).toMatchObject({ status: "active", nextStepId: "welcome", nextDueAt: NOW });
    expect(await w.store.automationRuns(s.id)).toMatchObject([{ automationId: "after.tag-added", outcome: "done", detail: "enrolled in after" }]);
    // Removed and added again: it fires, and the sequence's rule (no re-entry while in it) holds.
    await w.lifecycle.untag(s, "vip");
    await w.lifecycle.tag(s, "vip", new Date(NOW.getTime() + 2 * MINUTE));
    expect((await w.store.automationRuns(s.id)).map((r) => r.outcome)).toEqual(["done", "unchanged"]);
    expect((await w.store.listEnrollments(s.id)).filter((e) => e.sequenceId === "after")).toHaveLength(1);
  });

  it("conditions: all, any and none are read after the change", async () => {
    const w = await world({ triggers: [{ on: "tag-added", tag: "go", when: { tags: { all: ["a"], any: ["b", "c"], none: ["stop"] } } }] });
    const cases: [string, string[], boolean][] = [
      ["ok@example.com", ["a", "c"], true],
      ["no-all@example.com", ["c"], false],
      ["no-any@example.com", ["a"], false],
      ["none@example.com", ["a", "b", "stop"], false],
    ];
    for (const [email, tags, enrolls] of cases) {
      const s = await w.reader(email, tags);
      await w.lifecycle.tag(s, "go", NOW);
      expect(Boolean(await w.enrollment(s.id)), email).toBe(enrolls);
    }
  });

  it("a delay starts the sequence later", async () => {
    const w = await world({ triggers: [{ on: "tag-added", tag: "vip", delay: { days: 2, hours: 3 } }] });
    const s = await w.reader("a@example.com");
    await w.lifecycle.tag(s, "vip", NOW);
    const later = new Date(NOW.getTime() + (2 * 24 + 3) * 60 * MINUTE);
    expect(await w.enrollment(s.id)).toMatchObject({ startedAt: later, nextDueAt: later });
    expect((await w.store.automationRuns(s.id))[0]!.detail).toBe(`enrolled in after from ${later.toISOString()}`);
  });

  it("actions: enroll, add and remove tags, exit another sequence; an added tag fires the next automation in the same transaction", async () => {
    const w = await world({
      automations: [
        { id: "vip-welcome", on: { on: "tag-added", tag: "vip" }, do: [{ addTag: "welcomed" }, { removeTag: "trial" }, { exit: "course" }] },
        { id: "welcomed-after", on: { on: "tag-added", tag: "welcomed" }, do: [{ enroll: "after" }] },
      ],
    });
    const s = await w.reader("a@example.com", ["trial"]);
    await w.lifecycle.enroll(s, "course", NOW);
    await w.lifecycle.tag(s, "vip", NOW);
    expect((await w.store.getSubscriber(s.id))?.tags).toEqual(["vip", "welcomed"]);
    expect(await w.enrollment(s.id, "course")).toMatchObject({ status: "exited", reason: "automation vip-welcome" });
    expect(await w.enrollment(s.id)).toMatchObject({ status: "active" });
    expect((await w.store.automationRuns(s.id)).map((r) => [r.automationId, r.detail])).toEqual([
      ["vip-welcome", 'tagged "welcomed"; untagged "trial"; exited course'],
      ["welcomed-after", "enrolled in after"],
    ]);
  });

  it("the same event twice fires once; a later event fires again and the sequence's re-entry rule decides", async () => {
    const w = await world({ triggers: [{ on: "event", name: "booked" }] });
    const s = await w.reader("a@example.com");
    const at1 = new Date(NOW.getTime() - MINUTE);
    await w.lifecycle.recordBooking(s, at1, NOW);
    await w.lifecycle.recordBooking(s, at1, new Date(NOW.getTime() + MINUTE));
    expect(await w.store.automationRuns(s.id)).toHaveLength(1);
    await w.lifecycle.recordBooking(s, NOW, NOW);
    expect((await w.store.automationRuns(s.id)).map((r) => r.detail)).toEqual(["enrolled in after", "already in after"]);
  });

  it("a failure inside an automation undoes the change that fired it: no tag without its automation", async () => {
    let failing = true;
    const w = await world({
      triggers: [{ on: "tag-added", tag: "vip" }],
      // A store whose transactions fail while recording the run (as a crash would, mid-transaction).
      store: (inner) =>
        new Proxy(inner, {
          get(target, prop, receiver) {
            if (prop !== "transaction") return Reflect.get(target, prop, receiver);
            return <T>(fn: (tx: Store) => Promise<T>) =>
              target.transaction((tx) =>
                fn(
                  new Proxy(tx, {
                    get(t, p, r) {
                      if (p === "recordAutomationRun" && failing) return async () => Promise.reject(new Error("disk gone mid-transaction"));
                      const v = Reflect.get(t, p, r);
                      return typeof v === "function" ? v.bind(t) : v;
                    },
                  }),
                ),
              );
          },
        }),
    });
    const s = await w.reader("a@example.com");
    await expect(w.lifecycle.tag(s, "vip", NOW)).rejects.toThrow("disk gone");
    expect((await w.store.getSubscriber(s.id))?.tags).toEqual([]);
    expect(await w.enrollment(s.id)).toBeNull();
    failing = false;
    await w.lifecycle.tag(s, "vip", NOW);
    expect((await w.store.getSubscriber(s.id))?.tags).toEqual(["vip"]);
    expect(await w.enrollment(s.id)).toMatchObject({ status: "active" });
  });

  it("completed: fires once per completion, from the tick, even when fireCompletions runs twice", async () => {
    const w = await world({ triggers: [{ on: "completed", sequence: "course" }] });
    const s = await w.reader("a@example.com");
    await w.lifecycle.enroll(s, "course", NOW);
    for (let d = 0; d <= 4; d++) await w.engine.tick(new Date(NOW.getTime() + d * 24 * 60 * MINUTE));
    expect(await w.enrollment(s.id, "course")).toMatchObject({ status: "completed" });
    // The engine here was built without the door's hook: nothing fired yet, and the completion waits.
    expect(await w.store.pendingCompletions(10)).toHaveLength(1);
    expect(await w.lifecycle.fireCompletions(NOW)).toEqual({ fired: 1, entered: 1 });
    expect(await w.lifecycle.fireCompletions(NOW)).toEqual({ fired: 0, entered: 0 });
    expect(await w.store.automationRuns(s.id)).toMatchObject([{ trigger: "sequence course completed (round 1)", enrolled: "after" }]);
  });

  it("signup: subscribe --confirmed fires signup automations once", async () => {
    const w = await world({ triggers: [{ on: "signup" }] });
    const s = await w.reader("a@example.com");
    await w.reader("a@example.com");
    expect(await w.enrollment(s.id)).toMatchObject({ status: "active" });
    expect(await w.store.automationRuns(s.id)).toHaveLength(1);
  });
});

describe("an import page", () => {
  it("fires each new active row's tag automations once, in the page's transaction; a second run fires nothing", async () => {
    const w = await world({ triggers: [{ on: "tag-added", tag: "vip" }] });
    const rows = ["a", "b", "c"].map((n, i) => ({
      email: `${n}@example.com`,
      status: (i === 2 ? "pending" : "active") as "pending" | "active",
      tags: ["vip"],
      startAt: NOW,
    }));
    const first = await w.lifecycle.importPage(rows, { enrollIn: null }, NOW);
    expect(first.automations).toEqual({ fired: 2, entered: 2 });
    const second = await w.lifecycle.importPage(rows, { enrollIn: null }, new Date(NOW.getTime() + MINUTE));
    expect(second.automations).toEqual({ fired: 0, entered: 0 });
    for (const email of ["a@example.com", "b@example.com"]) {
      const s = (await w.store.findSubscriberByEmail(email))!;
      expect(await w.enrollment(s.id), email).toMatchObject({ status: "active" });
    }
    expect(await w.enrollment((await w.store.findSubscriberByEmail("c@example.com"))!.id)).toBeNull();
  });
});
