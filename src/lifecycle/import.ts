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
  /** Known subscribers still pending, confirmed by --confirmed. */
  confirmed: number;
  /** Confirmation emails queued (--send-confirmation). */
  confirmationsQueued: number;
  /** Rows left pending with no confirmation email (neither --confirmed nor --send-confirmation). */
  pending: number;
  /** Nothing was written (--dry-run): the counts say what would happen. */
  dryRun: boolean;
  /** How many lines were refused (`bad` keeps the first BAD_KEPT of them). */
  badRows: number;
  bad: BadRow[];
  warnings: ImportWarning[];
}

export interface ImportOptions {
  confirmed: boolean;
  /** Queue a confirmation email for every pending row. */
  sendConfirmation?: boolean;
  /** Run every page in a transaction that is rolled back. */
  dryRun?: boolean;
  /** The consent source recorded ("import", "import (mailchimp)"). */
  source?: string;
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

/** The separators a spreadsheet or another tool writes: comma, semicolon (European Excel), tab. */
export type Separator = "," | ";" | "\t";

/**
 * Split one CSV line (RFC 4180) into trimmed fields, or say why it is malformed.
 * A quote inside an unquoted field is kept as a character (`Ana "the" Great`), as spreadsheets do.
 */
export function parseCsvLine(text: string, sep: Separator = ","): { fields: string[] } | { error: string } {
  const fields: string[] = [];
  const blank = (c: string | undefined) => c === " " || (c === "\t" && sep !== "\t");
  let i = 0;
  for (;;) {
    while (blank(text[i])) i++;
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
      while (blank(text[j])) j++;
      if (j < text.length && text[j] !== sep) {
        return {
          error: `malformed CSV: a quoted field closes at column ${j} but more text follows before the next ${sepName(sep)} (write a quote inside a quoted field as "")`,
        };
      }
      fields.push(value);
      if (j >= text.length) return { fields };
      i = j + 1;
    } else {
      const next = text.indexOf(sep, i);
      const end = next === -1 ? text.length : next;
      fields.push(text.slice(i, end).trim());
      if (next === -1) return { fields };
      i = next + 1;
    }
  }
}

const sepName = (sep: Separator) => (sep === "," ? "comma" : sep === ";" ? "semicolon" : "tab");

/** The separator of a header line: the one of , ; tab that occurs most outside quotes (comma on a tie). */
export function sniffSeparator(header: string): Separator {
  const count: Record<Separator, number> = { ",": 0, ";": 0, "\t": 0 };
  let quoted = false;
  for (const c of header) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === "," || c === ";" || c === "\t")) count[c]++;
  }
  return count[";"] > count[","] && count[";"] >= count["\t"] ? ";" : count["\t"] > count[","] ? "\t" : ",";
}

/**
 * The fields an import understands, and the column names other tools export them under
 * (Mailchimp, Kit, Substack, Buttondown, listmonk, drip itself). Names are compared
 * lower-cased without spaces, `_` or `-` ("Email Address" = email_address = emailaddress);
 * when a file has several columns for one field, the alias listed first wins.
 */
