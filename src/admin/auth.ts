/**
 * Staff sign-in: one-time links (15 minutes), server-side sessions, roles, optional TOTP.
 * Tokens are random; the store keeps only their sha256, so a copy of the database signs
 * nobody in. Used by the `drip staff` commands and the /admin routes.
 */
import { createHash, randomBytes } from "node:crypto";
import { generateSecret, generateURI, verifySync } from "otplib";
import { DripError } from "../errors.ts";
import type { Staff, StaffRole, StaffStore } from "../store/types.ts";

export const ROLES: readonly StaffRole[] = ["owner", "editor", "viewer"];
export const LINK_TTL_MS = 15 * 60_000;
export const SESSION_TTL_MS = 12 * 3_600_000;

const RANK: Record<StaffRole, number> = { viewer: 0, editor: 1, owner: 2 };
/** Does `role` include everything `needed` may do? */
export const allows = (role: StaffRole, needed: StaffRole) => RANK[role] >= RANK[needed];

export const newToken = () => randomBytes(32).toString("base64url");
export const tokenHash = (token: string) => createHash("sha256").update(`drip-staff:${token}`).digest("hex");

export function parseRole(value: string): StaffRole {
  if ((ROLES as readonly string[]).includes(value)) return value as StaffRole;
  throw new DripError("usage", `--role must be one of ${ROLES.join(", ")}, not "${value}"`);
}

/** A sign-in link for a staff account, valid 15 minutes and once. */
export async function issueSignInLink(store: StaffStore, staff: Pick<Staff, "id">, publicUrl: string, now: Date): Promise<{ url: string; expiresAt: Date }> {
  const token = newToken();
  const expiresAt = new Date(now.getTime() + LINK_TTL_MS);
  await store.createSignInLink(staff.id, tokenHash(token), expiresAt, now);
  return { url: `${publicUrl.replace(/\/+$/, "")}/admin/signin/${token}`, expiresAt };
}

/** Start a session: the cookie's value (random) and its expiry; the store keeps its hash. */
export async function startSession(store: StaffStore, staff: Pick<Staff, "id">, now: Date): Promise<{ id: string; expiresAt: Date }> {
  const id = newToken();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await store.createSession(staff.id, tokenHash(id), expiresAt, now);
  return { id, expiresAt };
}

/** A new TOTP secret and the otpauth:// URI an authenticator app reads. */
export function newTotp(email: string, issuer: string): { secret: string; uri: string } {
  const secret = generateSecret();
  return { secret, uri: generateURI({ issuer, label: email, secret }) };
}

/** Is `code` the TOTP for `secret` at `now` (one 30-second step either side)? */
export function checkTotp(secret: string, code: string, now: Date): boolean {
  const token = code.replace(/\s+/g, "");
  if (!/^\d{6}$/.test(token)) return false;
  try {
    return verifySync({ secret, token, epoch: Math.floor(now.getTime() / 1000), epochTolerance: 30 }).valid;
  } catch {
    return false;
  }
}
