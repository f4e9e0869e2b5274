/**
 * Subscriber lifecycle operations shared by the CLI, CSV import and (later) HTTP routes:
 * one validation of input, one place that decides what subscribing or leaving means.
 */
import type { SubscriberInputFields } from "../lifecycle/input.ts";
import type { Store, Subscriber } from "../store/types.ts";
import type { Engine } from "./engine.ts";

export { subscriberInputSchema, type SubscriberInputFields } from "../lifecycle/input.ts";

export class LifecycleError extends Error {
  override name = "LifecycleError";
}

export interface SubscribeOptions {
  sequenceId?: string;
  /** Confirmed (double opt-in done, or consent recorded elsewhere): active at once and enrolled. */
  confirmed: boolean;
  source: string;
  ip?: string | null;
}

export type SubscribeOutcome =
  | { kind: "suppressed" }
  | { kind: "ok"; subscriber: Subscriber; created: boolean; enrolled: "created" | "exists" | "reentered" | "not-confirmed" | "not-active" };

export async function subscribe(
  store: Store,
  engine: Engine,
  input: SubscriberInputFields,
  opts: SubscribeOptions,
  now: Date,
): Promise<SubscribeOutcome> {
  if (await store.isSuppressed(input.email)) return { kind: "suppressed" };
  const { subscriber, created } = await store.upsertSubscriber(
    {
      ...input,
      status: opts.confirmed ? "active" : "pending",
      consentSource: opts.source,
      consentAt: now,
      consentIp: opts.ip ?? null,
    },
    now,
  );
  let current = subscriber;
  if (opts.confirmed && subscriber.status === "pending") {
    await store.setSubscriberStatus(subscriber.id, "active", now);
    current = { ...subscriber, status: "active" };
  }
  if (current.status !== "active") return { kind: "ok", subscriber: current, created, enrolled: opts.confirmed ? "not-active" : "not-confirmed" };
  const sequenceId = opts.sequenceId ?? engine.defaultSequence?.id;
  if (!sequenceId) throw new LifecycleError("no sequence is loaded: add one under sequences/");
  if (!engine.getSequence(sequenceId)) throw new LifecycleError(`no sequence "${sequenceId}" (see drip list)`);
  const enrolled = await engine.enroll(current, sequenceId, now);
  return { kind: "ok", subscriber: current, created, enrolled };
}

/** Leave everything: nothing is sent after this moment (claimed sends are re-checked). */
export async function unsubscribe(store: Store, subscriber: Subscriber, now: Date, via = "cli"): Promise<void> {
  await store.leave(subscriber.id, "unsubscribed", "unsubscribed", now, { type: "unsubscribed", data: { via } });
}

/** Never mail this address again (hard bounce, complaint, forget). */
export async function suppress(store: Store, email: string, reason: string, now: Date): Promise<void> {
  await store.suppress(email, reason, now);
  const subscriber = await store.findSubscriberByEmail(email);
  if (subscriber) await store.leave(subscriber.id, "suppressed", reason, now);
}
