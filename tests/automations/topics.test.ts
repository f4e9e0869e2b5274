/**
 * Topics in automations, through the lifecycle door on an in-memory store: "topic-joined"
 * fires from joinTopic, from confirming a signup that ticked a topic, from `subscribe` with
 * topics and from an import page, each in that change's transaction; `joinTopic` actions
 * join only with recorded consent (a `consented` record: joined, its consent kept; none, or
 * a topic left: the run is skipped with the reason); `leaveTopic` actions; validation refuses
 * unknown topics naming newsletters/topics.ts, a form's "when the course ends" topic nobody
 * hands over, and a loop through a topic.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkAutomations, compileAutomations, describeCycle, findCycle } from "../../src/automations/compile.ts";
import { defineAutomations } from "../../src/automations/define.ts";
import { loadAutomationSet } from "../../src/automations/load.ts";
import type { AutomationDefinition } from "../../src/automations/types.ts";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { defineTopics, staticTopics } from "../../src/newsletters/topics.ts";
import type { Sequence } from "../../src/sequences/types.ts";
import type { Store } from "../../src/store/types.ts";
import { MINUTE, at, cleanupTempDirs, memoryEngine, tempDir, tinySequence } from "../support/engine-helpers.ts";

const NOW = at("2027-01-04T10:00:00Z");
const LATER = new Date(NOW.getTime() + MINUTE);
const topics = staticTopics(
  defineTopics([
    { id: "weekly", name: "Weekly", description: "The weekly blog.", askAtSignup: true },
    { id: "offers", name: "Offers", description: "Now and then.", askAtSignup: false },
  ]),
);
afterAll(cleanupTempDirs);

async function world(automations: AutomationDefinition[]) {
  const course = tinySequence({ id: "course" });
  const sequences: Sequence[] = [course, tinySequence({ id: "after" })];
  const { store, engine } = await memoryEngine({ sequences });
  const list = compileAutomations(
    sequences.map((sequence) => ({ sequence })),
    { file: "automations.ts", automations: defineAutomations(automations).automations },
  );
  const lifecycle = new Lifecycle({ store, sequences: engine, topics, automations: () => list });
  const reader = async (email: string, opts: { topics?: string[]; confirmed?: boolean } = {}) => {
    const r = await lifecycle.subscribe(
      { email, name: "", timezone: "Europe/London", tags: [] },
      { confirmed: opts.confirmed ?? true, source: "test", sequenceId: "course", topics: opts.topics ?? [] },
      NOW,
    );
    if (r.kind !== "ok") throw new Error("suppressed");
    return r.subscriber;
  };
  return { store, engine, lifecycle, reader };
}

const onWeekly: AutomationDefinition = { id: "weekly-readers", on: { on: "topic-joined", topic: "weekly" }, do: [{ addTag: "reader" }, { enroll: "after" }] };

describe("topic-joined fires from the door, in the change's transaction", () => {
  it("joinTopic on an active subscriber fires once; joining again fires nothing", async () => {
    const w = await world([onWeekly]);
    const s = await w.reader("a@example.com");
    expect(await w.lifecycle.joinTopic(s, "weekly", { source: "preferences page" }, NOW)).toBe("joined");
    expect(await w.lifecycle.joinTopic(s, "weekly", { source: "preferences page" }, LATER)).toBe("already");
    expect((await w.store.getSubscriber(s.id))?.tags).toEqual(["reader"]);
    expect(await w.store.getEnrollment(s.id, "after")).toMatchObject({ status: "active" });
    expect(await w.store.automationRuns(s.id)).toMatchObject([
      { automationId: "weekly-readers", trigger: "topic weekly joined", outcome: "done", detail: 'tagged "reader"; enrolled in after' },
    ]);
  });

  it("a failure inside the automation undoes the join too (one transaction)", async () => {
    const w = await world([onWeekly]);
    const s = await w.reader("b@example.com");
    const failing = new Lifecycle({
      store: new Proxy(w.store, {
        get(target, p, recv) {
          if (p === "transaction")
            return <T>(fn: (tx: Store) => Promise<T>) =>
              target.transaction((tx) =>
                fn(
                  new Proxy(tx, {
                    get(t, q, r) {
                      if (q === "recordAutomationRun") return async () => Promise.reject(new Error("disk gone mid-transaction"));
                      const v = Reflect.get(t, q, r);
                      return typeof v === "function" ? v.bind(t) : v;
                    },
                  }),
                ),
              );
          const v = Reflect.get(target, p, recv);
          return typeof v === "function" ? v.bind(target) : v;
        },
      }),
      sequences: w.engine,
      topics,
      automations: () => compileAutomations([], { file: "automations.ts", automations: defineAutomations([onWeekly]).automations }),
    });
    await expect(failing.joinTopic(s, "weekly", { source: "cli" }, NOW)).rejects.toThrow("disk gone");
    expect(await w.store.listTopicMemberships(s.id)).toEqual([]);
    expect((await w.store.getSubscriber(s.id))?.tags).toEqual([]);
  });

  it("a pending subscriber's topics fire when they confirm, not before", async () => {
    const w = await world([onWeekly]);
    expect(
      await w.lifecycle.signUp({ email: "c@example.com", name: "", timezone: "Europe/London", tags: [] }, { source: "signup form", topics: ["weekly"] }, NOW),
    ).toBe("queued");
    const s = (await w.store.findSubscriberByEmail("c@example.com"))!;
    expect(await w.store.automationRuns(s.id)).toEqual([]);
    await w.lifecycle.confirm(s.id, NOW, LATER);
    expect(await w.store.automationRuns(s.id)).toMatchObject([{ automationId: "weekly-readers", outcome: "done" }]);
    expect((await w.store.getSubscriber(s.id))?.tags).toEqual(["reader"]);
  });

  it("subscribe with topics joins and fires in its own transaction; an unknown topic is refused before anything is written", async () => {
    const w = await world([onWeekly]);
    const s = await w.reader("d@example.com", { topics: ["weekly"] });
    expect(await w.store.listTopicMemberships(s.id)).toMatchObject([{ topicId: "weekly", status: "joined", consentSource: "test" }]);
    expect((await w.store.getSubscriber(s.id))?.tags).toEqual(["reader"]);
    await expect(w.reader("e@example.com", { topics: ["nope"] })).rejects.toThrow(/no topic "nope": known topics are weekly, offers/);
    expect(await w.store.findSubscriberByEmail("e@example.com")).toBeNull();
  });

  it("an import page fires topic-joined for its active new members, in the page's transaction", async () => {
    const w = await world([onWeekly]);
    const row = (email: string, status: "active" | "pending", t: string[]) => ({ email, status, timezone: "Europe/London", startAt: NOW, topics: t });
    const result = await w.lifecycle.importPage(
      [row("i1@example.com", "active", ["weekly"]), row("i2@example.com", "active", []), row("i3@example.com", "pending", ["weekly"])],
      { enrollIn: null },
      NOW,
    );
    expect(result.automations).toEqual({ fired: 1, entered: 1 });
    const tagged = await Promise.all(["i1", "i2", "i3"].map(async (n) => (await w.store.findSubscriberByEmail(`${n}@example.com`))?.tags));
    expect(tagged).toEqual([["reader"], [], []]);
  });
});

describe("joinTopic actions: only with recorded consent", () => {
  const handOff: AutomationDefinition = { id: "finishers-join-weekly", on: { on: "tag-added", tag: "finished" }, do: [{ joinTopic: "weekly" }] };

  it("consented for later: joined, keeping the consent's own time and source, and topic-joined fires in turn", async () => {
    const w = await world([handOff, onWeekly]);
    const s = await w.reader("f@example.com");
    await w.store.setTopic(s.id, "weekly", { status: "consented", at: NOW, source: "signup form: hip-pain (when the course ends)" });
    await w.lifecycle.tag(s, "finished", LATER);
    expect(await w.store.listTopicMemberships(s.id)).toEqual([
      { topicId: "weekly", status: "joined", consentAt: NOW, consentSource: "signup form: hip-pain (when the course ends)", leftAt: null },
    ]);
    expect(await w.store.automationRuns(s.id)).toMatchObject([
      { automationId: "finishers-join-weekly", outcome: "done", detail: "joined topic weekly" },
      { automationId: "weekly-readers", outcome: "done" },
    ]);
    expect((await w.store.automationStats()).find((r) => r.automationId === "finishers-join-weekly")).toMatchObject({ fired: 1, joined: 1, skipped: 0 });
  });

  it("no consent recorded, or the topic left: not joined, the run skipped with why; a member is 'already'", async () => {
    const w = await world([handOff]);
    const none = await w.reader("g@example.com");
    const left = await w.reader("h@example.com", { topics: ["weekly"] });
    await w.lifecycle.leaveTopic(left, "weekly", NOW, "one-click");
    const member = await w.reader("i@example.com", { topics: ["weekly"] });
    for (const s of [none, left, member]) await w.lifecycle.tag(s, "finished", LATER);
    expect(await w.store.listTopicMemberships(none.id)).toEqual([]);
    expect((await w.store.listTopicMemberships(left.id))[0]).toMatchObject({ status: "left" });
    expect(await w.store.automationRuns(none.id)).toMatchObject([
      { outcome: "skipped", detail: "not joined to topic weekly: no recorded consent for topic weekly" },
    ]);
    expect(await w.store.automationRuns(left.id)).toMatchObject([
      { outcome: "skipped", detail: `not joined to topic weekly: they left topic weekly on ${NOW.toISOString()}` },
    ]);
    expect(await w.store.automationRuns(member.id)).toMatchObject([{ outcome: "unchanged", detail: "already in topic weekly" }]);
    expect(await w.store.automationStats()).toEqual([{ automationId: "finishers-join-weekly", fired: 3, entered: 0, joined: 0, unchanged: 1, skipped: 2 }]);
  });

  it("leaveTopic actions end a membership or a consent for later", async () => {
    const w = await world([{ id: "moved-on", on: { on: "tag-added", tag: "moved" }, do: [{ leaveTopic: "weekly" }, { leaveTopic: "offers" }] }]);
    const s = await w.reader("j@example.com", { topics: ["weekly"] });
    await w.store.setTopic(s.id, "offers", { status: "consented", at: NOW, source: "test" });
    await w.lifecycle.tag(s, "moved", LATER);
    expect((await w.store.listTopicMemberships(s.id)).map((m) => [m.topicId, m.status])).toEqual([
      ["offers", "left"],
      ["weekly", "left"],
    ]);
    expect(await w.store.automationRuns(s.id)).toMatchObject([{ outcome: "done", detail: "left topic weekly; left topic offers" }]);
  });
});

describe("validation", () => {
  it("an unknown topic in a trigger or an action is refused in one sentence naming newsletters/topics.ts", () => {
    const list = compileAutomations([], {
      file: "sequences/automations.ts",
      automations: defineAutomations([
        { id: "a", on: { on: "topic-joined", topic: "nope" }, do: [{ addTag: "x" }] },
        { id: "b", on: { on: "tag-added", tag: "y" }, do: [{ joinTopic: "weekly" }, { leaveTopic: "gone" }] },
      ]).automations,
    });
    const issues = checkAutomations(list, { sequences: new Set(), forms: new Set(), topics: new Set(["weekly"]) });
    expect(issues.map((i) => `${i.file}: ${i.path}: ${i.message}`)).toEqual([
      'sequences/automations.ts: [0].topic: no topic "nope" is declared in newsletters/topics.ts: known topics are weekly',
      'sequences/automations.ts: [1].do[1]: no topic "gone" is declared in newsletters/topics.ts: known topics are weekly',
    ]);
  });

  it("a loop through a topic (join-topic → topic-joined → … → join-topic) is refused with its path", () => {
    const list = compileAutomations([], {
      file: "automations.ts",
      automations: defineAutomations([
        { id: "join", on: { on: "tag-added", tag: "x" }, do: [{ joinTopic: "weekly" }] },
        { id: "tag", on: { on: "topic-joined", topic: "weekly" }, do: [{ addTag: "x" }] },
      ]).automations,
    });
    const cycle = findCycle(list);
    expect(describeCycle(cycle!)).toBe('join (on tag "x" added) joins topic weekly → tag (on topic weekly joined) adds tag "x" → join');
  });

  it("forms: an unknown topic, and a 'when the course ends' topic no automation joins, are refused with the file and path", async () => {
    const dir = tempDir("drip-form-topics-");
    mkdirSync(join(dir, "sequences"));
    const define = resolve("src/forms/define.ts");
    writeFileSync(
      join(dir, "sequences", "forms.ts"),
      `import { defineForms } from ${JSON.stringify(define)};
export default defineForms({ default: "f", forms: [{ id: "f", title: "F", fields: [], topics: ["nope", { id: "weekly", when: "after-course" }], thankYou: { text: "Thanks" } }] });
`,
    );
    const set = await loadAutomationSet(join(dir, "sequences"), [{ sequence: tinySequence({ id: "course" }) }], {
      cwd: dir,
      topics: new Set(["weekly"]),
      topicsFile: join(dir, "newsletters", "topics.ts"),
    });
    expect(set.issues).toEqual([
      { file: "sequences/forms.ts", path: "forms[0].topics", message: 'no topic "nope" is declared in newsletters/topics.ts: known topics are weekly' },
      {
        file: "sequences/forms.ts",
        path: "forms[0].topics",
        message:
          '"weekly" is offered for when the course ends, but no automation joins it: add one such as { on: "completed", sequence: "<course>", do: [{ joinTopic: "weekly" }] } to automations.ts, or offer the topic at once',
      },
    ]);
  });
});
