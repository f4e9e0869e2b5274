/**
 * The Resend transport, through the official SDK (which makes one HTTP request per call and
 * never retries). Batches go out in permissive validation mode so one bad address cannot
 * hold back the other 99; every request carries an idempotency key rooted in drip's own ids.
 * Errors are classified here once, into what the engine should do next.
 */
import { Resend } from "resend";
import { RateLimiter } from "./rate-limiter.ts";
import { whenSent } from "./wire.ts";
import type { BatchOutcome, DeliveryResult, OutgoingMessage, ProviderEmail, Transport } from "./transport.ts";

/** Provider error names that no retry can fix. */
const PERMANENT = new Set([
  "validation_error",
  "missing_required_field",
  "invalid_from_address",
  "invalid_to_address",
  "invalid_parameter",
  "invalid_attachment",
]);
const QUOTA = new Set(["daily_quota_exceeded", "monthly_quota_exceeded"]);

export const idempotencyKey = (sendId: string) => `drip-send-${sendId}`;

/** The provider's JSON for one message: what is stored with a batch and sent byte for byte. */
export function toProviderEmail(msg: OutgoingMessage): ProviderEmail {
  const email: ProviderEmail = { from: msg.from, to: [msg.to], subject: msg.subject, html: msg.html, text: msg.text, headers: msg.headers, tags: msg.tags };
  if (msg.pieces) email.pieces = msg.pieces;
  return email;
}

/** Literals shorter than this are escaped inline rather than cached. */
const CACHED_LITERAL = 64;
/** Cached literal encodings per transport before the cache starts over (a few templates' worth). */
const MAX_CACHED = 2000;

/** JSON for a string, without its quotes: the string itself when JSON escapes none of it (no copy made). */
const inner = (s: string) => (verbatim(s) ? s : JSON.stringify(s).slice(1, -1));
/** No quote, backslash, control character or surrogate (JSON.stringify escapes a lone one): JSON holds it as it is. */
function verbatim(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}
const isSurrogate = (code: number) => code >= 0xd800 && code <= 0xdfff;
/** Pieces that escape to the escape of their concatenation: no piece boundary splits a surrogate pair. */
const safePieces = (pieces: readonly string[]) =>
  pieces.every((p) => p.length === 0 || (!isSurrogate(p.charCodeAt(0)) && !isSurrogate(p.charCodeAt(p.length - 1))));

/**
 * The body of a batch request, byte for byte what the SDK would send for `emails` (the UTF-8 of
 * JSON.stringify of its API shape: from, headers, html, subject, tags, text, to), built from
 * each email's pieces when it has them: a template literal the batch's emails share is escaped
 * and encoded once (and kept in `cache` for the next batch) instead of once per email.
 */
export function batchBody(
  emails: readonly ProviderEmail[],
  cache: Map<string, Buffer> = new Map(),
  /** Memory to write it into (at least `size` bytes; BodyBuffers.take): a new buffer by default. */
  take: (size: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  // Segments in order: JSON text still to encode, and literals already encoded. Written into
  // one buffer sized for the worst case (3 bytes per UTF-16 unit of the text), then cut to length.
  const parts: (string | Buffer)[] = [];
  let text = "[";
  let room = 0;
  const flush = () => {
    parts.push(text);
    room += text.length * 3;
    text = "";
  };
  const literal = (s: string) => {
    if (s.length < CACHED_LITERAL) {
      text += inner(s);
      return;
    }
    let bytes = cache.get(s);
    if (!bytes) {
      if (cache.size >= MAX_CACHED) cache.clear();
      bytes = Buffer.from(inner(s));
      cache.set(s, bytes);
    }
    flush();
    parts.push(bytes);
    room += bytes.length;
  };
  const whole = (s: string, pieces: readonly string[] | undefined) => {
    if (!pieces || !safePieces(pieces)) {
      text += JSON.stringify(s);
      return;
    }
    text += '"';
    for (let i = 0; i < pieces.length; i++) {
      if (i % 2 === 0) literal(pieces[i]!);
      else text += inner(pieces[i]!);
    }
    text += '"';
  };
  for (let i = 0; i < emails.length; i++) {
    const e = emails[i]!;
    if (i > 0) text += ",";
    // The SDK's field order (parseEmailToApiOptions); JSON.stringify leaves out undefined fields.
    let sep = "{";
    const name = (n: string) => {
      text += `${sep}"${n}":`;
      sep = ",";
    };
    const json = (n: string, v: unknown) => {
      if (v === undefined) return;
      name(n);
      text += typeof v === "string" ? `"${inner(v)}"` : JSON.stringify(v);
    };
    json("from", e.from);
    json("headers", e.headers);
    if (e.html !== undefined) {
      name("html");
      whole(e.html, e.pieces?.html);
    }
    json("subject", e.subject);
    json("tags", e.tags);
    if (e.text !== undefined) {
      name("text");
      whole(e.text, e.pieces?.text);
    }
    json("to", e.to);
    text += sep === "{" ? "{}" : "}";
  }
  text += "]";
  flush();
  const out = take(room);
  let at = 0;
  for (const p of parts) {
    if (typeof p === "string") at += out.write(p, at);
    else at += p.copy(out, at);
  }
  return out.subarray(0, at);
}

/**
 * fetch options that send `body` without fetch copying it: one stream chunk (a Buffer body
 * would be copied whole when the request is made) with its Content-Length (so it goes out
 * in one piece, not chunked), and no redirect following (undici keeps a second copy of the
 * body to replay on a redirect; Resend's API does not redirect, and an answer that is a
 * redirect then counts as no answer: retried under the same key, never sent twice).
 */
export function wholeBody(body: Uint8Array): { body: ReadableStream<Uint8Array>; headers: Record<string, string>; duplex: "half"; redirect: "error" } {
  return {
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        if (body.byteLength > 0) controller.enqueue(body);
        controller.close();
      },
    }),
    headers: { "Content-Length": String(body.byteLength) },
    duplex: "half",
    redirect: "error",
  };
}

