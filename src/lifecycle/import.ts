/**
 * CSV import as a pipeline: lines → rows (one CSV record per line) → validate → page → insert,
 * enroll. Streaming: memory holds one page of rows, whatever the file's size.
 *
 * A subscriber field never holds a line break (names refuse control characters), so every
 * record is one line: a malformed line (a quote left open, a quote closed too early) is
 * reported with its line number and the import goes on with the next line.
 */
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Temporal } from "temporal-polyfill";
import { z } from "zod";
import type { Lifecycle } from "./lifecycle.ts";
import { DripError, coerceError } from "../errors.ts";
import { isValidTimeZone } from "../schedule/index.ts";
import type { SubscriberStatus } from "../store/types.ts";
import { subscriberInputSchema } from "./input.ts";

export interface BadRow {
  line: number;
  reason: string;
}

/** One warning said once for every row it applies to. */
export interface ImportWarning {
  count: number;
  message: string;
}

export interface ImportResult {
  imported: number;
  existing: number;
  suppressed: number;
  enrolled: number;
  /** Automations the rows' tags fired (runs recorded), and the sequences they started. */
  automations: { fired: number; entered: number };
  /** How many lines were refused (`bad` keeps the first BAD_KEPT of them). */
  badRows: number;
  bad: BadRow[];
  warnings: ImportWarning[];
}

export interface ImportOptions {
  confirmed: boolean;
  sequenceId?: string;
  now: Date;
  pageSize?: number;
  onBadRow?: (bad: BadRow) => void;
  onProgress?: (rows: number) => void;
}

/** A parsed line of the file: its number (the header is line 1) and its record, or why it is malformed. */
export type CsvRow = { line: number; record: Record<string, string> } | { line: number; error: string };

/** The bad lines kept for the summary and --json; the rest are only counted (memory stays flat). */
export const BAD_KEPT = 1000;

export const HEADER_EXAMPLE = "email,name,timezone,tags,subscribed_at";

/**
 * OWASP CSV injection: a cell starting with = + - @ tab or CR is a formula in a spreadsheet.
 * `drip export` writes it with a leading ' (and a value that already starts with ' before one
 * of those gets one more), so `drip import` can strip exactly one ' and read the real value back.
 */
const GUARDED = /^'+[=+\-@\t\r]/;
export function guardCell(value: string): string {
  return /^'*[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}
export function unguardCell(value: string): string {
  return GUARDED.test(value) ? value.slice(1) : value;
}

/**
 * Split one CSV line (RFC 4180, comma-separated) into trimmed fields, or say why it is malformed.
 * A quote inside an unquoted field is kept as a character (`Ana "the" Great`), as spreadsheets do.
 */
export function parseCsvLine(text: string): { fields: string[] } | { error: string } {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (text[i] === " " || text[i] === "\t") i++;
    if (text[i] === '"') {
      let value = "";
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q === -1) return { error: `malformed CSV: the quoted field that starts at column ${i + 1} is never closed` };
        value += text.slice(j, q);
        if (text[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      while (text[j] === " " || text[j] === "\t") j++;
      if (j < text.length && text[j] !== ",") {
        return {
          error: `malformed CSV: a quoted field closes at column ${j} but more text follows before the next comma (write a quote inside a quoted field as "")`,
        };
      }
      fields.push(value);
      if (j >= text.length) return { fields };
      i = j + 1;
    } else {
      const comma = text.indexOf(",", i);
      const end = comma === -1 ? text.length : comma;
      fields.push(text.slice(i, end).trim());
      if (comma === -1) return { fields };
      i = comma + 1;
    }
  }
}

/**
 * The rows of a CSV stream, one per line, numbered as an editor numbers them. The first
 * non-empty line must be the header; a file whose first line looks like a subscriber is
 * refused before anything is read further.
 */
export async function* readCsv(input: Readable, opts: { file?: string } = {}): AsyncGenerator<CsvRow> {
  const where = opts.file ? `${opts.file}: ` : "";
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  let columns: string[] | null = null;
  for await (let text of lines) {
    line++;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === "") continue;
    const parsed = parseCsvLine(text);
    if (!columns) {
      if ("error" in parsed) throw new DripError("invalid_input", `${where}line ${line}, the header row: ${parsed.error}`);
      columns = parsed.fields.map((c) => c.trim().toLowerCase());
      const separator = columns.length === 1 ? /[;\t|]/.exec(columns[0]!)?.[0] : undefined;
      if (separator) {
        throw new DripError(
          "invalid_input",
          `${where}line ${line} is separated by ${separator === "\t" ? "tabs" : `"${separator}"`}, not commas: save the file as comma-separated CSV (in a spreadsheet, "CSV UTF-8 (comma delimited)"); nothing was imported`,
        );
      }
      if (!columns.includes("email") && columns.some((c) => c.includes("@"))) {
        throw new DripError(
          "invalid_input",
          `${where}line ${line} looks like a subscriber, not a header: the first line must be a header such as ${HEADER_EXAMPLE}; nothing was imported`,
        );
      }
      continue;
    }
    if ("error" in parsed) {
      yield { line, error: parsed.error };
      continue;
    }
    const record: Record<string, string> = {};
    columns.forEach((c, k) => {
      const v = parsed.fields[k];
      if (v !== undefined) record[c] = unguardCell(v);
    });
    yield { line, record };
  }
  if (!columns) throw new DripError("invalid_input", `${where}the file is empty: the first line must be a header such as ${HEADER_EXAMPLE}`);
}

