/**
 * What subscribers do after signing up: confirm, pause, resume, leave, change their details,
 * unsubscribe; what the provider and the booking system tell us: bounces, complaints,
 * engagement, bookings. HTTP routes and CLI commands call these; none of them read the clock.
 */
import { planStep } from "../schedule/index.ts";
import type { Enrollment, Store, Subscriber } from "../store/types.ts";
import type { Engine } from "./engine.ts";
import { suppress, unsubscribe } from "./subscribers.ts";

/** At most this many confirmation emails per address per 24 hours, whatever is posted. */
export const CONFIRMATIONS_PER_DAY = 3;
const DAY = 24 * 3_600_000;

export async function requestConfirmation(store: Store, subscriber: Subscriber, now: Date): Promise<boolean> {
  return store.queueConfirmation(subscriber.id, now, new Date(now.getTime() - DAY), CONFIRMATIONS_PER_DAY);
}

export type ConfirmResult = "confirmed" | "already" | "gone";

/** Double opt-in done: activate and enroll in the default sequence. Confirming twice is harmless. */
export async function confirm(store: Store, engine: Engine, subscriber: Subscriber, issuedAt: Date, now: Date): Promise<ConfirmResult> {
  if (subscriber.status === "suppressed") return "gone";
  // A link sent before the reader unsubscribed must not bring them back.
  if (subscriber.status === "unsubscribed" && subscriber.unsubscribedAt && subscriber.unsubscribedAt > issuedAt) return "gone";
  const already = subscriber.status === "active";
  if (!already) await store.setSubscriberStatus(subscriber.id, "active", now);
  const sequence = engine.defaultSequence;
  if (sequence) await engine.enroll({ ...subscriber, status: "active" }, sequence.id, now);
  return already ? "already" : "confirmed";
}

/** Unsubscribe from everything, and attribute it to the email that was last sent. */
export async function unsubscribeAll(store: Store, subscriber: Subscriber, now: Date, via: string): Promise<void> {
  if (subscriber.status === "unsubscribed" || subscriber.status === "suppressed") return;
  await unsubscribe(store, subscriber, now, via);
}

const open = (e: Enrollment) => e.status === "active" || e.status === "paused";

export async function pauseCourse(store: Store, subscriber: Subscriber): Promise<number> {
  let n = 0;
  for (const e of await store.listEnrollments(subscriber.id)) {
    if (e.status !== "active") continue;
    await store.setEnrollmentStatus(e.id, "paused", "paused by the subscriber");
    n++;
  }
  return n;
}

/** Resume paused enrollments; their next step is re-planned (a missed one goes out in the next window). */
export async function resumeCourse(store: Store, engine: Engine, subscriber: Subscriber): Promise<number> {
  let n = 0;
  for (const e of await store.listEnrollments(subscriber.id)) {
    if (e.status !== "paused") continue;
    await store.setEnrollmentStatus(e.id, "active", null, replanned(engine, subscriber, e) ?? e.nextDueAt);
    n++;
  }
  return n;
}

/** Leave the course(s) but stay subscribed (for the newsletter). */
export async function leaveCourse(store: Store, subscriber: Subscriber): Promise<void> {
  await store.exitEnrollments(subscriber.id, "left the course");
}

/** Change name or time zone; pending steps are re-planned in the new zone. */
export async function updateProfile(store: Store, engine: Engine, subscriber: Subscriber, fields: { name?: string; timezone?: string }): Promise<void> {
  await store.updateSubscriber(subscriber.id, fields);
  if (fields.timezone === undefined || fields.timezone === subscriber.timezone) return;
  const moved = { ...subscriber, ...fields };
  for (const e of await store.listEnrollments(subscriber.id)) {
    if (!open(e)) continue;
    const at = replanned(engine, moved, e);
    if (at) await store.setEnrollmentStatus(e.id, e.status, e.reason, at);
  }
}

function replanned(engine: Engine, subscriber: Subscriber, e: Enrollment): Date | null {
  const sequence = engine.getSequence(e.sequenceId);
  const step = sequence?.steps.find((s) => s.id === e.nextStepId);
  if (!sequence || !step) return null;
  return planStep({ schedule: step.schedule, start: e.startedAt, timezone: subscriber.timezone, defaultTimezone: sequence.defaultTimezone, window: sequence.sendWindow }).at;
}

/**
 * The booking system says this subscriber booked: tag them (booking steps skip from now on)
 * and credit the conversion to the email they last clicked, or else opened.
 */
export async function recordBooking(store: Store, subscriber: Subscriber, at: Date): Promise<{ creditedSend: string | null }> {
  await store.addTag(subscriber.id, "booked");
  const creditedSend = await store.lastEngagedSend(subscriber.id);
  await store.recordEvent({ subscriberId: subscriber.id, sendId: creditedSend, type: "booked", at });
  return { creditedSend };
}

/** A provider event, already verified. Returns what was done, for logs and tests. */
export async function applyProviderEvent(
  store: Store,
  event: { id: string; type: string; createdAt: Date; emailId?: string; to?: string[]; bounceType?: string },
): Promise<"stored" | "suppressed" | "replayed" | "ignored"> {
  const kinds: Record<string, "delivered" | "opened" | "clicked" | "bounced" | "complained"> = {
    "email.delivered": "delivered",
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.bounced": "bounced",
    "email.complained": "complained",
  };
  const kind = kinds[event.type];
  if (!kind) return "ignored";
  const send = event.emailId ? await store.findSendByProviderId(event.emailId) : null;
  const address = event.to?.[0];
  const subscriber = send ? await store.getSubscriber(send.subscriberId) : address ? await store.findSubscriberByEmail(address) : null;
  const fresh = await store.recordEvent({
    subscriberId: subscriber?.id ?? null,
    sendId: send?.id ?? null,
    type: kind,
    at: event.createdAt,
    data: event.bounceType ? { bounceType: event.bounceType } : undefined,
    svixId: event.id,
  });
  if (!fresh) return "replayed";
  // A hard bounce or a complaint: never mail this address again. Soft bounces are only counted.
  const hard = kind === "complained" || (kind === "bounced" && (event.bounceType ?? "").toLowerCase() === "permanent");
  const email = subscriber?.email ?? address;
  if (hard && email) {
    await suppress(store, email, kind === "complained" ? "complaint" : "hard bounce", event.createdAt);
    return "suppressed";
  }
  return "stored";
}
