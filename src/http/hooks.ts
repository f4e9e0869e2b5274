/**
 * Machine-to-machine routes: the provider's webhooks and the booking system's events.
 * Both answer JSON, and a rejected request changes nothing.
 * Cross-site requests are harmless: the webhook must carry a Standard Webhooks signature over
 * its body made with RESEND_WEBHOOK_SECRET, and the events API a key in the Authorization
 * header (which no page can make a browser send cross-site without a CORS preflight, which
 * drip never answers). Neither uses cookies.
 */
import { Hono } from "hono";
import { Resend } from "resend";
import { z } from "zod";
import { applyProviderEvent, recordBooking } from "../engine/lifecycle.ts";
import { emailSchema } from "../lifecycle/input.ts";
import { safeEqual } from "../tokens.ts";
import type { Env } from "./context.ts";

/** Only `webhooks.verify` is used, which makes no request: the key is a placeholder. */
const verifier = new Resend("re_verify_only");

const bookingSchema = z.object({
  email: emailSchema, // the same check as signups: RFC 6531 addresses too
  name: z.literal("booked", { error: 'name must be "booked" (the only event drip knows)' }),
  at: z.iso.datetime({ offset: true, error: "at must be an ISO 8601 instant such as 2026-03-09T14:00:00Z" }).optional(),
});

export function hookRoutes(): Hono<Env> {
  const app = new Hono<Env>();

  app.post("/webhooks/resend", async (c) => {
    const deps = c.get("deps");
    if (!deps.webhookSecret) return c.json({ error: "webhooks are not configured: set RESEND_WEBHOOK_SECRET" }, 503);
    // The signature covers the raw bytes: read them before anything parses the body.
    const payload = await c.req.text();
    const headers = { id: c.req.header("svix-id") ?? "", timestamp: c.req.header("svix-timestamp") ?? "", signature: c.req.header("svix-signature") ?? "" };
    if (!headers.id || !headers.timestamp || !headers.signature) return c.json({ error: "missing svix-id, svix-timestamp or svix-signature header" }, 400);
    let event: { type: string; created_at: string; data?: { email_id?: string; to?: string[]; bounce?: { type?: string } } };
    try {
      // Checks the HMAC and that the timestamp is within five minutes (stale or replayed-late deliveries fail).
      event = verifier.webhooks.verify({ payload, headers, webhookSecret: deps.webhookSecret }) as typeof event;
    } catch {
      return c.json({ error: "signature verification failed" }, 401);
    }
    const at = Date.parse(event.created_at);
    const result = await applyProviderEvent(deps.store, {
      id: headers.id,
      type: event.type,
      createdAt: Number.isNaN(at) ? deps.now() : new Date(at),
      emailId: event.data?.email_id,
      to: event.data?.to,
      bounceType: event.data?.bounce?.type,
    });
    return c.json({ ok: true, result });
  });

  app.post("/api/events", async (c) => {
    const deps = c.get("deps");
    if (!deps.apiKey) return c.json({ error: "the events API is not configured: set DRIP_API_KEY" }, 503);
    const auth = c.req.header("authorization") ?? "";
    if (!safeEqual(auth, `Bearer ${deps.apiKey}`)) return c.json({ error: "missing or wrong bearer token" }, 401);
    const body = await c.req.json().catch(() => undefined);
    const parsed = bookingSchema.safeParse(body);
    if (!parsed.success) return c.json({ error: body === undefined ? "the body is not valid JSON" : z.prettifyError(parsed.error).replace(/\n/g, " ") }, 400);
    const subscriber = await deps.store.findSubscriberByEmail(parsed.data.email);
    if (!subscriber) return c.json({ error: `no subscriber ${parsed.data.email}` }, 404);
    const { creditedSend } = await recordBooking(deps.store, subscriber, parsed.data.at ? new Date(parsed.data.at) : deps.now());
    return c.json({ ok: true, creditedSend });
  });

  return app;
}

