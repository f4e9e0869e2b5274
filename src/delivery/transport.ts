/** Where a rendered message goes. The engine talks to this interface only. */

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
}

/** One email as the provider's API takes it (what a stored batch holds). */
export interface ProviderEmail {
  from: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  tags: { name: string; value: string }[];
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
  send(message: OutgoingMessage): Promise<DeliveryResult>;
  /** Up to 100 emails in one request under one idempotency key (idempotent transports). */
  sendBatch?(emails: readonly ProviderEmail[], key: string): Promise<BatchOutcome>;
}
