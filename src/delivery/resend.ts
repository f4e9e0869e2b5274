/**
 * The Resend transport (simple path): one `emails.send` per message through the official
 * SDK, with the send id as idempotency key so a retry after a lost answer is deduplicated by
 * the provider. Batching, rate limits and crash-safe batches build on this (delivery issue).
 */
import { Resend } from "resend";
import type { DeliveryResult, OutgoingMessage, Transport } from "./transport.ts";

/** Provider error names that no retry can fix. */
const PERMANENT = new Set(["validation_error", "missing_required_field", "invalid_from_address", "invalid_to_address"]);

export const idempotencyKey = (sendId: string) => `drip-send-${sendId}`;

export class ResendTransport implements Transport {
  readonly name = "resend" as const;
  private readonly client: Resend;
  constructor(apiKey: string, baseUrl?: string) {
    this.client = new Resend(apiKey, baseUrl ? { baseUrl } : undefined);
  }

  async send(msg: OutgoingMessage): Promise<DeliveryResult> {
    const { data, error } = await this.client.emails.send(
      {
        from: msg.from,
        to: [msg.to],
        subject: msg.subject,
        html: msg.html,
        text: msg.text,
        headers: msg.headers,
        tags: msg.tags,
      },
      { idempotencyKey: idempotencyKey(msg.sendId) },
    );
    if (data) return { ok: true, providerMessageId: data.id };
    const name = error?.name ?? "unknown_error";
    // Same key, different bytes: the provider already accepted this send's first attempt.
    if (name === "invalid_idempotent_request") return { ok: true, providerMessageId: null };
    return { ok: false, permanent: PERMANENT.has(name), reason: `${name}: ${error?.message ?? "no message"}` };
  }
}
