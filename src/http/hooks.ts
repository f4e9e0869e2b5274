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

/** What drip reads from a Resend event (other fields pass unread). */
const webhookEventSchema = z.object(
  {
    // Dotted lower-case names (email.delivered, contact.created): never "constructor" or "__proto__".
    type: z
      .string({ error: "type must be a string such as email.delivered" })
      .regex(/^[a-z]+(?:\.[a-z_]+)+$/, { error: "type must be an event name such as email.delivered" }),
    created_at: z
      .string({ error: "created_at must be an ISO 8601 time" })
      .refine((s) => /^\d{4}-\d{2}-\d{2}[T ]/.test(s) && !Number.isNaN(Date.parse(s)), { error: "created_at must be an ISO 8601 time" }),
    data: z.object(
      {
        email_id: z.string({ error: "data.email_id must be a string" }).optional(),
        to: z.array(z.string({ error: "data.to must list addresses" }), { error: "data.to must be a list of addresses" }).optional(),
        bounce: z.object({ type: z.string({ error: "data.bounce.type must be a string" }).optional() }, { error: "data.bounce must be an object" }).optional(),
        // email.clicked: `click.link` is the URL the reader followed (Resend's EmailClick).
        click: z.object({ link: z.string({ error: "data.click.link must be a string" }).optional() }, { error: "data.click must be an object" }).optional(),
      },
      { error: "data must be an object" },
    ),
  },
  { error: "the body must be a JSON object with type, created_at and data" },
);

/**
 * A clicked link as reports show it. drip's own pages carry the reader's signed token in the
 * path (`/unsubscribe/<token>`, `/preferences/<token>`, `/confirm/<token>`): that part is
 * replaced by `:token` and the query dropped, so no token is stored and every reader's click
 * counts under one link. Other links are kept as the provider sent them (up to 2,000 characters).
 */
export function linkForReport(link: string, publicUrl: string): string {
  const base = publicUrl.replace(/\/+$/, "");
  if (link.startsWith(`${base}/`)) {
    const m = /^\/(unsubscribe|preferences|confirm)\/[^/?#]+/.exec(link.slice(base.length));
    if (m) return `${base}/${m[1]}/:token`;
  }
  return link.slice(0, 2000);
}

/** `Bearer <key>`, the scheme in any case (RFC 7235 §2.1); the key compared in constant time. */
export function bearerMatches(header: string, key: string): boolean {
  const m = /^(\S+)[ \t]+(\S+)$/.exec(header.trim());
  return m !== null && m[1]!.toLowerCase() === "bearer" && safeEqual(m[2]!, key);
}

export function hookRoutes(): Hono<Env> {
  const app = new Hono<Env>();

  app.post("/webhooks/resend", async (c) => {
    const deps = c.get("deps");
    if (!deps.webhookSecret) return c.json({ error: "webhooks are not configured: set RESEND_WEBHOOK_SECRET" }, 503);
    // The signature covers the raw bytes: read them before anything parses the body.
    const payload = await c.req.text();
    const headers = { id: c.req.header("svix-id") ?? "", timestamp: c.req.header("svix-timestamp") ?? "", signature: c.req.header("svix-signature") ?? "" };
    if (!headers.id || !headers.timestamp || !headers.signature) return c.json({ error: "missing svix-id, svix-timestamp or svix-signature header" }, 400);
    let verified: unknown;
    try {
      // Checks the HMAC and that the timestamp is within five minutes (stale or replayed-late deliveries fail).
      verified = verifier.webhooks.verify({ payload, headers, webhookSecret: deps.webhookSecret });
    } catch (err) {
      // The library parses the body only once the signature matched.
      if (err instanceof SyntaxError) return c.json({ error: "the webhook is signed but its body is not JSON" }, 400);
      return c.json({ error: "signature verification failed" }, 401);
    }
    // Signed is not well formed: check the shape before anything is stored.
    const parsed = webhookEventSchema.safeParse(verified);
    if (!parsed.success) return c.json({ error: `the webhook is signed but is not a Resend event: ${parsed.error.issues[0]!.message}` }, 400);
    const event = parsed.data;
    const result = await deps.lifecycle.applyProviderEvent({
      id: headers.id,
      type: event.type,
      createdAt: new Date(Date.parse(event.created_at)),
      emailId: event.data.email_id,
      to: event.data.to,
      bounceType: event.data.bounce?.type,
      link: event.data.click?.link === undefined ? undefined : linkForReport(event.data.click.link, deps.publicUrl),
    });
    return c.json({ ok: true, result });
  });

  app.post("/api/events", async (c) => {
    const deps = c.get("deps");
    if (!deps.apiKey) return c.json({ error: "the events API is not configured: set DRIP_API_KEY" }, 503);
    const auth = c.req.header("authorization") ?? "";
    if (!bearerMatches(auth, deps.apiKey)) return c.json({ error: "missing or wrong bearer token" }, 401);
    const body = await c.req.json().catch(() => undefined);
    const parsed = bookingSchema.safeParse(body);
    if (!parsed.success) return c.json({ error: body === undefined ? "the body is not valid JSON" : z.prettifyError(parsed.error).replace(/\n/g, " ") }, 400);
    const subscriber = await deps.store.findSubscriberByEmail(parsed.data.email);
    if (!subscriber) return c.json({ error: `no subscriber ${parsed.data.email}` }, 404);
    const now = deps.now();
    const { creditedSend, automations } = await deps.lifecycle.recordBooking(subscriber, parsed.data.at ? new Date(parsed.data.at) : now, now);
    return c.json({ ok: true, creditedSend, automations });
  });

  return app;
}
