// Pure rules of the Resend API test double: error bodies, payload validation,
// canonical JSON, PRNG, the rolling rate-limit window and the daily quota day.
// No I/O here, so every rule can be reasoned about (and changed) in isolation.
// Sources: resend.com/docs/api-reference/errors, .../rate-limit,
// .../emails/send-batch-emails, dashboard/emails/idempotency-keys and
// dashboard/emails/batch-validation-modes, plus the resend SDK v6 dist.

/** Error `name`s as Resend spells them (subset of the SDK's RESEND_ERROR_CODE_KEY). */
export type ResendErrorName =
  | "validation_error"
  | "missing_required_field"
  | "missing_api_key"
  | "invalid_idempotency_key"
  | "invalid_idempotent_request"
  | "concurrent_idempotent_requests"
  | "rate_limit_exceeded"
  | "daily_quota_exceeded"
  | "internal_server_error"
  | "not_found"
  | "method_not_allowed";

export interface ErrorBody {
  statusCode: number;
  name: ResendErrorName;
  message: string;
}

export function errorBody(statusCode: number, name: ResendErrorName, message: string): ErrorBody {
  // Resend's error JSON is exactly {statusCode, name, message}; the SDK returns it
  // verbatim as `error`, so tests can branch on `name` like production code does.
  return { statusCode, name, message };
}

// Messages mirror the documented/observed Resend texts so logs read the same.
export const MESSAGES = {
  missingKey: "Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY",
  badIdemKey: "Idempotency keys, if present, must have between 1 and 256 characters.",
  idemMismatch:
    "This idempotency key has been used with this HTTP method and endpoint within the last 24 hours, but the request body was modified and doesn't match the original request.",
  idemConcurrent: "There is another request in progress with the same idempotency key.",
  rateLimited: "Too many requests. Please limit the number of requests per second. Or contact support to increase rate limit.",
  dailyQuota: "You have exceeded your daily email sending quota.",
  internal: "An unexpected error occurred.",
} as const;

export const MAX_BATCH = 100; // "Trigger up to 100 batch emails at once."
export const MAX_RECIPIENTS = 50; // `to` "Max 50."
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000; // "We keep idempotency keys ... for 24 hours."
export const DAY_MS = 24 * 60 * 60 * 1000;

/** Idempotency-Key must be 1–256 chars; Resend documents this as 400 invalid_idempotency_key. */
export function idempotencyKeyError(key: string | undefined): ErrorBody | null {
  if (key === undefined) return null;
  if (key.length >= 1 && key.length <= 256) return null;
  return errorBody(400, "invalid_idempotency_key", MESSAGES.badIdemKey);
}

// --- payload validation --------------------------------------------------

export interface NormalizedEmail {
  from: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  headers?: Record<string, string>;
  tags?: { name: string; value: string }[];
}

export type Validated = { ok: true; email: NormalizedEmail } | { ok: false; error: ErrorBody };

const BARE = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/;
const NAMED = /^[^<>]*<\s*([^<>\s]+)\s*>$/;

/** Resend accepts `email@example.com` or `Name <email@example.com>`. */
export function isValidAddress(value: unknown): boolean {
  if (typeof value !== "string") return false;
  const v = value.trim();
  const named = NAMED.exec(v);
  return BARE.test(named ? (named[1] ?? "") : v);
}

const formatHint = "The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.";

function missing(field: string): Validated {
  // Resend answers absent required fields with 422 missing_required_field.
  return { ok: false, error: errorBody(422, "missing_required_field", `Missing \`${field}\` field.`) };
}
function invalid(message: string): Validated {
  // Present-but-wrong values are 422 validation_error (observed for bad `to`).
  return { ok: false, error: errorBody(422, "validation_error", message) };
}
const present = (v: unknown): boolean => v !== undefined && v !== null && v !== "";

export function validateEmail(raw: unknown): Validated {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return invalid("The email must be a JSON object.");
  const e = raw as Record<string, unknown>;
  if (!present(e.from)) return missing("from");
  if (!isValidAddress(e.from)) return invalid(`Invalid \`from\` field. ${formatHint}`);
  if (!present(e.to) || (Array.isArray(e.to) && e.to.length === 0)) return missing("to");
  const to = Array.isArray(e.to) ? e.to : [e.to];
  if (to.length > MAX_RECIPIENTS) return invalid(`Invalid \`to\` field. A maximum of ${MAX_RECIPIENTS} recipients is allowed.`);
  if (!to.every(isValidAddress)) return invalid(`Invalid \`to\` field. ${formatHint}`);
  if (!present(e.subject)) return missing("subject");
  if (typeof e.subject !== "string") return invalid("The `subject` field must be a `string`.");
  const hasHtml = typeof e.html === "string" && e.html !== "";
  const hasText = typeof e.text === "string" && e.text !== "";
  if (!hasHtml && !hasText) return missing("html` or `text");
  const email: NormalizedEmail = { from: String(e.from), to: to.map(String), subject: e.subject };
  if (hasHtml) email.html = e.html as string;
  if (hasText) email.text = e.text as string;
  if (e.headers && typeof e.headers === "object") email.headers = e.headers as Record<string, string>;
  if (Array.isArray(e.tags)) email.tags = e.tags as { name: string; value: string }[];
  return { ok: true, email };
}

// --- canonical JSON (idempotency payload equality) -----------------------

/** Stable stringify with sorted object keys, so key order never makes payloads "differ". */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

// --- deterministic randomness -------------------------------------------

/** mulberry32: tiny, fast, good enough for fault injection; same seed → same sequence. */
export function makePrng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** uuid-shaped, deterministic per double instance (prefix from seed, suffix from a counter). */
export function makeId(seed: number, counter: number): string {
  const p = (seed >>> 0).toString(16).padStart(8, "0");
  return `${p}-0000-4000-8000-${counter.toString(16).padStart(12, "0")}`;
}

// --- rate limiting ------------------------------------------------------

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** whole seconds (≥1) until a slot frees up in the rolling window */
  resetSeconds: number;
}

/**
 * Rolling 1-second window per API key. Only admitted requests occupy a slot, so a
 * client that backs off for `retry-after` seconds is guaranteed to get through
 * (Resend: "limit the number of requests per second").
 */
export class RateLimiter {
  private windows = new Map<string, number[]>();

  check(key: string, now: number, limit: number): RateDecision {
    const win = (this.windows.get(key) ?? []).filter((t) => t > now - 1000);
    this.windows.set(key, win);
    const allowed = win.length < limit;
    if (allowed) win.push(now);
    const oldest = win[0] ?? now;
    const resetSeconds = Math.max(1, Math.ceil((oldest + 1000 - now) / 1000));
    return { allowed, limit, remaining: Math.max(0, limit - win.length), resetSeconds };
  }
}

/** Free-plan daily quota is a UTC calendar day, resetting at midnight UTC (not rolling 24 h). */
export function utcDay(now: number): number {
  return Math.floor(now / DAY_MS);
}
export function secondsUntilUtcMidnight(now: number): number {
  return Math.max(1, Math.ceil(((utcDay(now) + 1) * DAY_MS - now) / 1000));
}
