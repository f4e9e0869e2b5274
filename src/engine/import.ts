/** CSV import as a pure pipeline over parsed records: validate, page, insert, enroll. */
import { z } from "zod";
import type { App } from "../app.ts";
import type { SubscriberStatus } from "../store/types.ts";
import { subscriberInputSchema } from "../lifecycle/input.ts";

export interface ImportResult {
  imported: number;
  existing: number;
  suppressed: number;
  enrolled: number;
  bad: { line: number; reason: string }[];
}

export interface ImportOptions {
  confirmed: boolean;
  sequenceId?: string;
  now: Date;
  pageSize?: number;
  onBadRow?: (bad: { line: number; reason: string }) => void;
  onProgress?: (rows: number) => void;
}

const rowSchema = z.object({
  email: z.string({ error: "the email column is missing" }),
  name: z.string().optional(),
  timezone: z.string().optional(),
  tags: z.string().optional(),
  subscribed_at: z.string().optional(),
  /** Written by `drip export`: a row that says unsubscribed, suppressed or pending keeps that status. */
  status: z.string().optional(),
});

const STATUSES: readonly SubscriberStatus[] = ["pending", "active", "unsubscribed", "suppressed"];

/** Records are objects keyed by the header row; line numbers count the header as line 1. */
export async function importCsv(app: App, records: AsyncIterable<Record<string, string>>, opts: ImportOptions): Promise<ImportResult> {
  const pageSize = opts.pageSize ?? 500;
  const result: ImportResult = { imported: 0, existing: 0, suppressed: 0, enrolled: 0, bad: [] };
  const sequenceId = opts.sequenceId ?? app.engine.defaultSequence?.id;
  if (opts.confirmed && (!sequenceId || !app.engine.getSequence(sequenceId))) throw new Error(`no sequence "${sequenceId ?? ""}" to enroll in (see drip list)`);
  let page: { line: number; input: z.infer<typeof subscriberInputSchema>; at: Date; status: SubscriberStatus | undefined }[] = [];
  let line = 1;
  const bad = (reason: string) => {
    const b = { line, reason };
    result.bad.push(b);
    opts.onBadRow?.(b);
  };

  const flush = async () => {
    if (page.length === 0) return;
    const suppressed = await app.store.suppressedAmong(page.map((r) => r.input.email));
    const fresh = page.filter((r) => !suppressed.has(r.input.email.trim().toLowerCase()));
    result.suppressed += page.length - fresh.length;
    const startOf = new Map(fresh.map((r) => [r.input.email.trim().toLowerCase(), r.at]));
    const { created, existing, enrolled } = await app.store.importSubscribers(
      // --confirmed vouches for consent, but never overrides a row that says the person left or never confirmed.
      fresh.map((r) => ({
        ...r.input,
        status: r.status && r.status !== "active" ? r.status : opts.confirmed ? "active" : "pending",
        consentSource: "import",
        consentAt: r.at,
      })),
      opts.now,
      // Enrollments are written in the same transaction as their subscribers: a crash loses
      // the page whole, and running the import again brings it in whole.
      (sub) => {
        if (!opts.confirmed || !sequenceId || sub.status !== "active") return null;
        // The course starts when they subscribed (never in the future), planned in their own zone.
        const at = startOf.get(sub.email.toLowerCase()) ?? opts.now;
        return app.engine.planEnrollment(sub, sequenceId, at > opts.now ? opts.now : at);
      },
    );
    result.imported += created.length;
    result.existing += existing;
    result.enrolled += enrolled;
    page = [];
  };

  const seen = new Set<string>();
  for await (const record of records) {
    line++;
    const shape = rowSchema.safeParse(record);
    if (!shape.success) {
      bad(shape.error.issues[0]?.message ?? "row is malformed");
      continue;
    }
    const r = shape.data;
    const parsed = subscriberInputSchema.safeParse({
      email: r.email,
      name: r.name ?? "",
      timezone: r.timezone ?? "",
      tags: (r.tags ?? "").split(/[;|]/).map((t) => t.trim()).filter(Boolean),
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      bad(issue.path[0] === "email" ? `email ${JSON.stringify(r.email)} ${issue.message}` : issue.message);
      continue;
    }
    let at = opts.now;
    if (r.subscribed_at) {
      const t = Date.parse(r.subscribed_at);
      if (Number.isNaN(t)) {
        bad(`subscribed_at ${JSON.stringify(r.subscribed_at)} is not a date: use ISO 8601 such as 2026-03-06T15:00:00Z`);
        continue;
      }
      at = new Date(t);
    }
    const status = r.status ? (r.status.toLowerCase() as SubscriberStatus) : undefined;
    if (status !== undefined && !STATUSES.includes(status)) {
      bad(`status ${JSON.stringify(r.status)} is not one of ${STATUSES.join(", ")}`);
      continue;
    }
    const key = parsed.data.email.toLowerCase();
    if (seen.has(key)) {
      bad(`email ${parsed.data.email} appears earlier in the file`);
      continue;
    }
    seen.add(key);
    page.push({ line, input: parsed.data, at, status });
    if (page.length >= pageSize) await flush();
    opts.onProgress?.(line - 1);
  }
  await flush();
  return result;
}
