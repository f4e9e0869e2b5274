// Local HTTP test double of the Resend API (POST /emails, POST /emails/batch) for
// tests and benchmarks. Point the REAL `resend` SDK at it:
//   new Resend("re_test_123", { baseUrl: double.url })
// (SDK v6 reads `options.baseUrl`, falling back to process.env.RESEND_BASE_URL at
// construction). Behaviour mirrors Resend's documented API; the pure rules live in
// resend-double-rules.ts. Only node:http is used.
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  canonicalJson,
  errorBody,
  IDEMPOTENCY_TTL_MS,
  idempotencyKeyError,
  makeId,
  makePrng,
  MAX_BATCH,
  MESSAGES,
  RateLimiter,
  secondsUntilUtcMidnight,
  utcDay,
  validateEmail,
  type ErrorBody,
  type NormalizedEmail,
  type RateDecision,
} from "./resend-double-rules.ts";

export interface ResendDoubleOptions {
  /** requests per rolling 1-second window per API key (default 5) */
  rateLimit?: number;
  /** delay before answering; [min, max] draws uniformly (deterministic given seed) */
  latencyMs?: number | [number, number];
  /** fraction answered 500 internal_server_error without accepting anything */
  failRate?: number;
  /** fraction accepted (delivered + idempotency stored), then the socket is destroyed unanswered */
  dropRate?: number;
  /** PRNG seed for fail/drop/latency decisions */
  seed?: number;
  /** emails per UTC day; over → 429 daily_quota_exceeded */
  dailyQuota?: number;
  /** clock for rate-limit windows, idempotency expiry and the quota day */
  now?: () => number;
  /**
   * Called as each request arrives (body read, before any rule is applied); the request waits
   * for it. Tests use it to make something happen at a known point of a tick: "while the first
   * batch is in flight".
   */
  onRequest?: (r: { path: string; count: number; idempotencyKey?: string }) => void | Promise<void>;
}

export interface DeliveredEmail {
  id: string;
  from: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  headers?: Record<string, string>;
  tags?: { name: string; value: string }[];
  idempotencyKey?: string;
  batchIndex?: number;
  receivedAt: number;
}

export interface RequestLogEntry {
  at: number;
  path: string;
  /** HTTP status answered; 0 when the socket was destroyed (dropRate) */
  status: number;
  idempotencyKey?: string;
  /** number of emails in the request body */
  count: number;
}