const rowSchema = z.object({
  email: z.string({ error: "the email column is missing" }),
  name: z.string().optional(),
  timezone: z.string().optional(),
  tags: z.string().optional(),
  subscribed_at: z.string().optional(),
  /** Topics (newsletters/topics.ts) the person consented to, separated by ; */
  topics: z.string().optional(),
  /** Written by `drip export`: a row that says unsubscribed, suppressed or pending keeps that status. */
  status: z.string().optional(),
});

const STATUSES: readonly SubscriberStatus[] = ["pending", "active", "unsubscribed", "suppressed"];

/**
 * When the row says they subscribed: an ISO 8601 instant with Z or an offset, or a plain date
 * (midnight in the row's zone, UTC when it has none). Strict: 2026-02-30 is refused, not rolled
 * over to 2 March.
 */
export function parseSubscribedAt(s: string, zone: string): Date | null {
  try {
    if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
      const date = Temporal.PlainDate.from(s, { overflow: "reject" });
      return new Date(date.toZonedDateTime({ timeZone: isValidTimeZone(zone) ? zone : "UTC" }).epochMilliseconds);
    }
    return new Date(Temporal.Instant.from(s).epochMilliseconds);
  } catch {
    return null;
  }
}

/** "Subscriber has no time zone; using the sequence default X." is said once for all the rows. */
function warningSentence(message: string, count: number): string {
  const rows = `${count.toLocaleString("en-US")} row${count === 1 ? "" : "s"}`;
  const noZone = /^Subscriber has no time zone; using the sequence default (.+)\.$/.exec(message);
  if (noZone) return `${rows} without a time zone: the sequence's default (${noZone[1]}) was used`;
  return `${rows}: ${message}`;
}