/**
 * Request body buffers kept for the next batches: a fresh ~1 MB buffer per batch costs its
 * memory's first-touch page faults when batchBody writes it (the largest single cost in the
 * delivery profile). A buffer is given back ONLY after the provider answered 200 to the request
 * that carried it: the provider then had read the whole body, so no byte of it is still waiting
 * to be sent, and the next batch written into it cannot put other bytes under this batch's key.
 * After any other outcome (no answer, a timeout, an error status, a redirect) it is dropped: part
 * of it may still be queued on a socket.
 */
export class BodyBuffers {
  private readonly spare: Buffer[] = [];
  /** `max`: buffers kept (~1.1 MB each for 100 emails): the requests a tick has in flight (two pages of 4). */
  constructor(private readonly max = 8) {}

  /** A buffer of at least `size` bytes, the caller's until it gives it back. */
  take(size: number): Buffer {
    const i = this.spare.findIndex((b) => b.length >= size);
    if (i >= 0) return this.spare.splice(i, 1)[0]!;
    // Its own memory (never a slice of Node's shared pool, which other buffers use), rounded up
    // so the next, slightly larger batch fits too.
    return Buffer.allocUnsafeSlow(Math.ceil(size / 65_536) * 65_536);
  }

  /** Only once the provider answered 200 to the request that carried `buffer`. */
  answered200(buffer: Buffer): void {
    if (this.spare.length < this.max && !this.spare.includes(buffer)) this.spare.push(buffer);
  }

  /** Buffers waiting for a batch. */
  get kept(): number {
    return this.spare.length;
  }
}

export interface ResendTransportOptions {
  baseUrl?: string;
  /**
   * Requests per second for everything this process sends (DRIP_RATE_LIMIT; Resend's limit is
   * per team). Share one limiter between transports that use the same key.
   */
  limiter?: RateLimiter;
  /** Abort a request that has not answered after this long (its outcome is then unknown). */
  timeoutMs?: number;
}

interface SdkError {
  name?: string;
  message?: string;
  statusCode?: number | null;
}

export function classify(error: SdkError | null, headers: Record<string, string> | null): Exclude<BatchOutcome, { kind: "accepted" }> {
  const name = error?.name ?? "unknown_error";
  const reason = `${name}: ${error?.message ?? "no message"}`;
  const status = error?.statusCode ?? null;
  const retryAfter = Number(headers?.["retry-after"]);
  const afterMs = Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined;
  if (QUOTA.has(name)) return { kind: "paused", reason, afterMs, status };
  // A missing, wrong or restricted API key fails every send alike: pause (15 min) and say so,
  // rather than recording every due step as failed.
  if (status === 401 || status === 403) return { kind: "paused", reason: `${reason} (check RESEND_API_KEY and its permissions)`, afterMs: 15 * 60_000, status };
  // Same key, different bytes: the provider accepted this batch's first attempt.
  if (name === "invalid_idempotent_request") return { kind: "already-accepted", reason, status };
  if (status === null) return { kind: "unknown", reason, status };
  if (status === 429 || name === "concurrent_idempotent_requests" || status >= 500) return { kind: "retry", reason, afterMs, status };
  if (PERMANENT.has(name) || (status >= 400 && status < 500)) return { kind: "rejected", reason, status };
  return { kind: "retry", reason, afterMs, status };
}

