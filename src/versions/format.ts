/** How plans and versions read for staff (drip plan, drip apply, drip start's log) and for scripts (--json). */
import type { SequenceVersion } from "../store/types.ts";
import type { PlannedSequence } from "./apply.ts";
import type { Change } from "./plan.ts";

/** The JSON shape of `drip plan --json` for one sequence. */
export function planJson(p: PlannedSequence) {
  return {
    id: p.sequenceId,
    from: p.from,
    fromVersion: p.fromVersion,
    to: p.to,
    changes: p.changes,
    warnings: p.warnings,
    /** Enrollments whose step, due time or status the apply changes. */
    moved: p.effects.length,
  };
}

/** Text lines: a heading per sequence, one line per change, warnings last. */
export function planLines(p: PlannedSequence): string[] {
  if (p.from === null) return [`${p.sequenceId}: no live version yet; ${p.to} becomes version 1 (nobody is moved)`];
  if (p.from === p.to) return [`${p.sequenceId}: no changes (version ${p.fromVersion}, ${p.to})`];
  const lines = [`${p.sequenceId}: version ${p.fromVersion} (${p.from}) → ${p.to}, ${p.changes.length} change${p.changes.length === 1 ? "" : "s"}`];
  for (const c of p.changes) lines.push(`  ${c.kind.padEnd(16)} ${c.effect}`);
  for (const w of p.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

/** One line per version for `drip history`. */
export function historyLines(versions: readonly SequenceVersion[]): string[] {
  const lines: string[] = [];
  for (const v of [...versions].reverse()) {
    const recorded = v.changes as { summary?: string[]; changes?: Change[] } | null;
    const summary = recorded?.changes?.length
      ? recorded.changes.map((c) => `${c.kind}${c.step ? ` ${c.step}` : ""} (${c.affected})`).join(", ")
      : "first version";
    lines.push(`v${v.number}  ${v.createdAt.toISOString()}  ${v.hash}  ${summary}`);
  }
  return lines;
}
