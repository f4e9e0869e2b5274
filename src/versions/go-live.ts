/**
 * `drip start` and live edits: when it loads (or hot-reloads) a changed definition, it applies
 * it as `drip apply` does and logs the plan. With DRIP_REQUIRE_APPLY=1 a change that moves
 * enrolled subscribers is held instead: the last live definition keeps running (at start,
 * when none is in memory, the sequence's sends wait) until someone runs `drip apply`; the
 * tick then sees the applied version in the database and swaps the held definition in.
 */
import type { Sequence } from "../sequences/types.ts";
import type { Store } from "../store/types.ts";
import { type AppliedSequence, affectsEnrolled, isCurrent, planFor } from "./apply.ts";
import { planLines } from "./format.ts";
import { snapshotSequence } from "./snapshot.ts";

export interface GoLiveOptions {
  store: Store;
  /** The lifecycle door's applyVersion. */
  apply: (sequence: Sequence, emailsDir: string, now: Date) => Promise<AppliedSequence>;
  emailsDir: string;
  requireApply: boolean;
  log: (line: string) => void;
}

export class LiveVersions {
  /** Definitions on disk waiting for `drip apply`, by sequence id. */
  private readonly held = new Map<string, Sequence>();
  constructor(private readonly o: GoLiveOptions) {}

  heldIds(): string[] {
    return [...this.held.keys()];
  }

  /** Which definitions run, given those just loaded and those running now: applies (or holds) each change. */
  async select(loaded: readonly Sequence[], running: (id: string) => Sequence | undefined, now: Date): Promise<Sequence[]> {
    const run: Sequence[] = [];
    for (const sequence of loaded) {
      const plan = await planFor(this.o.store, sequence, this.o.emailsDir, now);
      if (isCurrent(plan)) {
        this.held.delete(sequence.id);
        run.push(sequence);
        continue;
      }
      if (this.o.requireApply && plan.from !== null && affectsEnrolled(plan)) {
        this.held.set(sequence.id, sequence);
        const old = running(sequence.id);
        if (old) run.push(old);
        this.o.log(
          `sequence ${sequence.id} changed on disk and moves enrolled subscribers; held until drip apply (DRIP_REQUIRE_APPLY=1), ${old ? "the last live version keeps running" : "its sends wait meanwhile"}:\n${planLines(plan).join("\n")}`,
        );
        continue;
      }
      const applied = await this.o.apply(sequence, this.o.emailsDir, now);
      this.held.delete(sequence.id);
      run.push(sequence);
      this.o.log(
        `sequence ${sequence.id} ${applied.version ? `is live as version ${applied.version.number}` : "is live"}${applied.planned || applied.deferred ? ` (${applied.planned} enrollments re-planned, ${applied.deferred} once their send in progress is recorded)` : ""}:\n${planLines(applied).join("\n")}`,
      );
    }
    return run;
  }

  /** Held definitions whose version has been applied (drip apply) since: the ones to run now, or null when none. */
  async released(): Promise<Sequence[] | null> {
    const ready: Sequence[] = [];
    for (const [id, sequence] of this.held) {
      const live = await this.o.store.liveVersion(id);
      if (live && live.hash === (await snapshotSequence(sequence, this.o.emailsDir)).hash) {
        this.held.delete(id);
        ready.push(sequence);
        this.o.log(`sequence ${id}: version ${live.number} was applied; it runs now`);
      }
    }
    return ready.length > 0 ? ready : null;
  }
}
