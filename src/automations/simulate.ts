/**
 * `drip simulate` following automations: one hypothetical subscriber walks a sequence; events
 * on given days (`booked` also tags them `booked`, as the booking API does) and the
 * sequence's completion fire the automations, whose sequences are walked too. Pure: the same
 * planning (planStep) and conditions (decide) as the engine, no store.
 */
import { formatLocal, planStep } from "../schedule/index.ts";
import { decide } from "../sequences/conditions.ts";
import type { Sequence, SubscriberFields } from "../sequences/types.ts";
import { conditionsHold, describeCause, matches } from "./compile.ts";
import { delayMs } from "./define.ts";
import type { Automation, Cause } from "./types.ts";

export interface FollowedEntry {
  /** The sequence of a step, or the automation that fired. */
  sequence?: string;
  step?: string;
  automation?: string;
  at: string;
  local: string;
  subject?: string;
  skipped?: string | null;
  /** For an automation: what fired it and what it did. */
  note?: string;
}

export interface SimEvent {
  name: string;
  at: Date;
}

const MAX_RUNS = 20;

export function simulateFollowing(
  first: Sequence,
  ctx: {
    getSequence(id: string): Sequence | undefined;
    automations: readonly Automation[];
    /** Topics the subscriber consented to join later (a form's "when the course ends" box): joinTopic joins only these. */
    consented?: readonly string[];
    /** Topics the subscriber is already a member of. */
    joined?: readonly string[];
  },
  subscriber: SubscriberFields,
  start: Date,
  events: readonly SimEvent[],
): { entries: FollowedEntry[]; fired: number; acted: number; warnings: string[] } {
  const entries: FollowedEntry[] = [];
  const warnings = new Set<string>();
  const added: { tag: string; at: number }[] = [];
  const tagsAt = (t: number) => [...subscriber.tags, ...added.filter((a) => a.at <= t).map((a) => a.tag)];
  const runs: { sequence: Sequence; start: Date }[] = [{ sequence: first, start }];
  const started = new Set([first.id]);
  let fired = 0;
  /** Runs that changed something (a sequence started, a tag, a topic joined or left). */
  let acted = 0;
  // Topic standing, as the lifecycle keeps it: an automation joins only with recorded consent.
  const joined = new Set(ctx.joined ?? []);
  const consented = new Set((ctx.consented ?? []).filter((t) => !joined.has(t)));
  const zone = (s: Sequence) =>
    planStep({ schedule: { kind: "immediately" }, start, timezone: subscriber.timezone, defaultTimezone: s.defaultTimezone, window: s.sendWindow }).zone;

  // What a completion fires happens after that sequence's last step (an event's, before a step at the same instant).
  const afterSteps = new Set<FollowedEntry>();
  const fire = (cause: Cause, at: Date, depth = 0, late = cause.on === "completed") => {
    if (depth > 8) return;
    for (const a of ctx.automations) {
      if (!matches(a.on, cause) || !conditionsHold(a.when, tagsAt(at.getTime()))) continue;
      const did: string[] = [];
      let changed = 0;
      for (const x of a.do) {
        if ("enroll" in x) {
          const seq = ctx.getSequence(x.enroll);
          if (!seq || started.has(seq.id) || runs.length >= MAX_RUNS) continue;
          started.add(seq.id);
          runs.push({ sequence: seq, start: new Date(at.getTime() + delayMs(a.delay)) });
          did.push(`${seq.id} starts`);
          changed++;
        } else if ("addTag" in x && !tagsAt(at.getTime()).includes(x.addTag)) {
          added.push({ tag: x.addTag, at: at.getTime() });
          did.push(`tagged "${x.addTag}"`);
          changed++;
          fire({ on: "tag-added", tag: x.addTag }, at, depth + 1, late);
        } else if ("exit" in x) did.push(`exits ${x.exit}`);
        else if ("joinTopic" in x) {
          const t = x.joinTopic;
          if (joined.has(t)) did.push(`already in topic ${t}`);
          else if (consented.delete(t)) {
            joined.add(t);
            did.push(`joins topic ${t}`);
            changed++;
            fire({ on: "topic-joined", topic: t }, at, depth + 1, late);
          } else did.push(`not joined to topic ${t}: no recorded consent (try --consent ${t})`);
        } else if ("leaveTopic" in x && (joined.delete(x.leaveTopic) || consented.delete(x.leaveTopic))) {
          did.push(`leaves topic ${x.leaveTopic}`);
          changed++;
        }
      }
      fired++;
      if (changed > 0) acted++;
      const entry: FollowedEntry = {
        automation: a.id,
        at: at.toISOString(),
        local: formatLocal(at, zone(first)),
        note: `${describeCause(cause)} → ${did.join(", ") || "nothing to do"}`,
      };
      entries.push(entry);
      if (late) afterSteps.add(entry);
    }
  };

  for (const e of [...events].sort((x, y) => x.at.getTime() - y.at.getTime())) {
    if (e.name === "booked" && !tagsAt(e.at.getTime()).includes("booked")) {
      added.push({ tag: "booked", at: e.at.getTime() });
      fire({ on: "tag-added", tag: "booked" }, e.at);
    }
    fire({ on: "event", name: e.name, at: e.at }, e.at);
  }

  for (let i = 0; i < runs.length; i++) {
    const { sequence, start: begun } = runs[i]!;
    let exited: string | null = null;
    let last = begun;
    for (const step of sequence.steps) {
      const plan = planStep({
        schedule: step.schedule,
        start: begun,
        timezone: subscriber.timezone,
        defaultTimezone: sequence.defaultTimezone,
        window: sequence.sendWindow,
      });
      for (const w of plan.warnings) warnings.add(w);
      const tags = tagsAt(plan.at.getTime());
      const decision = decide(sequence, step, tags);
      if (decision.action === "exit") exited ??= `exited the sequence: ${decision.reason}`;
      const who = { ...subscriber, tags };
      entries.push({
        sequence: sequence.id,
        step: step.id,
        at: plan.at.toISOString(),
        local: formatLocal(plan.at, plan.zone),
        subject: typeof step.subject === "function" ? step.subject(who) : step.subject,
        skipped: exited ?? (decision.action === "skip" ? decision.reason : null),
      });
      last = plan.at;
    }
    if (!exited) fire({ on: "completed", sequence: sequence.id, round: 1 }, last);
  }
  const rank = (e: FollowedEntry) => (e.automation ? (afterSteps.has(e) ? 1 : -1) : 0);
  entries.sort((a, b) => a.at.localeCompare(b.at) || rank(a) - rank(b));
  return { entries, fired, acted, warnings: [...warnings] };
}
