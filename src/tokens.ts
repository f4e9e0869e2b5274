/**
 * Link tokens: HMAC-SHA256 over (purpose, subscriber id[, expiry]) with DRIP_SECRET.
 * Scoped to one subscriber and one purpose, so guessing or altering a token reaches nobody,
 * and an unsubscribe token cannot confirm a subscription. Compared in constant time.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export type TokenPurpose = "manage" | "confirm";

/** Confirmation links work for seven days. */
export const CONFIRM_TTL_MS = 7 * 24 * 3_600_000;

const b64 = (buf: Buffer) => buf.toString("base64url");

/** HMAC-SHA256, base64url, cut to 32 characters (192 bits): the MAC of every token drip signs. */
export function mac(secret: string, payload: string): string {
  return b64(createHmac("sha256", secret).update(payload).digest()).slice(0, 32);
}

/** Compare two secrets without leaking where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A token for links in emails: `<subscriberId>.<mac>` (no expiry: unsubscribe links must keep working). */
export function signToken(secret: string, purpose: TokenPurpose, subscriberId: string, expiresAt?: Date): string {
  const exp = expiresAt ? `.${Math.floor(expiresAt.getTime() / 1000).toString(36)}` : "";
  return `${subscriberId}${exp}.${mac(secret, `${purpose}:${subscriberId}${exp}`)}`;
}

/**
 * What a valid token says: whom it is for and, for tokens that expire, when it was issued
 * (expiry minus the purpose's lifetime) and when it expires. Callers never parse tokens.
 */
export type TokenCheck =
  | { ok: true; subscriberId: string; issuedAt: Date | null; expiresAt: Date | null }
  | { ok: false; reason: "malformed" | "forged" | "expired" };

export function verifyToken(secret: string, purpose: TokenPurpose, token: string, now: Date): TokenCheck {
  const parts = token.split(".");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return { ok: false, reason: "malformed" };
  const id = parts[0]!;
  const exp = parts.length === 3 ? `.${parts[1]}` : "";
  if (!safeEqual(parts[parts.length - 1]!, mac(secret, `${purpose}:${id}${exp}`))) return { ok: false, reason: "forged" };
  const expiresAt = exp ? new Date(Number.parseInt(exp.slice(1), 36) * 1000) : null;
  if (expiresAt && expiresAt.getTime() < now.getTime()) return { ok: false, reason: "expired" };
  const issuedAt = expiresAt && purpose === "confirm" ? new Date(expiresAt.getTime() - CONFIRM_TTL_MS) : null;
  return { ok: true, subscriberId: id, issuedAt, expiresAt };
}