export interface ResendDouble {
  url: string;
  delivered: DeliveredEmail[];
  requests: RequestLogEntry[];
  set(opts: Partial<ResendDoubleOptions>): void;
  resetQuota(): void;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface StoredResult {
  hash: string;
  status: number;
  body: unknown;
  at: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const fail = (e: ErrorBody, headers?: Record<string, string>): Reply => ({ status: e.statusCode, body: e, headers });

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export async function startResendDouble(initial: ResendDoubleOptions = {}): Promise<ResendDouble> {
  const opts: ResendDoubleOptions = { rateLimit: 5, latencyMs: 0, failRate: 0, dropRate: 0, seed: 1, ...initial };
  let rand = makePrng(opts.seed ?? 1);
  const now = () => (opts.now ?? Date.now)();
  const delivered: DeliveredEmail[] = [];
  const requests: RequestLogEntry[] = [];
  const limiter = new RateLimiter();
  const results = new Map<string, StoredResult>(); // idempotency scope → first successful answer
  const inFlight = new Set<string>(); // idempotency scopes currently being processed
  let quotaDay = utcDay(now());
  let quotaUsed = 0;
  let idCounter = 0;

  function latencyFor(draw: number): number {
    const l = opts.latencyMs ?? 0;
    if (typeof l === "number") return l;
    return Math.round(l[0] + draw * (l[1] - l[0]));
  }

  function rateHeaders(d: RateDecision, withRetryAfter: boolean): Record<string, string> {
    // IETF ratelimit-headers draft 06, as Resend sends them "following every request".
    const h: Record<string, string> = {
      "ratelimit-limit": String(d.limit),
      "ratelimit-remaining": String(d.remaining),
      "ratelimit-reset": String(d.resetSeconds),
    };
    if (withRetryAfter) h["retry-after"] = String(d.resetSeconds);
    return h;
  }

  function rollQuotaDay(t: number): void {
    // Free-plan daily quota resets at midnight UTC, not on a rolling 24 h window.
    const day = utcDay(t);
    if (day !== quotaDay) {
      quotaDay = day;
      quotaUsed = 0;
    }
  }

  /** Validation, quota and delivery for an accepted (not rejected up-front) request. */
  function accept(path: string, body: unknown, permissive: boolean, idemKey: string | undefined, rl: Record<string, string>): Reply {
    const isBatch = path === "/emails/batch";
    const items: unknown[] = isBatch ? (body as unknown[]) : [body];
    const accepted: { index: number; email: NormalizedEmail }[] = [];
    const errors: { index: number; message: string }[] = [];
    for (const [index, raw] of items.entries()) {
      const v = validateEmail(raw);
      if (v.ok) accepted.push({ index, email: v.email });
      else if (!isBatch) return fail(v.error, rl);
      // Strict batch (Resend's default) is atomic: one invalid email rejects the lot.
      else if (!permissive) return fail({ ...v.error, message: `Email at index ${index}: ${v.error.message}` }, rl);
      else errors.push({ index, message: v.error.message });
    }
    const t = now();
    rollQuotaDay(t);
    if (opts.dailyQuota !== undefined && quotaUsed + accepted.length > opts.dailyQuota) {
      return fail(errorBody(429, "daily_quota_exceeded", MESSAGES.dailyQuota), {
        ...rl,
        "x-resend-daily-quota": String(quotaUsed),
        "retry-after": String(secondsUntilUtcMidnight(t)),
      });
    }
    const ids = accepted.map(({ index, email }) => {
      const id = makeId(opts.seed ?? 1, ++idCounter);
      const d: DeliveredEmail = { id, ...email, receivedAt: t };
      if (idemKey !== undefined) d.idempotencyKey = idemKey;
      if (isBatch) d.batchIndex = index;
      delivered.push(d);
      return { id };
    });
    quotaUsed += accepted.length;
    const headers = opts.dailyQuota !== undefined ? { ...rl, "x-resend-daily-quota": String(quotaUsed) } : rl;
    if (!isBatch) return { status: 200, body: ids[0], headers };
    // Permissive mode answers {data, errors}; the SDK's CreateBatchSuccessResponse types
    // `errors` as present only then, so strict success carries `data` alone.
    return { status: 200, body: permissive ? { data: ids, errors } : { data: ids }, headers };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    if (opts.onRequest) {
      const p = (req.url ?? "/").split("?")[0] ?? "/";
      let n = 0;
      try {
        const b: unknown = JSON.parse(raw);
        n = Array.isArray(b) ? b.length : b && typeof b === "object" ? 1 : 0;
      } catch {}
      const key = firstHeader(req.headers["idempotency-key"]);
      await opts.onRequest({ path: p, count: n, ...(key !== undefined ? { idempotencyKey: key } : {}) });
    }
    const at = now();
    // Always draw three values in arrival order so outcomes depend only on seed + sequence.
    const delay = latencyFor(rand());
    const failDraw = rand();
    const dropDraw = rand();
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const idemKey = firstHeader(req.headers["idempotency-key"]);
    let body: unknown;
    let parsed = true;
    try {
      body = JSON.parse(raw);
    } catch {
      parsed = false;
    }
    const count = Array.isArray(body) ? body.length : body && typeof body === "object" ? 1 : 0;
    const log = (status: number) => requests.push({ at, path, status, ...(idemKey !== undefined ? { idempotencyKey: idemKey } : {}), count });
    const write = (r: Reply) => {
      log(r.status);
      if (!res.socket || res.socket.destroyed) return;
      res.writeHead(r.status, { "content-type": "application/json", ...r.headers });
      res.end(JSON.stringify(r.body));
    };

    const early = (): Reply | { scope: string | undefined; rl: Record<string, string> } => {
      const auth = /^Bearer\s+(\S+)\s*$/i.exec(firstHeader(req.headers.authorization) ?? "");
      if (!auth) return fail(errorBody(401, "missing_api_key", MESSAGES.missingKey));
      const apiKey = auth[1] ?? "";
      if (path !== "/emails" && path !== "/emails/batch") return fail(errorBody(404, "not_found", "The requested endpoint does not exist."));
      if (req.method !== "POST") return fail(errorBody(405, "method_not_allowed", "Method is not allowed for the requested path."));
      const decision = limiter.check(apiKey, at, opts.rateLimit ?? 5);
      if (!decision.allowed) return fail(errorBody(429, "rate_limit_exceeded", MESSAGES.rateLimited), rateHeaders(decision, true));
      const rl = rateHeaders(decision, false);
      if (!parsed) return fail(errorBody(400, "validation_error", "The request body is not valid JSON."), rl);
      const keyErr = idempotencyKeyError(idemKey);
      if (keyErr) return fail(keyErr, rl);
      if (path === "/emails/batch") {
        if (!Array.isArray(body)) return fail(errorBody(422, "validation_error", "The batch body must be an array of emails."), rl);
        if (body.length === 0) return fail(errorBody(422, "validation_error", "The batch must contain at least 1 email."), rl);
        if (body.length > MAX_BATCH)
          return fail(errorBody(422, "validation_error", `Too many emails in the batch: ${body.length}. The maximum is ${MAX_BATCH}.`), rl);
      }
      if (idemKey === undefined) return { scope: undefined, rl };
      // Keys are scoped to API key + method + endpoint, as Resend's 409 message describes.
      const scope = `${apiKey}\u0000POST ${path}\u0000${idemKey}`;
      if (inFlight.has(scope)) return fail(errorBody(409, "concurrent_idempotent_requests", MESSAGES.idemConcurrent), rl);
      const stored = results.get(scope);
      if (stored && at - stored.at >= IDEMPOTENCY_TTL_MS) results.delete(scope);
      else if (stored) {
        if (stored.hash !== canonicalJson(body)) return fail(errorBody(409, "invalid_idempotent_request", MESSAGES.idemMismatch), rl);
        // Same key + same payload: replay the first answer, send nothing again.
        return { status: stored.status, body: stored.body, headers: rl };
      }
      return { scope, rl };
    };

    const pre = early();
    if ("status" in pre) {
      await sleep(delay);
      write(pre);
      return;
    }
    const { scope, rl } = pre;
    if (scope) inFlight.add(scope); // visible to concurrent retries for the whole latency
    let reply: Reply;
    try {
      await sleep(delay);
      if (failDraw < (opts.failRate ?? 0)) {
        reply = fail(errorBody(500, "internal_server_error", MESSAGES.internal), rl);
      } else {
        const permissive = String(firstHeader(req.headers["x-batch-validation"]) ?? "strict").toLowerCase() === "permissive";
        reply = accept(path, body, permissive, idemKey, rl);
        // Only successes are remembered: a failed attempt must stay retryable with its key.
        if (scope && reply.status === 200) results.set(scope, { hash: canonicalJson(body), status: reply.status, body: reply.body, at: now() });
      }
    } finally {
      if (scope) inFlight.delete(scope);
    }
    if (reply.status === 200 && dropDraw < (opts.dropRate ?? 0)) {
      // Accepted and remembered, but the answer is lost: the "did it send?" case that
      // idempotency keys exist for.
      log(0);
      req.socket.destroy();
      return;
    }
    write(reply);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks).toString("utf8")).catch((err: unknown) => {
        if (!res.headersSent && res.socket && !res.socket.destroyed) {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify(errorBody(500, "internal_server_error", `resend double crashed: ${String(err)}`)));
        }
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    delivered,
    requests,
    set(next) {
      Object.assign(opts, next);
      if (next.seed !== undefined) rand = makePrng(next.seed);
    },
    resetQuota() {
      quotaUsed = 0;
      quotaDay = utcDay(now());
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
