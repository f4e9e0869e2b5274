/** Step conditions, evaluated the same way by `drip simulate` and by the tick at send time. */
import type { Sequence, StepDefinition } from "./types.ts";

export type Decision = { action: "send" } | { action: "skip"; reason: string } | { action: "exit"; reason: string };

export function decide(sequence: Sequence, step: StepDefinition, tags: readonly string[]): Decision {
  for (const rule of sequence.exitIf ?? []) {
    if (tags.includes(rule.tag)) return { action: "exit", reason: rule.reason ?? `subscriber has tag "${rule.tag}"` };
  }
  const hit = step.skipIf?.tags.find((t) => tags.includes(t));
  if (hit !== undefined) return { action: "skip", reason: `subscriber has tag "${hit}"` };
  return { action: "send" };
}
