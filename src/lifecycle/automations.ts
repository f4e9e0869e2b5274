/**
 * Firing automations, inside the lifecycle door's transaction: the change that caused them
 * and everything they do commit together, or nothing does (a crash never leaves a tag added
 * without its automation, or the reverse). Each run is recorded with its cause; a cause
 * already recorded for an automation and subscriber fires nothing again (a duplicate event).
 * Enrolling twice stays the sequence's own rule (re-entry only after completion, when allowed).
 */
import { causeKey, conditionsHold, describeCause, matches } from "../automations/compile.ts";
import { delayMs } from "../automations/define.ts";
import type { Action, Automation, Cause } from "../automations/types.ts";
import { DripError } from "../errors.ts";
import type { Sequence } from "../sequences/types.ts";
import type { EnrollResult, Store, Subscriber } from "../store/types.ts";

/** Chains deeper than this are refused (validation refuses cycles; this is the backstop). */
export const MAX_CHAIN = 8;

export interface FireContext {
  automations: readonly Automation[];
  getSequence(id: string): Sequence | undefined;
  enroll(tx: Store, subscriber: Subscriber, sequence: Sequence, start: Date): Promise<EnrollResult>;
  /** Topics (join/leave with recorded consent); absent when no topics are declared. */
  topics?: {
    /** "no-consent" comes with why (no consent recorded, consent withdrawn, topic not declared): the run is skipped. */
    join(
      tx: Store,
      subscriber: Subscriber,
      topic: string,
      now: Date,
    ): Promise<{ result: "joined" } | { result: "already" } | { result: "no-consent"; why: string }>;
    leave(tx: Store, subscriber: Subscriber, topic: string, now: Date): Promise<"left" | "not-member">;
  };
  log(line: string): void;
}

export interface FireSummary {
  /** Runs recorded. */
  fired: number;
  /** Enrollments created or re-entered. */
  entered: number;
}

/** Fire every automation whose trigger matches `cause` for this subscriber, in `tx`. */
export async function fireAutomations(
  ctx: FireContext,
  tx: Store,
  subscriberId: string,
  cause: Cause,
  now: Date,
  depth = 0,
  summary: FireSummary = { fired: 0, entered: 0 },
): Promise<FireSummary> {
  const candidates = ctx.automations.filter((a) => matches(a.on, cause));
  if (candidates.length === 0) return summary;
  if (depth >= MAX_CHAIN)
    throw new DripError(
      "failed",
      `automations fired each other ${MAX_CHAIN} times in a row (at ${describeCause(cause)}): run \`drip validate\` to find the loop`,
    );
  const key = causeKey(cause, now);
  for (const a of candidates) {
    const s = await tx.getSubscriber(subscriberId);
    if (!s) return summary;
    if (!conditionsHold(a.when, s.tags)) continue;
    if (await tx.automationRunSeen(a.id, s.id, key)) continue;
    const run = { automationId: a.id, subscriberId: s.id, trigger: describeCause(cause), key, firedAt: now };
    if (s.status !== "active") {
      await tx.recordAutomationRun({ ...run, outcome: "skipped", detail: `subscriber is ${s.status}`, enrolled: null });
      summary.fired++;
      continue;
    }
    const done: string[] = [];
    const unchanged: string[] = [];
    const skipped: string[] = [];
    let enrolled: string | null = null;
    const chained: Cause[] = [];
    for (const action of a.do) {
      const r = await act(ctx, tx, a, s, action, now);
      (r.changed ? done : r.skipped ? skipped : unchanged).push(r.detail);
      if (r.enrolled) enrolled ??= r.enrolled;
      if (r.fires) chained.push(r.fires);
    }
    await tx.recordAutomationRun({
      ...run,
      // Skipped: nothing changed because something it needs is missing (consent to a topic).
      outcome: done.length > 0 ? "done" : skipped.length > 0 ? "skipped" : "unchanged",
      detail: [...done, ...skipped, ...unchanged].join("; "),
      enrolled,
    });
    summary.fired++;
    if (enrolled) summary.entered++;
    for (const next of chained) await fireAutomations(ctx, tx, s.id, next, now, depth + 1, summary);
  }
  return summary;
}

interface ActResult {
  changed: boolean;
  /** Not done for a reason the subscriber's record gives (no consent): the run is skipped. */
  skipped?: boolean;
  detail: string;
  enrolled?: string;
  /** What this action causes in turn (a tag added, a topic joined). */
  fires?: Cause;
}

async function act(ctx: FireContext, tx: Store, a: Automation, s: Subscriber, action: Action, now: Date): Promise<ActResult> {
  if ("enroll" in action) {
    const sequence = ctx.getSequence(action.enroll);
    if (!sequence) {
      // Its file is missing or invalid right now: say so in the run; nothing is lost but this entry.
      ctx.log(`warning: automation ${a.id}: sequence "${action.enroll}" is not loaded; ${s.email} was not enrolled`);
      return { changed: false, detail: `sequence ${action.enroll} is not loaded` };
    }
    const start = new Date(now.getTime() + delayMs(a.delay));
    const result = await ctx.enroll(tx, s, sequence, start);
    if (result === "exists") return { changed: false, detail: `already in ${sequence.id}` };
    const when = start.getTime() > now.getTime() ? ` from ${start.toISOString()}` : "";
    return { changed: true, detail: `${result === "reentered" ? "re-entered" : "enrolled in"} ${sequence.id}${when}`, enrolled: sequence.id };
  }
  if ("addTag" in action) {
    if (s.tags.includes(action.addTag)) return { changed: false, detail: `already tagged "${action.addTag}"` };
    await tx.addTag(s.id, action.addTag);
    return { changed: true, detail: `tagged "${action.addTag}"`, fires: { on: "tag-added", tag: action.addTag } };
  }
  if ("removeTag" in action) {
    if (!s.tags.includes(action.removeTag)) return { changed: false, detail: `not tagged "${action.removeTag}"` };
    await tx.removeTag(s.id, action.removeTag);
    return { changed: true, detail: `untagged "${action.removeTag}"` };
  }
  if ("exit" in action) {
    const e = await tx.getEnrollment(s.id, action.exit);
    if (!e || (e.status !== "active" && e.status !== "paused")) return { changed: false, detail: `not in ${action.exit}` };
    await tx.setEnrollmentStatus(e.id, "exited", `automation ${a.id}`);
    return { changed: true, detail: `exited ${action.exit}` };
  }
  if ("joinTopic" in action) {
    if (!ctx.topics) return { changed: false, skipped: true, detail: `topics are not available: topic ${action.joinTopic} not joined` };
    const r = await ctx.topics.join(tx, s, action.joinTopic, now);
    if (r.result === "joined") return { changed: true, detail: `joined topic ${action.joinTopic}`, fires: { on: "topic-joined", topic: action.joinTopic } };
    if (r.result === "already") return { changed: false, detail: `already in topic ${action.joinTopic}` };
    return { changed: false, skipped: true, detail: `not joined to topic ${action.joinTopic}: ${r.why}` };
  }
  if (!ctx.topics) return { changed: false, detail: `topics are not available: topic ${action.leaveTopic} not left` };
  const r = await ctx.topics.leave(tx, s, action.leaveTopic, now);
  return r === "left" ? { changed: true, detail: `left topic ${action.leaveTopic}` } : { changed: false, detail: `not in topic ${action.leaveTopic}` };
}