export const COLUMN_ALIASES = {
  email: ["email", "emailaddress", "e-mail", "mail", "subscriberemail"],
  name: ["name", "fullname", "displayname", "subscribername"],
  first_name: ["firstname", "first", "fname", "givenname", "forename"],
  last_name: ["lastname", "last", "lname", "surname", "familyname"],
  timezone: ["timezone", "tz", "zone", "ianatimezone"],
  tags: ["tags", "tag", "labels", "segments"],
  /** drip's own: topics (newsletters/topics.ts) the person consented to, separated by ; */
  topics: ["topics", "topic", "lists", "newsletters"],
  subscribed_at: [
    "subscribedat",
    "optintime",
    "createdat",
    "creationdate",
    "subscriptiondate",
    "signupdate",
    "dateadded",
    "subscribed",
    "created",
    "confirmtime",
  ],
  /** When consent was confirmed (the double opt-in), when the export says so apart from the signup. */
  consent_at: ["consentat", "confirmtime", "confirmedat"],
  consent_ip: ["consentip", "confirmip", "optinip", "ip", "ipaddress", "signupip"],
  status: ["status", "state", "subscribertype", "subscriptionstatus"],
  /** Mailchimp's unsubscribed and cleaned exports, Substack's email_disabled. */
  unsubscribed_at: ["unsubtime", "unsubscribedat"],
  cleaned_at: ["cleantime"],
  email_disabled: ["emaildisabled"],
  /** drip export's own: why they left (hard bounce, complaint, unsubscribed via one-click…), when, and how consent was given. */
  status_reason: ["statusreason"],
  status_at: ["statusat"],
  consent_source: ["consentsource"],
} as const satisfies Record<string, readonly string[]>;

export type ImportField = keyof typeof COLUMN_ALIASES;
const FIELDS = Object.keys(COLUMN_ALIASES) as ImportField[];

const normalizeColumn = (c: string) => c.toLowerCase().replace(/[\s_-]+/g, "");

/**
 * `--map email="Email Address",name="First Name"`: which column holds a field, for files
 * whose names are not recognised. Unknown fields are a usage error naming the known ones.
 */
export function parseColumnMap(spec: string): Partial<Record<ImportField, string>> {
  const map: Partial<Record<ImportField, string>> = {};
  const re = /\s*([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^,]*))\s*(?:,|$)/y;
  let at = 0;
  while (at < spec.length) {
    re.lastIndex = at;
    const m = re.exec(spec);
    if (!m || m[0] === "")
      throw new DripError("usage", `--map ${JSON.stringify(spec)} is not field="Column",field="Column" (near ${JSON.stringify(spec.slice(at, at + 20))})`);
    const field = m[1]!.toLowerCase().replace(/-/g, "_") as ImportField;
    if (!FIELDS.includes(field)) throw new DripError("usage", `--map: "${m[1]}" is not a field drip imports; the fields are ${FIELDS.join(", ")}`);
    map[field] = (m[2] ?? m[3] ?? m[4] ?? "").trim();
    at = re.lastIndex;
  }
  return map;
}

/** For each field, the index of the column that holds it (from --map first, then the aliases). */
export function resolveColumns(header: readonly string[], map: Partial<Record<ImportField, string>> = {}, where = ""): Partial<Record<ImportField, number>> {
  const norm = header.map(normalizeColumn);
  const cols: Partial<Record<ImportField, number>> = {};
  for (const field of FIELDS) {
    const named = map[field];
    if (named !== undefined) {
      const exact = header.indexOf(named);
      const k = exact >= 0 ? exact : norm.indexOf(normalizeColumn(named));
      if (k < 0)
        throw new DripError("invalid_input", `${where}--map ${field}="${named}": the file has no column "${named}"; the columns are ${listColumns(header)}`);
      cols[field] = k;
      continue;
    }
    for (const alias of COLUMN_ALIASES[field]) {
      const k = norm.indexOf(normalizeColumn(alias));
      if (k >= 0) {
        cols[field] = k;
        break;
      }
    }
  }
  return cols;
}

const listColumns = (header: readonly string[]) => header.map((h) => JSON.stringify(h)).join(", ");

/** Which tool wrote the file, from its header (recorded as the consent source: "import (mailchimp)"). */
export function detectTool(header: readonly string[]): string | null {
  const n = new Set(header.map(normalizeColumn));
  if (n.has("emailaddress") && (n.has("optintime") || n.has("memberrating") || n.has("leid"))) return "mailchimp";
  if (n.has("emailaddress") && n.has("firstname") && n.has("createdat")) return "kit";
  if (n.has("activesubscription") || n.has("emaildisabled")) return "substack";
  if (n.has("subscribertype") || (n.has("creationdate") && n.has("secondaryid"))) return "buttondown";
  if (n.has("uuid") && n.has("attributes")) return "listmonk";
  return null;
}

