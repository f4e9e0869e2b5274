/**
 * Re-planning while a step is claimed: the subscriber's change never frees the claimed step
 * for a second claim, and it is not lost either: the next tick applies it once the claim is
 * released, in the subscriber's new zone.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import type { Subscriber } from "../../src/store/types.ts";
import { MINUTE, ScriptedTransport, at, memoryEngine } from "../support/engine-helpers.ts";

const T0 = at("2027-01-04T10:00:00Z"); // Monday; London is on GMT, New York on EST (UTC-5)
let close: (() => Promise<void>) | undefined;
afterEach(async () => close?.());

async function world(onSend: (lifecycle: Lifecycle, sub: Subscriber) => Promise<void>) {
  let lifecycle: Lifecycle | undefined;
  let sub: Subscriber | undefined;
  let fired = false;
  const transport = new ScriptedTransport(async () => {
    if (!fired && lifecycle && sub) {
      fired = true;
      await onSend(lifecycle, sub); // the subscriber acts while the welcome email is claimed
    }
    return { ok: true, providerMessageId: null };
  });
  const { store, engine } = await memoryEngine({ transport });
  close = () => store.close();
  lifecycle = new Lifecycle({ store, sequences: engine });
  const res = await lifecycle.subscribe(
    { email: "zoe@example.com", name: "Zoe", timezone: "Europe/London", tags: [] },
    { confirmed: true, source: "test" },
    T0,
  );
  if (res.kind !== "ok") throw new Error("not subscribed");
  sub = res.subscriber;
  return { store, engine, transport, lifecycle, sub };
}

describe("re-planning a claimed enrollment", () => {
  it("a new time zone saved during the send is applied by the next tick: day 1 at 09:00 in New York, sent once", async () => {
    const { store, engine, transport, sub } = await world((l, s) => l.updateProfile(s, { timezone: "America/New_York" }));
    expect(await engine.tick(T0)).toMatchObject({ sent: 1 });
    // Recorded with the old zone's plan, then flagged: nothing claims it before the re-plan.
    const flagged = (await store.getEnrollment(sub.id, "tiny"))!;
    expect(flagged.nextStepId).toBe("tips");
    expect(await store.claimDue(at("2027-01-05T09:00:00Z"), 10, 5 * MINUTE)).toEqual([]);
    await engine.tick(T0); // the next tick applies it
    expect((await store.getEnrollment(sub.id, "tiny"))!.nextDueAt).toEqual(at("2027-01-05T14:00:00Z"));
    expect(await engine.tick(at("2027-01-05T09:00:00Z"))).toMatchObject({ sent: 0 });
    expect(await engine.tick(at("2027-01-05T14:00:00Z"))).toMatchObject({ sent: 1 });
    expect(transport.stepsTo("zoe@example.com")).toEqual(["welcome", "tips"]);
  });

  it("pause then resume during the send: the claimed email goes out once, and the course carries on", async () => {
    const { store, engine, transport, sub } = await world(async (l, s) => {
      await l.pause(s);
      await l.resume(s);
    });
    expect(await engine.tick(T0)).toMatchObject({ sent: 1 });
    expect(await engine.tick(T0)).toMatchObject({ sent: 0 });
    expect(await store.getEnrollment(sub.id, "tiny")).toMatchObject({
      status: "active",
      nextStepId: "tips",
      nextDueAt: at("2027-01-05T09:00:00Z"),
      claimed: false,
    });
    expect(await engine.tick(at("2027-01-05T09:00:00Z"))).toMatchObject({ sent: 1 });
    expect(transport.stepsTo("zoe@example.com")).toEqual(["welcome", "tips"]);
  });
});
