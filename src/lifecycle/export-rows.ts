/**
 * The rows of `drip export` and the dashboard's export.csv (one definition): the columns
 * `drip import` reads back, with why each person left (status_reason, status_at) and their
 * consent record (consent_at, consent_source, consent_ip). Cells the public can fill are
 * guarded against spreadsheet formulas (import undoes it).
 */
import { guardCell } from "./import.ts";
import type { Store, Subscriber } from "../store/types.ts";

export const EXPORT_COLUMNS = [
  "email",
  "name",
  "timezone",
  "tags",
  "status",
  "subscribed_at",
  "status_reason",
  "status_at",
  "consent_at",
  "consent_source",
  "consent_ip",
] as const;

/** One page of subscribers as export rows (their leave reasons read in one query for the page). */
export async function exportRows(store: Pick<Store, "statusReasons">, page: readonly Subscriber[]): Promise<string[][]> {
  const reasons = await store.statusReasons(page.map((s) => s.id));
  return page.map((s) => {
    const left = reasons.get(s.id);
    return [
      ...[s.email, s.name, s.timezone, s.tags.join(";")].map(guardCell),
      s.status,
      (s.consentAt ?? s.createdAt).toISOString(),
      guardCell(left?.reason ?? ""),
      (left?.at ?? s.unsubscribedAt)?.toISOString() ?? "",
      s.consentAt?.toISOString() ?? "",
      guardCell(s.consentSource ?? ""),
      guardCell(s.consentIp ?? ""),
    ];
  });
}
