/**
 * Planning and applying live edits against a store. `planFor` reads; `applyVersion` reads the
 * positions again inside one transaction per sequence, computes the same pure plan
 * (src/versions/plan.ts) and writes exactly its effects: renames, moves (a claimed
 * enrollment gets a deferred re-plan, its claim untouched) and the new version row.
 */
import type { Sequence } from "../sequences/types.ts";
import type { SequenceVersion, Store } from "../store/types.ts";
import { type SequencePlan, planSequence, summarize } from "./plan.ts";
import { type SequenceSnapshot, snapshotSequence } from "./snapshot.ts";

export interface PlannedSequence extends SequencePlan {
  /** The live version's number (null: none recorded yet). */
  fromVersion: number | null;
  snapshot: SequenceSnapshot;
}

/** Whether a plan changes anything for enrolled subscribers (DRIP_REQUIRE_APPLY holds those). */
export const affectsEnrolled = (p: SequencePlan) => p.effects.length > 0 || p.changes.some((c) => c.affected > 0);

/** Nothing to record: the live version is this definition already. */
export const isCurrent = (p: SequencePlan) => p.from === p.to;

async function planIn(store: Store, sequence: Sequence, emailsDir: string, now: Date): Promise<{ plan: PlannedSequence; live: SequenceVersion | null }> {
  const snapshot = await snapshotSequence(sequence, emailsDir);
  const live = await store.liveVersion(sequence.id);
  const liveSnap = (live?.snapshot ?? null) as SequenceSnapshot | null;
  const enrollments = liveSnap && live?.hash !== snapshot.hash ? await store.enrollmentPositions(sequence.id) : [];
  const plan = planSequence({ live: liveSnap, next: snapshot, sequence, enrollments, now });
  return { plan: { ...plan, fromVersion: live?.number ?? null, snapshot }, live };
}

/** The plan of one sequence on disk against its live version (reads only). */
export async function planFor(store: Store, sequence: Sequence, emailsDir: string, now: Date): Promise<PlannedSequence> {
  return (await planIn(store, sequence, emailsDir, now)).plan;
}

export interface AppliedSequence extends PlannedSequence {
  /** The version recorded (null: the definition was live already). */
  version: SequenceVersion | null;
  planned: number;
  deferred: number;
}

/** Make a definition live: one transaction (positions read, plan computed, effects and version written). */
export async function applyVersion(store: Store, sequence: Sequence, emailsDir: string, now: Date): Promise<AppliedSequence> {
  // Rendering for the snapshot happens before the write lock is taken.
  await snapshotSequence(sequence, emailsDir);
  return store.transaction(async (tx) => {
    const { plan } = await planIn(tx, sequence, emailsDir, now);
    if (isCurrent(plan)) return { ...plan, version: null, planned: 0, deferred: 0 };
    for (const r of plan.renames) await tx.renameStep(sequence.id, r.from, r.to);
    const moved = await tx.moveEnrollments(
      plan.effects.map((e) => ({ enrollmentId: e.enrollmentId, stepId: e.after.stepId, dueAt: e.after.dueAt, status: e.after.status, passOver: e.passOver })),
    );
    const version = await tx.recordVersion({
      sequenceId: sequence.id,
      hash: plan.to,
      snapshot: plan.snapshot,
      changes: { changes: plan.changes, warnings: plan.warnings, summary: summarize(plan) },
      at: now,
    });
    return { ...plan, version, ...moved };
  });
}
