/** Topics through the lifecycle door: consent recorded, unknown topics refused, leaving credited. */
import { describe, expect, it } from "vitest";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { defineTopics, staticTopics } from "../../src/newsletters/topics.ts";
import { memoryEngine } from "../support/engine-helpers.ts";

const T0 = new Date("2027-01-04T10:00:00Z");
const topics = staticTopics(defineTopics([{ id: "weekly", name: "Weekly", description: "The weekly blog.", askAtSignup: true }]));

async function setup() {
  const m = await memoryEngine();
  const lifecycle = new Lifecycle({ store: m.store, sequences: m.engine, topics });
  return { ...m, lifecycle };
}

describe("Lifecycle.joinTopic / leaveTopic", () => {
  it("joining records consent time and source; joining twice is 'already'; leaving keeps history and records an unsubscribed event", async () => {
    const { store, lifecycle } = await setup();
    const { subscriber } = await store.upsertSubscriber({ email: "a@example.com", status: "active" }, T0);
    expect(await lifecycle.joinTopic(subscriber, "weekly", { source: "signup form" }, T0)).toBe("joined");
    expect(await lifecycle.joinTopic(subscriber, "weekly", { source: "again" }, T0)).toBe("already");
    expect(await store.listTopicMemberships(subscriber.id)).toEqual([
      { topicId: "weekly", status: "joined", consentAt: T0, consentSource: "signup form", leftAt: null },
    ]);
    const later = new Date(T0.getTime() + 60_000);
    expect(await lifecycle.leaveTopic(subscriber, "weekly", later, "one-click")).toBe("left");
    expect(await lifecycle.leaveTopic(subscriber, "weekly", later, "one-click")).toBe("not-joined");
    expect((await store.listTopicMemberships(subscriber.id))[0]).toMatchObject({ status: "left", leftAt: later });
    expect((await store.getSubscriber(subscriber.id))?.status).toBe("active");
    await store.close();
  });

  it("an unknown topic is refused before anything is written; a suppressed address joins nothing", async () => {
    const { store, lifecycle } = await setup();
    const { subscriber } = await store.upsertSubscriber({ email: "b@example.com", status: "suppressed" }, T0);
    await expect(lifecycle.joinTopic(subscriber, "nope", { source: "cli" }, T0)).rejects.toThrow(/no topic "nope": known topics are weekly/);
    await expect(lifecycle.joinTopic(subscriber, "weekly", { source: "cli" }, T0)).rejects.toThrow(/suppressed/);
    expect(await store.listTopicMemberships(subscriber.id)).toEqual([]);
    await store.close();
  });

  it("defineTopics refuses a bad id and a duplicate", () => {
    expect(() => defineTopics([{ id: "Bad Id", name: "x", description: "y", askAtSignup: false }])).toThrow(/lower-case/);
    const t = { id: "a", name: "x", description: "y", askAtSignup: false };
    expect(() => defineTopics([t, t])).toThrow(/declared twice/);
  });
});
