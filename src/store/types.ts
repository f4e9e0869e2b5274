/**
 * The Store interface the engine depends on. The engine never imports a driver: the
 * SQLite adapter (src/store/sqlite/) implements this today; a Postgres adapter can follow
 * without touching the engine (claims there use FOR UPDATE SKIP LOCKED).
 * All instants are JS Dates in UTC; stored as integer epoch milliseconds.
 */

export type SubscriberStatus = "pending" | "active" | "unsubscribed" | "suppressed";
export type EnrollmentStatus = "active" | "completed" | "exited" | "paused";
export type SendStatus = "claimed" | "sent" | "skipped" | "failed" | "in_doubt";

export interface Subscriber {
  id: string;
  email: string;
  name: string;
  timezone: string;
  status: SubscriberStatus;
  tags: string[];
  consentSource: string | null;
  consentAt: Date | null;
  consentIp: string | null;
  createdAt: Date;
  unsubscribedAt: Date | null;
}

export interface SubscriberInput {
  email: string;
  name?: string;
  timezone?: string;
  status: SubscriberStatus;
  tags?: readonly string[];
  consentSource?: string;
  consentAt?: Date;
  consentIp?: string | null;
}

export interface Enrollment {
  id: number;
  subscriberId: string;
  sequenceId: string;
  startedAt: Date;
  /** Last step done (sent or skipped), null before the first. */
  cursor: string | null;
  /** The step that comes next, null when completed/exited. */
  nextStepId: string | null;
  nextDueAt: Date | null;
  status: EnrollmentStatus;
  reason: string | null;
}

/** One due step, claimed under a lease by one worker. */
export interface ClaimedSend {
  sendId: string;
  enrollmentId: number;
  sequenceId: string;
  stepId: string;
  dueAt: Date;
  startedAt: Date;
  attempts: number;
  subscriber: Subscriber;
}

export interface SendRecord {
  id: string;
  enrollmentId: number;
  subscriberId: string;
  sequenceId: string;
  stepId: string;
  status: SendStatus;
  attempts: number;
  dueAt: Date;
  sentAt: Date | null;
  providerMessageId: string | null;
  reason: string | null;
}

/** What happens to the enrollment once a send is recorded. */
export type Advance =
  /** `startedAt`: the course slid later by a late step's delay (kept so later steps slide too). */
  | { kind: "next"; stepId: string; dueAt: Date; startedAt?: Date }
  | { kind: "completed" }
  | { kind: "exited"; reason: string };

export interface Outcome {
  status: "sent" | "skipped" | "failed" | "in_doubt";
  at: Date;
  reason?: string | null;
  providerMessageId?: string | null;
}

/** A provider batch written before its request (crash-safe idempotency). */
export interface PendingBatch {
  /** Also the provider idempotency key. */
  id: string;
  /** `{"sendIds": [...], "emails": [...]}`: the emails are the exact request body, so a retry repeats the same bytes. */
  payload: string;
  attempts: number;
  createdAt: Date;
  /** Its sends, in payload order. */
  claims: ClaimedSend[];
}

export interface OutcomeRecord {
  claim: ClaimedSend;
  outcome: Outcome;
  advance: Advance;
}

export type EventType = "delivered" | "opened" | "clicked" | "bounced" | "complained" | "unsubscribed" | "booked";

export interface EventInput {
  subscriberId: string | null;
  sendId: string | null;
  type: EventType | string;
  at: Date;
  data?: unknown;
  /** The webhook delivery id: an event with a seen id is not stored again. */
  svixId?: string | null;
}

export interface StepStats {
  sequenceId: string;
  stepId: string;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  complained: number;
  unsubscribed: number;
  booked: number;
}

export interface PendingConfirmation {
  id: number;
  subscriber: Subscriber;
  createdAt: Date;
}

export interface EnrollmentPlan {
  sequenceId: string;
  startedAt: Date;
  firstStepId: string;
  firstDueAt: Date;
}

export type EnrollResult = "created" | "exists" | "reentered";

export interface StatusCounts {
  subscribers: Record<SubscriberStatus, number>;
  enrollments: Record<EnrollmentStatus, number>;
  sends: Record<SendStatus, number>;
  nextDueAt: Date | null;
}

export interface Store {
  /** Apply pending migrations (numbered, forward-only). */
  migrate(): Promise<void>;
  close(): Promise<void>;

  getMeta(key: string): Promise<string | null>;
  /** Set (or with null, delete) a key. */
  setMeta(key: string, value: string | null): Promise<void>;
  /** Set a key only if absent; returns the value now stored (first writer wins). */
  initMeta(key: string, value: string): Promise<string>;

