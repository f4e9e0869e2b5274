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

export type DeliveryResult =
  | { ok: true; providerMessageId: string | null }
  /** permanent: retrying cannot help (a bad address); otherwise try again later. */
  | { ok: false; permanent: boolean; reason: string };

export interface Transport {
  readonly name: "outbox" | "resend";
  send(message: OutgoingMessage): Promise<DeliveryResult>;
}
