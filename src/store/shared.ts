/** Pieces every adapter shares: ids, email keys, row mapping. */
import { createHash, randomBytes } from "node:crypto";
import type { EnrollmentsTable, SendsTable, SubscribersTable } from "./schema.ts";
import type { Enrollment, EnrollmentStatus, SendRecord, SendStatus, Subscriber, SubscriberStatus } from "./types.ts";

export const newSubscriberId = () => randomBytes(12).toString("base64url");
export const emailKey = (email: string) => email.trim().toLowerCase();
/** Suppressions keep only a hash, so `forget` can erase the address and still block re-adding it. */
export const emailHash = (email: string) =>
  createHash("sha256")
    .update(`drip-suppression:${emailKey(email)}`)
    .digest("hex");
/** A send's id is the provider idempotency key's root: stable for the enrollment round and step. */
/** How long the provider (Resend) keeps an idempotency key: past it, a request under the key is a new email. */
export const KEY_LIFETIME_MS = 24 * 3_600_000;
/** lease_until of an enrollment whose due step is bound to a pending provider batch. */
export const HELD_BY_BATCH = Number.MAX_SAFE_INTEGER;
export const sendId = (enrollmentId: number, round: number, stepId: string) => `${enrollmentId}.${round}.${stepId}`;

const date = (ms: number | null) => (ms === null ? null : new Date(ms));

export function toSubscriber(row: SubscribersTable, tags: string[]): Subscriber {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    timezone: row.timezone,
    status: row.status as SubscriberStatus,
    tags,
    consentSource: row.consent_source,
    consentAt: date(row.consent_at),
    consentIp: row.consent_ip,
    createdAt: new Date(row.created_at),
    unsubscribedAt: date(row.unsubscribed_at),
  };
}

type EnrollmentRow = {
  [K in Exclude<
    keyof EnrollmentsTable,
    "id" | "lease_until" | "lease_owner" | "fence" | "replan" | "lane" | "pass_over" | "fired_round" | "resume"
  >]: EnrollmentsTable[K];
} & {
  id: number;
  lease_until: number | null;
  pass_over?: string | null;
};

export function toEnrollment(row: EnrollmentRow): Enrollment {
  return {
    id: row.id,
    subscriberId: row.subscriber_id,
    sequenceId: row.sequence_id,
    startedAt: new Date(row.started_at),
    cursor: row.cursor,
    nextStepId: row.next_step_id,
    nextDueAt: date(row.next_due_at),
    status: row.status as EnrollmentStatus,
    reason: row.reason,
    round: row.round,
    claimed: row.lease_until !== null && row.lease_until !== undefined,
    ...(row.pass_over ? { passOver: parsePassOver(row.pass_over) } : {}),
  };
}

export function toSend(
  row: Omit<SendsTable, "sequence_version" | "template_version" | "retry_key" | "retry_since"> & {
    sequence_version?: string | null;
    template_version?: string | null;
  },
): SendRecord {
  return {
    id: row.id,
    enrollmentId: row.enrollment_id,
    subscriberId: row.subscriber_id,
    sequenceId: row.sequence_id,
    stepId: row.step_id,
    status: row.status as SendStatus,
    attempts: row.attempts,
    dueAt: new Date(row.due_at),
    sentAt: date(row.sent_at),
    providerMessageId: row.provider_message_id,
    reason: row.reason,
    sequenceVersion: row.sequence_version ?? null,
    templateVersion: row.template_version ?? null,
  };
}

/** A stored pass-over list (JSON or null). */
export const parsePassOver = (v: string | null | undefined): string[] => (v ? (JSON.parse(v) as string[]) : []);

export const zeroCounts = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
