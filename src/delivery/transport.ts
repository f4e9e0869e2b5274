/**
 * Where a rendered message goes. The engine talks to this interface only: a transport owns
 * its wire format (what a stored batch holds, byte for byte), its rate limit and the mapping
 * of its provider's answers to what the engine does next.
 */

export interface OutgoingMessage {
  /** The send's id: names the outbox file and roots the provider idempotency key. */
  sendId: string;
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  tags: { name: string; value: string }[];
  /** When the engine handed it over (the Date header of outbox files). */
  date: Date;
  /** html and text as the compiled renderer filled them (see Pieces); absent when rendered in full. */
  pieces?: Pieces;
}

/**
 * An email's html and text as pieces whose concatenation they are: template literals at even
 * positions (the same strings for every subscriber of a compiled step), the subscriber's
 * values at odd ones. A stored batch holds each literal once (src/engine/batch-payload.ts),
 * and a request body encodes each once (src/delivery/resend.ts batchBody).
 */
export interface Pieces {
  html: readonly string[];
  text: readonly string[];
}

/** The message for one rendered email: `From: <sender name> <address>`, the rest as rendered. */
export function outgoingMessage(
  sendId: string,
  from: { name: string; address: string },
  to: string,
  email: { subject: string; html: string; text: string; headers: Record<string, string>; tags: { name: string; value: string }[] },
  date: Date,
): OutgoingMessage {
  const { subject, html, text, headers, tags } = email;
  return { sendId, from: `${from.name} <${from.address}>`, to, subject, html, text, headers, tags, date };
}

/**
 * One email in a batch, in the transport's own wire format (what a stored batch holds and a
 * retry sends again). The engine only reads `to`, to match answers to recipients.
 */
export interface ProviderEmail {
  from: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  tags: { name: string; value: string }[];
  /** html and text in pieces (see Pieces), when the message had them: not part of the wire format's content. */
  pieces?: Pieces;
}

export type DeliveryResult =
  | { ok: true; providerMessageId: string | null }
  /** permanent: retrying cannot help (a bad address); otherwise try again later. */
  | { ok: false; permanent: boolean; reason: string };

type Headers = Record<string, string> | null;

/** What one batch request came to, and so what the engine does next. */
export type BatchOutcome =
  | { kind: "accepted"; results: DeliveryResult[]; headers?: Headers }
  /** 409 invalid_idempotent_request: an earlier attempt with this key was accepted. */
  | { kind: "already-accepted"; reason: string; status: number | null; headers?: Headers }
  /** 5xx, 429, concurrent request with the same key: the provider took nothing; try again. */
  | { kind: "retry"; reason: string; afterMs?: number; status: number | null; headers?: Headers }
  /** No answer (network error, timeout, dropped connection): it may or may not have been accepted. */
  | { kind: "unknown"; reason: string; status: number | null; headers?: Headers }
  /** Quota exhausted: stop delivering until it resets. */
  | { kind: "paused"; reason: string; afterMs?: number; status: number | null; headers?: Headers }
  /** The whole request is invalid: retrying the same bytes cannot help. */
  | { kind: "rejected"; reason: string; status: number | null; headers?: Headers };

export interface Transport {
  readonly name: "outbox" | "resend";
  /** True when the transport delivers through a provider that deduplicates by idempotency key. */
  readonly idempotent?: boolean;
  /** One message (waits for the transport's own rate limit first). */
  send(message: OutgoingMessage): Promise<DeliveryResult>;
  /** Batching transports: a message as a batch entry, in the provider's wire format. */
  encode?(message: OutgoingMessage): ProviderEmail;
  /**
   * Up to 100 entries in one request under one idempotency key (idempotent transports); waits
   * for the transport's rate limit and learns from the provider's rate-limit headers.
   */
  sendBatch?(emails: readonly ProviderEmail[], key: string): Promise<BatchOutcome>;
}

/** A transport that can take persisted batches. */
export type BatchTransport = Transport & Required<Pick<Transport, "encode" | "sendBatch">>;

export const canBatch = (t: Transport): t is BatchTransport => Boolean(t.idempotent && t.sendBatch && t.encode);