export interface ReadCsvOptions {
  file?: string;
  /** Columns named by the user for fields whose names are not recognised. */
  map?: Partial<Record<ImportField, string>>;
  /** Called once with the header: the columns seen, which field each feeds, and the tool detected. */
  onHeader?: (header: { columns: string[]; fields: Partial<Record<ImportField, string>>; tool: string | null; separator: Separator }) => void;
}

/**
 * The rows of a CSV stream, one per line, numbered as an editor numbers them, each record keyed
 * by field (email, name, tags…). The first non-empty line must be the header; its separator
 * (, ; or tab) is the file's. A file whose first line looks like a subscriber, or whose header
 * has no email column, is refused before anything is read further.
 */
export async function* readCsv(input: Readable, opts: ReadCsvOptions = {}): AsyncGenerator<CsvRow> {
  const where = opts.file ? `${opts.file}: ` : "";
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  let columns: Partial<Record<ImportField, number>> | null = null;
  let sep: Separator = ",";
  for await (let text of lines) {
    line++;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === "") continue;
    if (!columns) {
      sep = sniffSeparator(text);
      const parsed = parseCsvLine(text, sep);
      if ("error" in parsed) throw new DripError("invalid_input", `${where}line ${line}, the header row: ${parsed.error}`);
      const header = parsed.fields.map((c) => c.trim());
      if (header.some((c) => c.includes("@"))) {
        throw new DripError(
          "invalid_input",
          `${where}line ${line} looks like a subscriber, not a header: the first line must be a header such as ${HEADER_EXAMPLE}; nothing was imported`,
        );
      }
      columns = resolveColumns(header, opts.map, where);
      if (columns.email === undefined) {
        throw new DripError(
          "invalid_input",
          `${where}no email column in the header (line ${line}): the columns are ${listColumns(header)}; name the one with the addresses, e.g. --map email=${JSON.stringify(header[0] ?? "Email")}; nothing was imported`,
        );
      }
      const fields: Partial<Record<ImportField, string>> = {};
      for (const [f, k] of Object.entries(columns)) fields[f as ImportField] = header[k];
      opts.onHeader?.({ columns: header, fields, tool: detectTool(header), separator: sep });
      continue;
    }
    const parsed = parseCsvLine(text, sep);
    if ("error" in parsed) {
      yield { line, error: parsed.error };
      continue;
    }
    const record: Record<string, string> = {};
    for (const [f, k] of Object.entries(columns)) {
      const v = parsed.fields[k];
      if (v !== undefined) record[f] = unguardCell(v);
    }
    yield { line, record };
  }
  if (!columns) throw new DripError("invalid_input", `${where}the file is empty: the first line must be a header such as ${HEADER_EXAMPLE}`);
}

const rowSchema = z.object({
  email: z.string(),
  name: z.string().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  timezone: z.string().optional(),
  tags: z.string().optional(),
  subscribed_at: z.string().optional(),
  /** Topics (newsletters/topics.ts) the person consented to, separated by ; */
  topics: z.string().optional(),
  consent_at: z.string().optional(),
  consent_ip: z.string().optional(),
  /** Written by `drip export` (or another tool's state): a row that says unsubscribed, suppressed or pending keeps that status. */
  status: z.string().optional(),
  unsubscribed_at: z.string().optional(),
  cleaned_at: z.string().optional(),
  email_disabled: z.string().optional(),
  status_reason: z.string().optional(),
  status_at: z.string().optional(),
  consent_source: z.string().optional(),
});

const STATUSES: readonly SubscriberStatus[] = ["pending", "active", "unsubscribed", "suppressed"];