  /** Insert a subscriber, or return the existing one (email matched case-insensitively). */
  upsertSubscriber(input: SubscriberInput, now: Date): Promise<{ subscriber: Subscriber; created: boolean }>;
  /**
   * Insert many in one transaction; existing emails are left as they are. `enroll` may plan
   * an enrollment for each new subscriber, written in the same transaction (a crash loses the
   * page whole, and a re-run imports it whole).
   */
  importSubscribers(
    rows: readonly SubscriberInput[],
    now: Date,
    enroll?: (subscriber: Subscriber) => EnrollmentPlan | null,
  ): Promise<{ created: Subscriber[]; existing: number; enrolled: number }>;
  /** Which of these addresses are on the suppression list (lower-cased). */
  suppressedAmong(emails: readonly string[]): Promise<Set<string>>;
  getSubscriber(id: string): Promise<Subscriber | null>;
  findSubscriberByEmail(email: string): Promise<Subscriber | null>;
  listSubscribers(afterId: string | null, limit: number): Promise<Subscriber[]>;
  setSubscriberStatus(id: string, status: SubscriberStatus, now: Date): Promise<void>;
  updateSubscriber(id: string, fields: { name?: string; timezone?: string }): Promise<void>;
  addTag(id: string, tag: string): Promise<void>;
  removeTag(id: string, tag: string): Promise<void>;

  /** Is this address on the suppression list (hashed, survives `forget`)? */
  isSuppressed(email: string): Promise<boolean>;
  suppress(email: string, reason: string, now: Date): Promise<void>;

  /** Create the enrollment, or leave the existing one alone (re-entry after completion when allowed). */
  enroll(
    input: { subscriberId: string; sequenceId: string; startedAt: Date; firstStepId: string; firstDueAt: Date; allowReentry: boolean },
  ): Promise<EnrollResult>;
  getEnrollment(subscriberId: string, sequenceId: string): Promise<Enrollment | null>;
  listEnrollments(subscriberId: string): Promise<Enrollment[]>;
  setEnrollmentStatus(id: number, status: EnrollmentStatus, reason: string | null, nextDueAt?: Date | null): Promise<void>;
  /** End every open enrollment of a subscriber (unsubscribe, suppression). */
  exitEnrollments(subscriberId: string, reason: string): Promise<void>;
  /**
   * A subscriber leaves: status, every open enrollment ended, and (optionally) the event
   * credited to the last email sent, in one transaction: it takes effect at once, whole.
   */
  leave(subscriberId: string, status: "unsubscribed" | "suppressed", reason: string, now: Date, event?: { type: string; data?: unknown }): Promise<void>;

  /**
   * Claim up to `limit` due steps (next_due_at <= now, active, not under a live lease) for
   * `leaseMs`. Creates each step's send row on first claim (unique per enrollment and step),
   * so a crashed worker's claim is picked up again once its lease runs out.
   */
  claimDue(now: Date, limit: number, leaseMs: number): Promise<ClaimedSend[]>;
  /** Record a send's outcome and advance its enrollment, atomically; releases the lease. */
  recordOutcome(claim: ClaimedSend, outcome: Outcome, advance: Advance): Promise<void>;
  /** Move a late step to a new due time (its next send window), releasing the lease. */
  defer(claim: ClaimedSend, dueAt: Date): Promise<void>;
  /** A transient failure: try the same send again at `at`, keeping its attempts and due time. */
  retryLater(claim: ClaimedSend, at: Date, reason: string): Promise<void>;

  /** Write a batch (composition, payload, key) before its request; its sends are bound to it. */
  createBatch(batch: { id: string; payload: string; claims: readonly ClaimedSend[]; leaseUntil: Date; now: Date }): Promise<void>;
  /** Pending batches whose lease ran out (a crashed or failed attempt), leased again to this caller. */
  claimStaleBatches(now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]>;
  /** Record every send of a batch and close it, atomically. */
  completeBatch(batchId: string, records: readonly OutcomeRecord[]): Promise<void>;
  /**
   * Try a pending batch again at `at` (same key, same bytes). `keyWindowFrom`: the provider
   * refused the batch with a definite answer and nothing is requested before `at`, so its
   * "outcome unknown for 24 h" age counts from there (stored as the batch's created_at).
   */
  retryBatchLater(batchId: string, at: Date, reason: string, attempts: number, keyWindowFrom?: Date): Promise<void>;

  /** Store an event; false when its svixId was seen before (a replayed webhook). */
  recordEvent(event: EventInput): Promise<boolean>;
  findSendByProviderId(providerMessageId: string): Promise<SendRecord | null>;
  /** The send a subscriber last engaged with (clicked, else opened), for booking attribution. */
  lastEngagedSend(subscriberId: string): Promise<string | null>;
  stepStats(sequenceId?: string): Promise<StepStats[]>;
  /** Fresh statuses, read right before dispatch (a claim's snapshot may be stale). */
  subscriberStatuses(ids: readonly string[]): Promise<Map<string, SubscriberStatus>>;

  /** Queue a confirmation email unless `max` were queued for this subscriber since `since`. */
  queueConfirmation(subscriberId: string, now: Date, since: Date, max: number): Promise<boolean>;
  claimConfirmations(now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]>;
  finishConfirmation(id: number, status: "sent" | "failed", now: Date, reason?: string): Promise<void>;
  retryConfirmationLater(id: number, at: Date, reason: string): Promise<void>;

  /** Erase a subscriber's personal data: the row, tags, enrollments, sends, events, confirmations. */
  forgetSubscriber(id: string): Promise<void>;

  getSend(id: string): Promise<SendRecord | null>;
  listSends(filter: { subscriberId?: string; sequenceId?: string; statuses?: readonly SendStatus[]; limit?: number }): Promise<SendRecord[]>;
  status(): Promise<StatusCounts>;
}
