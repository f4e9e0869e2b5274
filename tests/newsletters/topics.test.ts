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

describe("drip import: the topics column", () => {
  it("joins new subscribers to the topics named (consent from the import, at subscribed_at); an unknown topic is a bad row", async () => {
    const { writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { runDrip, tempDir, cleanupTempDirs } = await import("../support/engine-helpers.ts");
    const { SqliteStore } = await import("../../src/store/sqlite/sqlite-store.ts");
    const dir = tempDir("drip-import-topics-");
    try {
      const env = { DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox") };
      writeFileSync(
        join(dir, "people.csv"),
        "email,name,timezone,topics,subscribed_at\nin@example.com,In,Europe/London,weekly,2026-10-01T09:00:00Z\nout@example.com,Out,Europe/London,,2026-10-01T09:00:00Z\nbad@example.com,Bad,Europe/London,nope,2026-10-01T09:00:00Z\n",
      );
      const r = await runDrip(["import", join(dir, "people.csv"), "--confirmed"], { env, cwd: dir });
      expect(r.out + r.err).toMatch(/topic "nope" is not declared/);
      const store = new SqliteStore(env.DATABASE_URL);
      try {
        const member = await store.findSubscriberByEmail("in@example.com");
        expect(await store.listTopicMemberships(member!.id)).toEqual([
          { topicId: "weekly", status: "joined", consentAt: new Date("2026-10-01T09:00:00Z"), consentSource: "import", leftAt: null },
        ]);
        expect(await store.listTopicMemberships((await store.findSubscriberByEmail("out@example.com"))!.id)).toEqual([]);
        expect(await store.findSubscriberByEmail("bad@example.com")).toBeNull();
      } finally {
        await store.close();
      }
    } finally {
      cleanupTempDirs();
    }
  });
});