/** Other tools' states, as drip's statuses (Kit, listmonk, Buttondown, Mailchimp, Substack). */
const STATE_ALIASES: Record<string, SubscriberStatus> = {
  subscribed: "active",
  enabled: "active",
  regular: "active",
  confirmed: "active",
  premium: "active",
  unconfirmed: "pending",
  unactivated: "pending",
  inactive: "pending",
  cancelled: "unsubscribed",
  canceled: "unsubscribed",
  disabled: "unsubscribed",
  blocklisted: "unsubscribed",
  blacklisted: "unsubscribed",
  removed: "unsubscribed",
  bounced: "suppressed",
  complained: "suppressed",
  cleaned: "suppressed",
  spam: "suppressed",
};

/** A row's status: drip's own words, another tool's state, or the columns that imply one. */
function rowStatus(r: z.infer<typeof rowSchema>): SubscriberStatus | undefined | { error: string } {
  if (r.cleaned_at) return "suppressed";
  if (r.unsubscribed_at) return "unsubscribed";
  if (r.email_disabled && /^(true|yes|1)$/i.test(r.email_disabled)) return "unsubscribed";
  if (!r.status) return undefined;
  const s = r.status.trim().toLowerCase();
  if ((STATUSES as readonly string[]).includes(s)) return s as SubscriberStatus;
  const alias = STATE_ALIASES[s];
  if (alias) return alias;
  return {
    error: `status ${JSON.stringify(r.status)} is not one of ${STATUSES.join(", ")} (nor a state other tools export, such as subscribed, cancelled, cleaned)`,
  };
}

/**
 * Tags as each tool writes them: drip `early;vip`, Mailchimp `"booked","vip"`, Kit
 * `booked, vip`, Buttondown `['booked', 'vip']`, JSON `["booked","vip"]`, or `a|b`. A tag with
 * spaces ("Booked call") is kept with dashes ("Booked-call"), which conditions can name.
 */
