/**
 * Imported people who had left (a `drip export` row, another tool's unsubscribed or cleaned
 * export) keep why: a suppressed address goes on the suppression list with its reason (so a
 * later import or signup cannot bring it back), an unsubscribe is recorded as the event it
 * was, with the way it came in. `drip show` and the next `drip export` read them back.
 */
import type { Store, Subscriber, SubscriberInput } from "../store/types.ts";

export async function recordImportedLeavers(
  tx: Store,
  created: readonly Subscriber[],
  rows: readonly (SubscriberInput & { statusReason?: string | null })[],
  now: Date,
): Promise<void> {
  const reasonOf = new Map(rows.map((r) => [r.email.trim().toLowerCase(), r.statusReason ?? null]));
  for (const s of created) {
    if (s.status !== "suppressed" && s.status !== "unsubscribed") continue;
    const reason = reasonOf.get(s.email.trim().toLowerCase()) ?? null;
    const at = s.unsubscribedAt ?? now;
    if (s.status === "suppressed") await tx.suppress(s.email, reason ?? "suppressed (imported)", at);
    else {
      // "unsubscribed via one-click" (drip export's own words) gives back the way; anything else is kept as said.
      const via = /^unsubscribed via (.+)$/.exec(reason ?? "")?.[1] ?? "import";
      await tx.recordEvent({ subscriberId: s.id, sendId: null, type: "unsubscribed", at, data: { via, ...(reason ? { reason } : {}) } });
    }
  }
}