export class ResendTransport implements Transport {
  readonly name = "resend" as const;
  readonly idempotent = true;
  private readonly client: Resend;
  private readonly timeoutMs: number;
  readonly limiter: RateLimiter;
  /** Encoded template literals, shared by the batches of a step (batchBody). */
  private readonly literals = new Map<string, Buffer>();
  /** Request bodies' memory, reused after a 200 (BodyBuffers). */
  readonly bodyBuffers = new BodyBuffers();

  constructor(apiKey: string, opts: ResendTransportOptions = {}) {
    this.client = new Resend(apiKey, opts.baseUrl ? { baseUrl: opts.baseUrl } : undefined);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.limiter = opts.limiter ?? new RateLimiter(5);
  }

  encode(msg: OutgoingMessage): ProviderEmail {
    return toProviderEmail(msg);
  }

  /** The provider's answer teaches the limiter, except a quota 429: its retry-after (hours,
   * until the quota resets) is the delivery pause's business; observed here, it would hold
   * every request in the process that long. */
  private observe(outcome: BatchOutcome | { kind: "accepted"; headers?: Record<string, string> | null }, status: number | null) {
    if (outcome.kind !== "paused") this.limiter.observe(outcome.headers ?? null, status);
  }

  async send(msg: OutgoingMessage): Promise<DeliveryResult> {
    const slot = await this.limiter.acquire();
    const key = idempotencyKey(msg.sendId);
    const off = whenSent(key, () => this.limiter.sent(slot));
    const { data, error, headers } = await this.client.emails.send(toProviderEmail(msg), { idempotencyKey: key }).finally(off);
    this.limiter.answered(slot);
    if (data) {
      this.observe({ kind: "accepted", headers }, 200);
      return { ok: true, providerMessageId: data.id };
    }
    const c = classify(error, headers);
    this.observe({ ...c, headers }, c.status);
    if (c.kind === "already-accepted") return { ok: true, providerMessageId: null };
    return { ok: false, permanent: c.kind === "rejected", reason: c.reason };
  }

  async sendBatch(emails: readonly ProviderEmail[], key: string): Promise<BatchOutcome> {
    // Built before the wait: the request leaves as soon as its slot comes.
    let lent: Buffer | undefined;
    const body = batchBody(emails, this.literals, (size) => {
      lent = this.bodyBuffers.take(size);
      return lent;
    });
    const slot = await this.limiter.acquire();
    // The SDK sends `body` as given: its request options are spread over the JSON it makes of
    // its first argument and passed to fetch (resend 6.38.0, pinned; tests/delivery/batch-body.test.ts
    // checks what the double receives). `body` is the bytes it would have made of `emails`,
    // without encoding each email's copy of the template again, so its own copy is not made: []
    // instead. The options keep fetch from copying the ~1 MB body twice more: a Buffer body is
    // copied when the request is made (a stream is taken as it is: Content-Length given, so it
    // is not sent chunked), and copied again to keep for a redirect unless redirects are errors.
    // The window counts the request from when it leaves, which a busy process may make later than the slot (RateLimiter.sent).
    const off = whenSent(key, () => this.limiter.sent(slot));
    const { data, error, headers } = await this.client.batch
      .send([], {
        idempotencyKey: key,
        batchValidation: "permissive",
        signal: AbortSignal.timeout(this.timeoutMs),
        ...wholeBody(body),
      } as Parameters<Resend["batch"]["send"]>[1])
      .finally(off);
    this.limiter.answered(slot);
    if (!data) {
      const outcome: BatchOutcome = { ...classify(error, headers), headers };
      this.observe(outcome, outcome.status);
      return outcome;
    }
    this.observe({ kind: "accepted", headers }, 200);
    // Answered 200: the provider read the whole body, so its memory can hold the next batch.
    if (lent) this.bodyBuffers.answered200(lent);
    // Permissive mode: `data` lists the accepted emails in order; `errors` names the rest by index.
    const failed = new Map(((data as { errors?: { index: number; message: string }[] }).errors ?? []).map((e) => [e.index, e.message]));
    const ids = data.data.map((d) => d.id);
    let next = 0;
    const results: DeliveryResult[] = emails.map((_e, i) => {
      const message = failed.get(i);
      if (message !== undefined) return { ok: false, permanent: true, reason: `rejected by the provider: ${message}` };
      return { ok: true, providerMessageId: ids[next++] ?? null };
    });
    return { kind: "accepted", results, headers };
  }
}