export async function importCsv(
  lifecycle: Pick<Lifecycle, "importPage" | "sequenceFor"> & Partial<Pick<Lifecycle, "topicList">>,
  rows: AsyncIterable<CsvRow>,
  opts: ImportOptions,
): Promise<ImportResult> {
  const pageSize = opts.pageSize ?? 500;
  const result: ImportResult = {
    imported: 0,
    existing: 0,
    suppressed: 0,
    enrolled: 0,
    automations: { fired: 0, entered: 0 },
    badRows: 0,
    bad: [],
    warnings: [],
  };
  // Checked before anything is read or written: a wrong --sequence is a usage error.
  const sequence = opts.sequenceId !== undefined || opts.confirmed ? lifecycle.sequenceFor(opts.sequenceId) : null;
  // Warnings the engine logs per enrollment, counted by message (the address taken out).
  const warned = new Map<string, number>();
  let page: { line: number; input: z.infer<typeof subscriberInputSchema>; at: Date; status: SubscriberStatus | undefined; topics: string[] }[] = [];
  const knownTopics = new Set((lifecycle.topicList?.() ?? []).map((t) => t.id));
  let line = 1;
  const bad = (reason: string) => {
    const b = { line, reason };
    result.badRows++;
    if (result.bad.length < BAD_KEPT) result.bad.push(b);
    opts.onBadRow?.(b);
  };

  const flush = async () => {
    if (page.length === 0) return;
    // Through the lifecycle door: suppression, known addresses and enrollments in one transaction per page.
    const res = await lifecycle.importPage(
      // --confirmed vouches for consent, but never overrides a row that says the person left or never confirmed.
      page.map((r) => ({
        ...r.input,
        status: r.status && r.status !== "active" ? r.status : opts.confirmed ? "active" : "pending",
        consentSource: "import",
        consentAt: r.at,
        startAt: r.at,
        topics: r.topics,
      })),
      { enrollIn: opts.confirmed ? sequence : null },
      opts.now,
    );
    for (const message of res.warnings) warned.set(message, (warned.get(message) ?? 0) + 1);
    result.suppressed += res.suppressed;
    result.imported += res.created;
    result.existing += res.existing;
    result.enrolled += res.enrolled;
    result.automations.fired += res.automations.fired;
    result.automations.entered += res.automations.entered;
    page = [];
  };

  // A page that fails (a full disk, a lock held too long) stops the import; the pages before
  // it are committed, so say where it stopped and that running it again brings in the rest.
  const flushOrStop = async () => {
    const committed = result.imported + result.existing + result.suppressed;
    const at = page[0]?.line;
    try {
      await flush();
    } catch (err) {
      const e = coerceError(err);
      if (committed === 0 || at === undefined || !(e instanceof DripError)) throw e;
      const what = e.message.replace(/; nothing was changed$/, "");
      throw new DripError(
        e.code,
        `${what}: the import stopped at line ${at}; the ${committed.toLocaleString("en-US")} rows before it are in, so run the same import again to bring in the rest (rows already there are skipped)`,
        { cause: err },
      );
    }
  };

  const seen = new Set<string>();
  for await (const row of rows) {
    line = row.line;
    if ("error" in row) {
      bad(row.error);
      continue;
    }
    const shape = rowSchema.safeParse(row.record);
    if (!shape.success) {
      bad(shape.error.issues[0]?.message ?? "row is malformed");
      continue;
    }
    const r = shape.data;
    const parsed = subscriberInputSchema.safeParse({
      email: r.email,
      name: r.name ?? "",
      timezone: r.timezone ?? "",
      tags: (r.tags ?? "")
        .split(/[;|]/)
        .map((t) => t.trim())
        .filter(Boolean),
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      bad(issue.path[0] === "email" ? `email ${JSON.stringify(r.email)} ${issue.message}` : issue.message);
      continue;
    }
    let at = opts.now;
    if (r.subscribed_at) {
      const t = parseSubscribedAt(r.subscribed_at, parsed.data.timezone);
      if (!t) {
        bad(`subscribed_at ${JSON.stringify(r.subscribed_at)} is not a date: use ISO 8601 such as 2026-03-06T15:00:00Z or 2026-03-06`);
        continue;
      }
      if (t > opts.now) {
        bad(`subscribed_at ${r.subscribed_at} is in the future (now is ${opts.now.toISOString()}): consent cannot be given later than the import`);
        continue;
      }
      at = t;
    }
    const status = r.status ? (r.status.toLowerCase() as SubscriberStatus) : undefined;
    if (status !== undefined && !STATUSES.includes(status)) {
      bad(`status ${JSON.stringify(r.status)} is not one of ${STATUSES.join(", ")}`);
      continue;
    }
    const topics = (r.topics ?? "")
      .split(/[;|]/)
      .map((t) => t.trim())
      .filter(Boolean);
    const unknownTopic = topics.find((t) => !knownTopics.has(t));
    if (unknownTopic !== undefined) {
      bad(
        `topic ${JSON.stringify(unknownTopic)} is not declared in newsletters/topics.ts${knownTopics.size ? ` (known: ${[...knownTopics].join(", ")})` : ""}`,
      );
      continue;
    }
    const key = parsed.data.email.toLowerCase();
    if (seen.has(key)) {
      bad(`email ${parsed.data.email} appears earlier in the file`);
      continue;
    }
    seen.add(key);
    page.push({ line, input: parsed.data, at, status, topics });
    if (page.length >= pageSize) await flushOrStop();
    opts.onProgress?.(line - 1);
  }
  await flushOrStop();
  result.warnings = [...warned].map(([message, count]) => ({ count, message: warningSentence(message, count) }));
  return result;
}