export function splitTags(cell: string): { tags: string[]; renamed: string[] } {
  let s = cell.trim();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const renamed: string[] = [];
  const tags = s
    .split(/[,;|]/)
    .map((t) =>
      t
        .trim()
        .replace(/^(["'])(.*)\1$/, "$2")
        .trim(),
    )
    .filter(Boolean)
    .map((t) => {
      const dashed = t.replace(/\s+/g, "-");
      if (dashed !== t) renamed.push(`${t} → ${dashed}`);
      return dashed;
    });
  return { tags: [...new Set(tags)], renamed };
}

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
    return new Date(Temporal.Instant.from(exportedInstant(s)).epochMilliseconds);
  } catch {
    return null;
  }
}

/**
 * Other tools' timestamps as ISO 8601: Mailchimp `2026-01-15 10:23:45` (UTC, no offset), Kit
 * `2026-01-15 10:23:45 UTC`, listmonk `2026-01-15 10:23:45.123456+00`, Buttondown
 * `…+00:00`, `+0000`. A date and time without an offset is UTC, as these exports write it.
 */
function exportedInstant(s: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s.trim());
  if (!m) return s;
  const off = m[3]?.toUpperCase();
  const offset =
    !off || off === "Z" || off === "UTC" || off === "GMT"
      ? "Z"
      : off.length === 3
        ? `${off}:00`
        : off.includes(":")
          ? off
          : `${off.slice(0, 3)}:${off.slice(3)}`;
  return `${m[1]}T${m[2]}${offset}`;
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
    confirmed: 0,
    confirmationsQueued: 0,
    pending: 0,
    dryRun: Boolean(opts.dryRun),
    badRows: 0,
    bad: [],
    warnings: [],
  };
  // Checked before anything is read or written: a wrong --sequence is a usage error.
  const sequence = opts.sequenceId !== undefined || opts.confirmed ? lifecycle.sequenceFor(opts.sequenceId) : null;
  // Warnings the engine logs per enrollment, counted by message (the address taken out).
  const warned = new Map<string, number>();
  const warn = (message: string) => warned.set(message, (warned.get(message) ?? 0) + 1);
  let page: {
    line: number;
    input: z.infer<typeof subscriberInputSchema>;
    at: Date;
    consentAt: Date;
    consentIp: string | null;
    status: SubscriberStatus | undefined;
    topics: string[];
    /** drip export's: how consent was given, why and when they left. */
    consentSource: string | null;
    statusReason: string | null;
    statusAt: Date | null;
  }[] = [];

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
        // The consent record as the export gives it (drip export's consent_source: "form:signup"), else the import.
        consentSource: r.consentSource ?? opts.source ?? "import",
        consentAt: r.consentAt,
        consentIp: r.consentIp,
        startAt: r.at,
        topics: r.topics,
        ...(r.status === "unsubscribed" || r.status === "suppressed"
          ? { statusReason: r.statusReason, ...(r.statusAt ? { unsubscribedAt: r.statusAt } : {}) }
          : {}),
      })),
      { enrollIn: opts.confirmed ? sequence : null, confirmPending: opts.confirmed, sendConfirmation: opts.sendConfirmation, dryRun: opts.dryRun },
      opts.now,
    );
    for (const message of res.warnings) warn(message);
    result.suppressed += res.suppressed;
    result.imported += res.created;
    result.existing += res.existing;
    result.enrolled += res.enrolled;
    result.automations.fired += res.automations.fired;
    result.automations.entered += res.automations.entered;
    result.confirmed += res.confirmed;
    result.confirmationsQueued += res.queued;
    result.pending += res.pending;
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

  const date = (field: string, value: string, zone: string): Date | string => {
    const t = parseSubscribedAt(value, zone);
    if (!t) return `${field} ${JSON.stringify(value)} is not a date: use ISO 8601 such as 2026-03-06T15:00:00Z or 2026-03-06`;
    if (t > opts.now) return `${field} ${value} is in the future (now is ${opts.now.toISOString()}): consent cannot be given later than the import`;
    return t;
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
    const { tags, renamed } = splitTags(r.tags ?? "");
    for (const t of renamed) warn(`tag "${t.split(" → ")[0]}" was stored as "${t.split(" → ")[1]}" (tags have no spaces)`);
    const name =
      r.name?.trim() ||
      [r.first_name, r.last_name]
        .map((x) => x?.trim() ?? "")
        .filter(Boolean)
        .join(" ");
    const parsed = subscriberInputSchema.safeParse({ email: r.email, name, timezone: r.timezone ?? "", tags });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      bad(
        issue.path[0] === "email"
          ? `email ${JSON.stringify(r.email)} ${issue.message}`
          : issue.path[0] === "tags"
            ? `tags ${JSON.stringify(r.tags)}: ${issue.message}`
            : issue.message,
      );
      continue;
    }
    let at = opts.now;
    if (r.subscribed_at) {
      const t = date("subscribed_at", r.subscribed_at, parsed.data.timezone);
      if (typeof t === "string") {
        bad(t);
        continue;
      }
      at = t;
    }
    let consentAt = at;
    if (r.consent_at) {
      const t = date("consent_at", r.consent_at, parsed.data.timezone);
      if (typeof t === "string") {
        bad(t);
        continue;
      }
      consentAt = t;
    }
    const status = rowStatus(r);
    if (typeof status === "object") {
      bad(status.error);
      continue;
    }
    let statusAt: Date | null = null;
    if (r.status_at) {
      const t = date("status_at", r.status_at, parsed.data.timezone);
      if (typeof t === "string") {
        bad(t);
        continue;
      }
      statusAt = t;
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
    page.push({
      line,
      input: parsed.data,
      at,
      consentAt,
      consentIp: r.consent_ip?.trim() || null,
      status,
      topics,
      consentSource: r.consent_source?.trim() || null,
      statusReason: r.status_reason?.trim() || null,
      statusAt,
    });
    if (page.length >= pageSize) await flushOrStop();
    opts.onProgress?.(line - 1);
  }
  await flushOrStop();
  result.warnings = [...warned].map(([message, count]) => ({ count, message: warningSentence(message, count) }));
  return result;
}
