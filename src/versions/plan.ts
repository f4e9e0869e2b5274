/**
 * `drip plan`: what a changed sequence does to everyone already in it. A pure function of
 * the live version's snapshot, the new definition (and its snapshot), the enrollments'
 * positions and `now`: no store, no clock. `drip apply` (and `drip start` on a reload)
 * executes exactly the effects computed here, so what the plan says is what happens.
 *
 * The rules for people in flight (README "Changing a live sequence"):
 * - step removed: people waiting at it continue with the next step of the new definition
 *   they have not received, due as the new schedule says (or at the next moment inside the
 *   send window when that has passed); nothing already sent is sent again.
 * - step renamed (`formerly: ["old-id"]`): progress and history carry over. Without it, a
 *   removed and an added step sharing their template or subject are flagged "looks like a rename".
 * - schedule changed on the step people wait for (or the window/zone changed): their due time
 *   is re-planned from their start in their zone; a past moment becomes the next moment inside
 *   the send window (never a 3 a.m. burst).
 * - step added before someone's position (before the step they wait for, or before a step
 *   they received): not sent to them unless it says `backfill: true`.
 * - steps appended after the end reach people who completed within
 *   `continueCompleted.withinDays`; others stay completed.
 * - reordered: identity is the id; each person continues with the steps of the new order they
 *   have not received, in that order; no step twice.
 */
import { nextWindowInstant, planStep, resolveZone } from "../schedule/index.ts";
import type { Sequence } from "../sequences/types.ts";
import type { EnrollmentPosition, EnrollmentStatus } from "../store/types.ts";
import { type SequenceSnapshot, type StepSnapshot, describeSchedule, sameSchedule, sameWindow } from "./snapshot.ts";

/** One enrollment's position, as the store reads it for planning. */
export type InFlight = EnrollmentPosition;

export type ChangeKind = "step-added" | "step-removed" | "step-renamed" | "schedule-changed" | "content-changed" | "reordered" | "window-changed";

export interface Change {
  kind: ChangeKind;
  /** The step (its new id for a rename); absent for sequence-wide changes. */
  step?: string;
  /** How many enrolled subscribers it affects (see each kind's `effect`). */
  affected: number;
  /** One sentence: what happens to them. */
  effect: string;
  /** step-renamed: the old id. */
  from?: string;
  /** schedule-changed: old and new schedule. */
  before?: string;
  after?: string;
  /** schedule-changed, window-changed: of the affected, how many become due at their next window opening. */
  dueAtNextWindow?: number;
  /** step-added: enrolled people it does not reach (past it, or completed outside the window). */
  notReached?: number;
  /** step-added, step-removed: a removed/added step sharing template or subject (a rename without `formerly`). */
  looksLikeRename?: string;
}

export type EffectAction = "unchanged" | "rescheduled" | "moved" | "completed" | "continued" | "held";

/** What the plan does to one enrollment. */
export interface Effect {
  enrollmentId: number;
  subscriberId: string;
  action: EffectAction;
  before: { stepId: string | null; dueAt: Date | null; status: EnrollmentStatus };
  after: { stepId: string | null; dueAt: Date | null; status: EnrollmentStatus };
  /** Steps after `after.stepId` (in the new order) this enrollment does not receive. */
  passOver: string[];
  /** The steps it will receive from now on, in order (skipIf conditions aside). */
  remaining: string[];
}

