/**
 * Staff queries: accounts, one-time sign-in links, sessions and the audit log of the
 * dashboard. Links and sessions are looked up by the sha256 of their token (the caller hashes).
 */
import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { DB, StaffTable } from "../schema.ts";
import { emailKey } from "../shared.ts";
import type { AuditEntry, Staff, StaffRole } from "../types.ts";

const toStaff = (r: StaffTable): Staff => ({
  id: r.id,
  email: r.email,
  role: r.role as StaffRole,
  totp: r.totp_secret !== null,
  createdAt: new Date(r.created_at),
});

export async function putStaff(q: Kysely<DB>, email: string, role: StaffRole, now: Date): Promise<{ staff: Staff; created: boolean }> {
  const key = emailKey(email);
  const existing = await q.selectFrom("staff").selectAll().where("email_key", "=", key).executeTakeFirst();
  if (existing) {
    if (existing.role !== role) await q.updateTable("staff").set({ role }).where("id", "=", existing.id).execute();
    return { staff: toStaff({ ...existing, role }), created: false };
  }
  const row: StaffTable = { id: randomBytes(9).toString("base64url"), email: email.trim(), email_key: key, role, totp_secret: null, created_at: now.getTime() };
  await q.insertInto("staff").values(row).execute();
  return { staff: toStaff(row), created: true };
}

export async function findStaffByEmail(q: Kysely<DB>, email: string): Promise<Staff | null> {
  const r = await q.selectFrom("staff").selectAll().where("email_key", "=", emailKey(email)).executeTakeFirst();
  return r ? toStaff(r) : null;
}

export async function getStaff(q: Kysely<DB>, id: string): Promise<Staff | null> {
  const r = await q.selectFrom("staff").selectAll().where("id", "=", id).executeTakeFirst();
  return r ? toStaff(r) : null;
}

export async function listStaff(q: Kysely<DB>): Promise<Staff[]> {
  return (await q.selectFrom("staff").selectAll().orderBy("email_key").execute()).map(toStaff);
}

export async function removeStaff(q: Kysely<DB>, id: string): Promise<boolean> {
  await q.deleteFrom("staff_sessions").where("staff_id", "=", id).execute();
  await q.deleteFrom("staff_links").where("staff_id", "=", id).execute();
  const res = await q.deleteFrom("staff").where("id", "=", id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function setStaffTotp(q: Kysely<DB>, id: string, secret: string | null): Promise<void> {
  await q.updateTable("staff").set({ totp_secret: secret }).where("id", "=", id).execute();
}

export async function getStaffTotpSecret(q: Kysely<DB>, id: string): Promise<string | null> {
  const r = await q.selectFrom("staff").select("totp_secret").where("id", "=", id).executeTakeFirst();
  return r?.totp_secret ?? null;
}

export async function createSignInLink(q: Kysely<DB>, staffId: string, tokenHash: string, expiresAt: Date, now: Date): Promise<void> {
  await q
    .insertInto("staff_links")
    .values({ token_hash: tokenHash, staff_id: staffId, created_at: now.getTime(), expires_at: expiresAt.getTime(), used_at: null })
    .execute();
}

export async function peekSignInLink(q: Kysely<DB>, tokenHash: string, now: Date): Promise<Staff | null> {
  const r = await q
    .selectFrom("staff_links")
    .innerJoin("staff", "staff.id", "staff_links.staff_id")
    .selectAll("staff")
    .where("staff_links.token_hash", "=", tokenHash)
    .where("staff_links.used_at", "is", null)
    .where("staff_links.expires_at", ">", now.getTime())
    .executeTakeFirst();
  return r ? toStaff(r) : null;
}

export async function consumeSignInLink(q: Kysely<DB>, tokenHash: string, now: Date): Promise<Staff | null> {
  // One statement: of two concurrent uses, exactly one sees used_at IS NULL.
  const used = await q
    .updateTable("staff_links")
    .set({ used_at: now.getTime() })
    .where("token_hash", "=", tokenHash)
    .where("used_at", "is", null)
    .where("expires_at", ">", now.getTime())
    .returning("staff_id")
    .executeTakeFirst();
  return used ? getStaff(q, used.staff_id) : null;
}

export async function createSession(q: Kysely<DB>, staffId: string, idHash: string, expiresAt: Date, now: Date): Promise<void> {
  await q
    .insertInto("staff_sessions")
    .values({ id_hash: idHash, staff_id: staffId, created_at: now.getTime(), expires_at: expiresAt.getTime(), revoked_at: null })
    .execute();
}

export async function getSession(q: Kysely<DB>, idHash: string, now: Date): Promise<Staff | null> {
  const r = await q
    .selectFrom("staff_sessions")
    .innerJoin("staff", "staff.id", "staff_sessions.staff_id")
    .selectAll("staff")
    .where("staff_sessions.id_hash", "=", idHash)
    .where("staff_sessions.revoked_at", "is", null)
    .where("staff_sessions.expires_at", ">", now.getTime())
    .executeTakeFirst();
  return r ? toStaff(r) : null;
}

export async function revokeSession(q: Kysely<DB>, idHash: string, now: Date): Promise<void> {
  await q.updateTable("staff_sessions").set({ revoked_at: now.getTime() }).where("id_hash", "=", idHash).where("revoked_at", "is", null).execute();
}

export async function appendAudit(
  q: Kysely<DB>,
  e: { at: Date; staffId: string | null; staffEmail: string; action: string; target?: string | null; detail?: string | null },
): Promise<void> {
  await q
    .insertInto("audit_log")
    .values({ at: e.at.getTime(), staff_id: e.staffId, staff_email: e.staffEmail, action: e.action, target: e.target ?? null, detail: e.detail ?? null })
    .execute();
}

export async function listAudit(q: Kysely<DB>, limit: number, beforeId?: number): Promise<AuditEntry[]> {
  let query = q.selectFrom("audit_log").selectAll().orderBy("id", "desc").limit(limit);
  if (beforeId !== undefined) query = query.where("id", "<", beforeId);
  return (await query.execute()).map((r) => ({
    id: r.id,
    at: new Date(r.at),
    staffId: r.staff_id,
    staffEmail: r.staff_email,
    action: r.action,
    target: r.target,
    detail: r.detail,
  }));
}