export interface SequencePlan {
  sequenceId: string;
  /** Live version hash (null: no version recorded yet). */
  from: string | null;
  to: string;
  changes: Change[];
  /** Enrollments whose position, due time, status or pass-over list changes (and held ones): what apply writes. */
  effects: Effect[];
  /** Every enrollment in flight (active, paused, completed) with what it receives from now on. */
  outcomes: Effect[];
  /** The whole state renames move: old step id → new id. */
  renames: { from: string; to: string }[];
  warnings: string[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The step id as the new definition knows it (through `formerly`). */
function renameMap(live: SequenceSnapshot, next: SequenceSnapshot): Map<string, string> {
  const oldIds = new Set(live.steps.map((s) => s.id));
  const newIds = new Set(next.steps.map((s) => s.id));
  const map = new Map<string, string>();
  for (const s of next.steps) for (const f of s.formerly ?? []) if (oldIds.has(f) && !newIds.has(f) && !map.has(f)) map.set(f, s.id);
  return map;
}

interface Ctx {
  live: SequenceSnapshot;
  next: SequenceSnapshot;
  sequence: Sequence;
  now: Date;
  rename: Map<string, string>;
  oldById: Map<string, StepSnapshot>;
  /** New ids of steps that did not exist before (not renames). */
  added: Set<string>;
  newIndex: Map<string, number>;
  windowChanged: boolean;
}

/** Planned time of a step from the enrollment's start in its zone; a past one moves to the next moment inside the window. */
function dueFrom(ctx: Ctx, stepId: string, e: InFlight): { at: Date; nextWindow: boolean } {
  const step = ctx.sequence.steps.find((s) => s.id === stepId)!;
  const seq = ctx.sequence;
  const planned = planStep({
    schedule: step.schedule,
    start: e.startedAt,
    timezone: e.timezone,
    defaultTimezone: seq.defaultTimezone,
    window: seq.sendWindow,
  }).at;
  if (planned.getTime() > ctx.now.getTime()) return { at: planned, nextWindow: false };
  const zone = resolveZone(e.timezone, seq.defaultTimezone).zone;
  return { at: nextWindowInstant(ctx.now, zone, seq.sendWindow), nextWindow: true };
}

/**
 * Where someone stands in the new order: the step they wait for (or, when it was removed, the
 * next old step still there); after every old step when they finished or none is left.
 */
function positionOf(ctx: Ctx, e: InFlight): number {
  const oldAt = e.status === "completed" || e.nextStepId === null ? -1 : ctx.live.steps.findIndex((s) => s.id === e.nextStepId);
  if (oldAt >= 0) {
    for (const s of ctx.live.steps.slice(oldAt)) {
      const i = ctx.newIndex.get(ctx.rename.get(s.id) ?? s.id);
      if (i !== undefined) return i;
    }
  }
  let end = -1;
  for (const s of ctx.live.steps) end = Math.max(end, (ctx.newIndex.get(ctx.rename.get(s.id) ?? s.id) ?? -1) + 1);
  return end;
}

/** The steps of the new order this enrollment still receives (the rules above). */
function remainingFor(ctx: Ctx, e: InFlight): string[] {
  const done = new Set(e.done.map((id) => ctx.rename.get(id) ?? id));
  // An added step is before someone's position when it comes before the step they wait for, or before a step they received.
  let position = positionOf(ctx, e);
  for (const id of done) position = Math.max(position, ctx.newIndex.get(id) ?? -1);
  return ctx.next.steps.filter((s, i) => !done.has(s.id) && !(ctx.added.has(s.id) && i < position && !s.backfill)).map((s) => s.id);
}

function passOverFor(ctx: Ctx, first: string | null, remaining: readonly string[]): string[] {
  if (first === null) return [];
  const keep = new Set(remaining);
  const from = ctx.newIndex.get(first) ?? 0;
  return ctx.next.steps.filter((s, i) => i > from && !keep.has(s.id)).map((s) => s.id);
}

interface Placed {
  effect: Effect;
  remaining: string[];
  nextWindow: boolean;
}

function place(ctx: Ctx, e: InFlight): Placed | null {
  const before = { stepId: e.nextStepId, dueAt: e.nextDueAt, status: e.status };
  const remaining = remainingFor(ctx, e);
  const mk = (action: EffectAction, after: Effect["after"], nextWindow = false): Placed => ({
    effect: {
      enrollmentId: e.enrollmentId,
      subscriberId: e.subscriberId,
      action,
      before,
      after,
      passOver: passOverFor(ctx, after.stepId, remaining),
      remaining: after.stepId ? remaining : [],
    },
    remaining: after.stepId ? remaining : [],
    nextWindow,
  });
  if (e.status === "completed") {
    const within = ctx.next.continueCompleted;
    const recent = within && e.lastDoneAt && ctx.now.getTime() - e.lastDoneAt.getTime() <= within.withinDays * 86_400_000;
    if (!recent || remaining.length === 0) return mk("unchanged", before);
    const due = dueFrom(ctx, remaining[0]!, e);
    return mk("continued", { stepId: remaining[0]!, dueAt: due.at, status: "active" }, due.nextWindow);
  }
  if (e.status !== "active" && e.status !== "paused") return null;
  if (e.claimed) return mk("held", before);
  if (remaining.length === 0) return mk("completed", { stepId: null, dueAt: null, status: "completed" });
  const first = remaining[0]!;
  const waitingAt = e.nextStepId === null ? null : (ctx.rename.get(e.nextStepId) ?? e.nextStepId);
  if (first === waitingAt) {
    const old = ctx.oldById.get(e.nextStepId!);
    const step = ctx.next.steps[ctx.newIndex.get(first)!]!;
    if (old && sameSchedule(old.schedule, step.schedule) && !ctx.windowChanged) {
      return mk("unchanged", { stepId: first, dueAt: e.nextDueAt, status: e.status });
    }
    const due = dueFrom(ctx, first, e);
    const moved = due.at.getTime() !== e.nextDueAt?.getTime();
    return mk(moved ? "rescheduled" : "unchanged", { stepId: first, dueAt: due.at, status: e.status }, due.nextWindow);
  }
  const due = dueFrom(ctx, first, e);
  return mk("moved", { stepId: first, dueAt: due.at, status: e.status }, due.nextWindow);
}

/** What the steps left in the old order would have been (to tell who a reorder affects). */
function oldRemaining(ctx: Ctx, e: InFlight): string[] {
  const done = new Set(e.done);
  return ctx.live.steps
    .filter((s) => !done.has(s.id))
    .map((s) => ctx.rename.get(s.id) ?? s.id)
    .filter((id) => ctx.newIndex.has(id));
}

function isReordered(ctx: Ctx): boolean {
  const oldOrder = ctx.live.steps.map((s) => ctx.rename.get(s.id) ?? s.id).filter((id) => ctx.newIndex.has(id));
  const newOrder = ctx.next.steps.map((s) => s.id).filter((id) => !ctx.added.has(id));
  return oldOrder.join("\n") !== newOrder.join("\n");
}

/** Compare the live version with a new definition for the enrollments given. */
export function planSequence(input: {
  live: SequenceSnapshot | null;
  next: SequenceSnapshot;
  sequence: Sequence;
  enrollments: readonly InFlight[];
  now: Date;
}): SequencePlan {
  const { live, next, sequence, now } = input;
  const base: SequencePlan = {
    sequenceId: next.id,
    from: live?.hash ?? null,
    to: next.hash,
    changes: [],
    effects: [],
    outcomes: [],
    renames: [],
    warnings: [],
  };
  if (!live || live.hash === next.hash) return base;
  const rename = renameMap(live, next);
  const mapped = new Set(live.steps.map((s) => rename.get(s.id) ?? s.id));
  const ctx: Ctx = {
    live,
    next,
    sequence,
    now,
    rename,
    oldById: new Map(live.steps.map((s) => [s.id, s])),
    added: new Set(next.steps.filter((s) => !mapped.has(s.id)).map((s) => s.id)),
    newIndex: new Map(next.steps.map((s, i) => [s.id, i])),
    windowChanged: !sameWindow(live, next),
  };
  const removed = live.steps.filter((s) => !rename.has(s.id) && !ctx.newIndex.has(s.id));
  const inFlight = input.enrollments.filter((e) => e.status !== "exited");
  const placed = new Map<number, Placed>();
  for (const e of inFlight) {
    const p = place(ctx, e);
    if (p) placed.set(e.enrollmentId, p);
  }
  const waitingAt = (id: string) => inFlight.filter((e) => (e.status === "active" || e.status === "paused") && e.nextStepId === id);
  const changes: Change[] = [];
  const warnings: string[] = [];

  // A removed and an added step that share a template or subject: probably a rename without `formerly`.
  const renameHint = new Map<string, string>();
  for (const r of removed) {
    const a = next.steps.find((s) => ctx.added.has(s.id) && !renameHint.has(s.id) && (s.template === r.template || s.subject === r.subject));
    if (!a) continue;
    renameHint.set(a.id, r.id);
    renameHint.set(r.id, a.id);
    warnings.push(
      `step "${r.id}" removed and "${a.id}" added look like a rename (same ${a.template === r.template ? "template" : "subject"}): add formerly: ["${r.id}"] to "${a.id}" to carry progress and history over`,
    );
  }

  for (const r of removed) {
    const waiting = waitingAt(r.id);
    const to = new Map<string, number>();
    let held = 0;
    for (const e of waiting) {
      const p = placed.get(e.enrollmentId)!;
      if (p.effect.action === "held") held++;
      else {
        const dest = p.effect.after.stepId ?? "the end (completed)";
        to.set(dest, (to.get(dest) ?? 0) + 1);
      }
    }
    const moves = [...to].map(([dest, n]) => `${n} to ${dest.startsWith("the end") ? dest : `\`${dest}\``}`);
    const effect =
      waiting.length === 0
        ? `step \`${r.id}\` removed: nobody is waiting there`
        : `step \`${r.id}\` removed: ${plural(waiting.length, "person", "people")} waiting there move (${[...moves, ...(held ? [`${held} once their send in progress is recorded`] : [])].join(", ")})`;
    changes.push({
      kind: "step-removed",
      step: r.id,
      affected: waiting.length,
      effect,
      ...(renameHint.has(r.id) ? { looksLikeRename: renameHint.get(r.id)! } : {}),
    });
  }
  for (const [from, to] of rename) {
    const waiting = waitingAt(from).length;
    const received = inFlight.filter((e) => e.done.includes(from)).length;
    changes.push({
      kind: "step-renamed",
      step: to,
      from,
      affected: waiting + received,
      effect: `step \`${from}\` is now \`${to}\`: ${plural(waiting, "person", "people")} waiting there keep their place, ${received} who received it keep it in their history`,
    });
  }
  for (const s of next.steps.filter((x) => ctx.added.has(x.id))) {
    let reach = 0;
    let not = 0;
    for (const e of inFlight) {
      const p = placed.get(e.enrollmentId);
      if (p?.remaining.includes(s.id)) reach++;
      else if (e.status !== "exited") not++;
    }
    changes.push({
      kind: "step-added",
      step: s.id,
      affected: reach,
      notReached: not,
      effect: `new step \`${s.id}\` (${describeSchedule(s.schedule)}${s.backfill ? ", backfill" : ""}) reaches ${plural(reach, "person", "people")}, not ${not} who ${not === 1 ? "is" : "are"} past it or finished`,
      ...(renameHint.has(s.id) ? { looksLikeRename: renameHint.get(s.id)! } : {}),
    });
  }
  for (const s of next.steps) {
    if (ctx.added.has(s.id)) continue;
    const oldId = [...rename].find(([, to]) => to === s.id)?.[0] ?? s.id;
    const old = ctx.oldById.get(oldId)!;
    if (!sameSchedule(old.schedule, s.schedule)) {
      const waiting = waitingAt(oldId).filter((e) => placed.get(e.enrollmentId)?.effect.after.stepId === s.id);
      const nextWindow = waiting.filter((e) => placed.get(e.enrollmentId)?.nextWindow).length;
      const later = inFlight.filter((e) => e.nextStepId !== oldId && placed.get(e.enrollmentId)?.remaining.slice(1).includes(s.id)).length;
      changes.push({
        kind: "schedule-changed",
        step: s.id,
        before: describeSchedule(old.schedule),
        after: describeSchedule(s.schedule),
        affected: waiting.length,
        dueAtNextWindow: nextWindow,
        effect: `${waiting.length} waiting at \`${s.id}\`: ${describeSchedule(old.schedule)} → ${describeSchedule(s.schedule)}, ${nextWindow} become due at their next ${next.sendWindow.start}${later ? `; ${later} more get it later on the new schedule` : ""}`,
      });
    }
    if (old.subject !== s.subject || old.preview !== s.preview || old.template !== s.template || old.contentHash !== s.contentHash) {
      const reach = [...placed.values()].filter((p) => p.remaining.includes(s.id)).length;
      const what = [
        old.subject !== s.subject && "subject",
        old.preview !== s.preview && "preview",
        (old.template !== s.template || old.contentHash !== s.contentHash) && "content",
      ]
        .filter(Boolean)
        .join(", ");
      changes.push({
        kind: "content-changed",
        step: s.id,
        affected: reach,
        effect: `\`${s.id}\` ${what} changed: ${plural(reach, "person", "people")} still to get it get the new one`,
      });
    }
  }
  if (isReordered(ctx)) {
    const affected = inFlight.filter((e) => {
      const p = placed.get(e.enrollmentId);
      if (!p || p.remaining.length === 0) return false;
      return (
        p.remaining.filter((id) => !ctx.added.has(id)).join("\n") !==
        oldRemaining(ctx, e)
          .filter((id) => p.remaining.includes(id) || !ctx.added.has(id))
          .join("\n")
      );
    }).length;
    changes.push({
      kind: "reordered",
      step: undefined,
      affected,
      effect: `steps reordered: ${plural(affected, "person", "people")} continue with what they have not received, in the new order (no step twice)`,
    });
  }
  if (ctx.windowChanged) {
    const moved = [...placed.values()].filter((p) => p.effect.action === "rescheduled" && ctx.oldById.has(p.effect.before.stepId ?? ""));
    const sched = new Set(changes.filter((c) => c.kind === "schedule-changed").map((c) => c.step));
    const only = moved.filter((p) => !sched.has(p.effect.after.stepId ?? ""));
    changes.push({
      kind: "window-changed",
      affected: only.length,
      dueAtNextWindow: only.filter((p) => p.nextWindow).length,
      before: `${live.sendWindow.start}–${live.sendWindow.end} ${live.sendWindow.weekdays.join(",")} (${live.defaultTimezone})`,
      after: `${next.sendWindow.start}–${next.sendWindow.end} ${next.sendWindow.weekdays.join(",")} (${next.defaultTimezone})`,
      effect: `send window or default zone changed: ${plural(only.length, "person", "people")} waiting get a new due time`,
    });
  }
  const outcomes = [...placed.values()].map((p) => p.effect);
  const effects = outcomes.filter(
    (f) =>
      f.action !== "unchanged" ||
      f.before.stepId !== f.after.stepId ||
      f.passOver.length > 0 ||
      (f.before.dueAt?.getTime() ?? null) !== (f.after.dueAt?.getTime() ?? null),
  );
  return { ...base, changes, effects, outcomes, renames: [...rename].map(([from, to]) => ({ from, to })), warnings };
}

/** The changes in one line each (history, logs). */
export function summarize(plan: SequencePlan): string[] {
  return plan.changes.map((c) => `${c.kind}${c.step ? ` ${c.step}` : ""}: ${c.effect}`);
}
