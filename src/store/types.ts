/**
 * The data drip keeps, and the Store interfaces over it, split by consumer. The engine and
 * the lifecycle door never import a driver: the SQLite adapter (src/store/sqlite/) implements
 * these today; a Postgres adapter can follow without touching them (claims there use
 * FOR UPDATE SKIP LOCKED), and tests/store/contract.ts holds both to one contract.
 * All instants are JS Dates in UTC; stored as integer epoch milliseconds.
 *
 * Glossary (the words code, tests and docs use):
 * - subscriber: one email address with a name, a time zone, tags and a status (`pending`
 *   until double opt-in, then `active`, `unsubscribed`, `suppressed`).
 * - sequence: a typed, validated definition of ordered steps (sequences/*.ts).
 * - step: one email of a sequence, with a stable id, a schedule, a template, a subject and
 *   conditions (skipIf, exit rules).
 * - enrollment: one subscriber's walk through one sequence: start time, cursor (last step
 *   done), next step and its due time (UTC), status.
 * - send: one attempt-tracked delivery of one step to one subscriber; unique per
 *   (enrollment, round, step); its id roots the provider's idempotency key.
 * - tick: one scheduler pass at an instant `now`: claim what is due, re-check conditions,
 *   render, deliver, record, advance.
 * - claim / lease: a worker's temporary ownership of a due step (owner, lease-until,
 *   fencing token). It is not the schedule: re-planning moves due times, never leases.
 * - transport: where a rendered message goes (outbox, resend); it owns its wire format,
 *   its rate limit and its mapping of the provider's answers.
 */

import type { AutomationRun, AutomationStats } from "../automations/types.ts";

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
  /** When an imported subscriber who left did so (drip export's status_at). */
  unsubscribedAt?: Date;
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
  /** Re-entries after completion start a new round (send ids carry it). */
  round: number;
  /** A worker or a pending batch holds its due step (the schedule may still move). */
  claimed: boolean;
  /** Steps a live edit said it does not receive (absent: none). */
  passOver?: string[];
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
  /** The fencing token this claim was taken with: a write with an older one is refused. */
  fence: number;
  subscriber: Subscriber;
  /** Steps after this one the enrollment does not receive (set by a live edit: received already, or added before its position). */
  passOver?: readonly string[];
  /** The sequence version and template content the engine used, recorded with the send. */
  version?: SendVersion;
  /**
   * An in-doubt send queued again by staff: it goes out under the idempotency key it first
   * went out under (its old batch id), whose 24 h window started at `since`.
   */
  retryKey?: { key: string; since: Date };
}

/**
 * What a staff retry's request(s) under an in-doubt batch's first key say about that key at the
 * provider, for the key's sends the retry went without: `taken` (answered 200: the provider never
 * had the first batch and now holds the retry's emails under the key), `had` (409 at the first
 * request, nothing of the retry taken before it: the first batch was accepted), `unknown` (a
 * request may have been taken unanswered), `untouched` (nothing under the key was taken).
 */
export type KeyAnswer = "taken" | "had" | "unknown" | "untouched";

/** Which definition a send used: the sequence version hash and the template's content hash. */
export interface SendVersion {
  sequence: string;
  template: string;
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
  /** The sequence version hash the send used (null before versions were recorded). */
  sequenceVersion?: string | null;
  /** The template's content hash the send used. */
  templateVersion?: string | null;
}

/** What happens to the enrollment once a send is recorded. */
export type Advance =
  /** `startedAt`: the course slid later by a late step's delay (kept so later steps slide too). */
  { kind: "next"; stepId: string; dueAt: Date; startedAt?: Date } | { kind: "completed" } | { kind: "exited"; reason: string };

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

/** A new enrollment: where it starts (an EnrollmentPlan) for whom, and whether a finished one may start over. */
export interface EnrollInput extends EnrollmentPlan {
  subscriberId: string;
  allowReentry: boolean;
}

export interface StatusCounts {
  subscribers: Record<SubscriberStatus, number>;
  enrollments: Record<EnrollmentStatus, number>;
  sends: Record<SendStatus, number>;
  nextDueAt: Date | null;
}

/**
 * What a re-plan may change besides the due time. The step and start only change on an
 * unclaimed enrollment (coming back after unsubscribing); status and reason always.
 */
export interface ReplanFields {
  status?: EnrollmentStatus;
  reason?: string | null;
  nextStepId?: string;
  startedAt?: Date;
}

/** Small named values (the generated secret, a delivery pause). */
export interface MetaStore {
  getMeta(key: string): Promise<string | null>;
  /** Set (or with null, delete) a key. */
  setMeta(key: string, value: string | null): Promise<void>;
  /** Set a key only if absent; returns the value now stored (first writer wins). */
  initMeta(key: string, value: string): Promise<string>;
}

/** Subscribers, tags, suppression and enrollments: what the lifecycle door changes. */
export interface SubscriberStore {
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
  /**
   * Inside a transaction: hold the subscriber's row until it ends, so a second door operation
   * on the same person waits for this one and then reads what it wrote (PostgreSQL:
   * SELECT … FOR UPDATE; SQLite serialises writers already, so there it does nothing).
   */
  lockSubscriber(id: string): Promise<void>;
  findSubscriberByEmail(email: string): Promise<Subscriber | null>;
  listSubscribers(afterId: string | null, limit: number): Promise<Subscriber[]>;
  /** Change status; leaving stamps unsubscribed_at; `consent` records a (re)confirmation. */
  setSubscriberStatus(id: string, status: SubscriberStatus, now: Date, consent?: { source: string; at: Date; ip: string | null }): Promise<void>;
  updateSubscriber(id: string, fields: { name?: string; timezone?: string }): Promise<void>;
  addTag(id: string, tag: string): Promise<void>;
  removeTag(id: string, tag: string): Promise<void>;
  /** Is this address on the suppression list (hashed, survives `forget`)? */
  isSuppressed(email: string): Promise<boolean>;
  suppress(email: string, reason: string, now: Date): Promise<void>;
  /** Create the enrollment, or leave the existing one alone (re-entry after completion when allowed). */
  enroll(input: EnrollInput): Promise<EnrollResult>;
  getEnrollment(subscriberId: string, sequenceId: string): Promise<Enrollment | null>;
  listEnrollments(subscriberId: string): Promise<Enrollment[]>;
  /** Change an enrollment's status only (pause); the schedule and any claim are left alone. */
  setEnrollmentStatus(id: number, status: EnrollmentStatus, reason: string | null): Promise<void>;
  /**
   * Move an enrollment's due time (and optionally its status): at once when it is unclaimed;
   * when a worker or a batch holds its due step, the re-plan is "deferred" and applied by the
   * next tick after the claim is released. A re-plan never makes a claimed step claimable.
   */
  replanEnrollment(id: number, at: Date, set?: ReplanFields): Promise<"planned" | "deferred">;
  /** End every open enrollment of a subscriber (unsubscribe, suppression). */
  exitEnrollments(subscriberId: string, reason: string): Promise<void>;
  /**
   * A subscriber leaves: status, every open enrollment ended, and (optionally) the event
   * credited to the last email sent, in one transaction: it takes effect at once, whole.
   * With `ifNotLeft`, only a subscriber who has not left already (not unsubscribed, not
   * suppressed, not erased): otherwise nothing is written. Returns whether they left.
   */
  leave(
    subscriberId: string,
    status: "unsubscribed" | "suppressed",
    reason: string,
    now: Date,
    event?: { type: string; data?: unknown },
    opts?: { ifNotLeft?: boolean },
  ): Promise<boolean>;
  /**
   * Erase a subscriber's personal data: the row, tags, enrollments, sends, events,
   * confirmations, and their entries in any pending batch's stored payload.
   */
  forgetSubscriber(id: string): Promise<void>;
}

/** A batch to write before its first request (createBatch). */
export interface NewBatch {
  id: string;
  payload: string;
  claims: readonly ClaimedSend[];
  leaseUntil: Date;
  now: Date;
  keyWindowFrom?: Date;
}

/** Claims, outcomes, provider batches and deferred re-plans: what the tick uses. */
export interface SchedulingStore {
  /**
   * Optional: true when a tick at `now` would find nothing to do — no due or lapsed step, no
   * stale batch, no queued confirmation, no re-plan or completion waiting, no delivery pause
   * recorded — asked in one round trip (PostgreSQL), so an idle tick is one statement, not one
   * per lane. False (or absent) means "look": the tick then asks each lane as usual.
   */
  idle?(now: Date): Promise<boolean>;
  /**
   * Claim up to `limit` due steps (next_due_at <= now, active, unclaimed or with a lapsed
   * lease) for `leaseMs`, as `owner`. The claim is its own state (lease, owner, fencing
   * token), never the schedule. Creates each step's send row on first claim (unique per
   * enrollment and step), so a crashed worker's claim is taken again once its lease runs out.
   */
  claimDue(now: Date, limit: number, leaseMs: number, owner?: string): Promise<ClaimedSend[]>;
  /**
   * Record a send's outcome and advance its enrollment, atomically; releases the claim.
   * false (nothing written) when the claim is stale: another worker has claimed the step since.
   */
  recordOutcome(claim: ClaimedSend, outcome: Outcome, advance: Advance): Promise<boolean>;
  /** Move a late step to a new due time (its next send window), releasing the claim (fenced). */
  defer(claim: ClaimedSend, dueAt: Date): Promise<boolean>;
  /** A transient failure: try the same send again at `at`, keeping its attempts and due time (fenced). */
  retryLater(claim: ClaimedSend, at: Date, reason: string): Promise<boolean>;
  /**
   * Write a batch (composition, payload, key) before its request; its sends and their claims
   * are bound to it. All or nothing: when a claim was lost meanwhile, nothing is written and
   * the lost send ids come back, for the caller to compose the batch again without them.
   * `keyWindowFrom`: the batch reuses an earlier key (a retried in-doubt send), first used then.
   */
  createBatch(batch: NewBatch): Promise<{ lost: string[] }>;
  /**
   * Write several batches (a claimed page's) as createBatch writes each, in order: all or
   * nothing per batch (a batch with a lost claim is not written, and its lost send ids come
   * back at its index). One transaction on SQLite; one per batch on PostgreSQL.
   */
  createBatches(batches: readonly NewBatch[]): Promise<{ lost: string[] }[]>;
  /** Pending batches whose lease ran out (a crashed or failed attempt), leased again to this caller. */
  claimStaleBatches(now: Date, limit: number, leaseMs: number): Promise<PendingBatch[]>;
  /**
   * Record every send of a batch and close it, atomically. `leftBehind`: the batch is a staff
   * retry under its first key (its id), and the provider's answers say this about that key;
   * the key's queued sends the retry went without (paused, left…) are settled by it in the
   * same transaction (settleLeftBehind in src/store/sqlite/retry-queries.ts).
   */
  completeBatch(batchId: string, records: readonly OutcomeRecord[], leftBehind?: { answer: KeyAnswer; at: Date }): Promise<void>;
  /**
   * Try a pending batch again at `at` (same key, same bytes). `keyWindowFrom`: the provider
   * refused the batch with a definite answer and nothing is requested before `at`, so its
   * "outcome unknown for 24 h" age counts from there (stored as the batch's created_at).
   */
  retryBatchLater(batchId: string, at: Date, reason: string, attempts: number, keyWindowFrom?: Date): Promise<void>;
  /** Enrollments with a deferred re-plan whose claim is released (or lapsed). */
  claimReplans(now: Date, limit: number): Promise<{ enrollment: Enrollment; subscriber: Subscriber }[]>;
  /** Apply a deferred re-plan (`at` null: keep the due time). */
  applyReplan(id: number, at: Date | null, now: Date): Promise<void>;
  /** Fresh statuses, read right before dispatch (a claim's snapshot may be stale). */
  subscriberStatuses(ids: readonly string[]): Promise<Map<string, SubscriberStatus>>;
  /**
   * The subscribers as they are now, tags included, read right before a provider request
   * (the lane's send-time check runs on them); an address on the suppression list reads as
   * suppressed whatever its row says. Erased ones are absent.
   */
  currentSubscribers(ids: readonly string[]): Promise<Map<string, Subscriber>>;
}

/** The queue of double opt-in emails. */
export interface ConfirmationStore {
  /** Queue a confirmation email unless `max` were queued for this subscriber since `since`. */
  queueConfirmation(subscriberId: string, now: Date, since: Date, max: number): Promise<boolean>;
  claimConfirmations(now: Date, limit: number, leaseMs: number): Promise<PendingConfirmation[]>;
  finishConfirmation(id: number, status: "sent" | "failed", now: Date, reason?: string): Promise<void>;
  retryConfirmationLater(id: number, at: Date, reason: string): Promise<void>;
}

/** Events and what staff read: per-step results, sends, counts. */
export interface ReportStore {
  /** Store an event; false when its svixId was seen before (a replayed webhook). */
  recordEvent(event: EventInput): Promise<boolean>;
  findSendByProviderId(providerMessageId: string): Promise<SendRecord | null>;
  /** The send a subscriber last engaged with (clicked, else opened), for booking attribution. */
  lastEngagedSend(subscriberId: string): Promise<string | null>;
  stepStats(sequenceId?: string): Promise<StepStats[]>;
  getSend(id: string): Promise<SendRecord | null>;
  listSends(filter: { subscriberId?: string; sequenceId?: string; statuses?: readonly SendStatus[]; limit?: number }): Promise<SendRecord[]>;
  status(): Promise<StatusCounts>;
  /** Everything that happened to one subscriber, oldest first. */
  subscriberTimeline(subscriberId: string): Promise<TimelineEntry[]>;
  /** Per step: enrollments waiting at it now, and how many of them come due before `until`. */
  stepQueue(sequenceId: string, until: Date): Promise<StepQueue[]>;
  /** Signups, unsubscribes and sends per UTC day in [from, until), every day present. */
  dailyActivity(from: Date, until: Date, sequenceId?: string): Promise<DailyActivity[]>;
  /** Subscribers by the start of their email or name, tag and status, newest first (paged, indexed). */
  searchSubscribers(search: SubscriberSearch): Promise<Subscriber[]>;
  /** A failed or in-doubt send marked resolved by staff (it becomes skipped, with the reason kept); false if it was not failed or in doubt. */
  resolveSend(sendId: string, reason: string): Promise<boolean>;
  /**
   * Put a failed or in-doubt send back in the queue (`drip retry`): its enrollment is rewound
   * to the step, due at `now`, and goes back where it was once the step is recorded. Refused
   * (nothing written) when the send is not failed or in doubt, its enrollment is claimed,
   * ended, paused or in a later round, the subscriber is not active or is suppressed, or an
   * in-doubt send's idempotency key has expired. An in-doubt send keeps its key, and the
   * in-doubt sends of the same provider batch are queued with it (one key, one request).
   */
  requeueSend(sendId: string, now: Date): Promise<RequeueResult>;
  /** Skipped sends per step and reason (`drip stats`'s skipped column), in no particular order. */
  skippedByStep(sequenceId?: string): Promise<{ sequenceId: string; stepId: string; reason: string; count: number }[]>;
  /** Why these subscribers are unsubscribed or suppressed (only those are in the map). */
  statusReasons(subscriberIds: readonly string[]): Promise<Map<string, StatusReason>>;
  /** How many provider events (PRUNABLE_EVENT_TYPES) happened before `before` (`drip db prune --dry-run`). */
  countPrunableEvents(before: Date): Promise<number>;
  /**
   * Delete up to `limit` provider events (PRUNABLE_EVENT_TYPES) that happened before `before`,
   * with ids above `afterId`, lowest ids first, in one statement (one transaction). Returns how
   * many went and the last id deleted: the next batch's `afterId`, so a pass reads the table
   * once. Sends, subscribers, unsubscribes, bookings, consent and the audit log are never touched.
   */
  pruneEvents(before: Date, limit: number, afterId?: number): Promise<{ deleted: number; lastId: number }>;
}

/**
 * The events `drip db prune` deletes: what the provider told us about a message (webhooks).
 * Kept whatever their age: `unsubscribed` (how someone left: drip show/export's reason),
 * `booked` (conversions), `retry` (staff actions) and any other type.
 */
export const PRUNABLE_EVENT_TYPES = ["delivered", "opened", "clicked", "bounced", "complained"] as const;

/** Why a subscriber left: the suppression reason (hard bounce, complaint, staff's words…) or the way they unsubscribed. */
export interface StatusReason {
  /** "hard bounce", "complaint", "unsubscribed via one-click", … */
  reason: string;
  /** How the unsubscribe came in (one-click, preferences, dashboard:<staff>, cli…), when it did. */
  via: string | null;
  at: Date | null;
}

export type RequeueResult =
  | {
      kind: "queued";
      send: SendRecord;
      /** The idempotency key the retry reuses (an in-doubt send's batch), or null: a fresh one. */
      key: string | null;
      /** Other in-doubt sends of the same provider batch queued with it (they share its key). */
      siblings: string[];
    }
  | { kind: "refused"; code: "not_found" | "conflict"; reason: string; send: SendRecord | null };

/** One thing that happened to a subscriber, for their timeline (oldest first). */
export interface TimelineEntry {
  at: Date;
  /** signed_up, confirmed, enrolled, sent, skipped, failed, in_doubt, delivered, opened, clicked, booked, unsubscribed, paused, exited, completed, automation, retry… */
  kind: string;
  sequenceId?: string;
  stepId?: string;
  sendId?: string;
  /** The reason or what it was, in words. */
  detail: string;
}

/** Per step of a sequence, where its subscribers are now: waiting at it, and due within a window. */
export interface StepQueue {
  sequenceId: string;
  stepId: string;
  waiting: number;
  dueSoon: number;
}

/** Per UTC day (YYYY-MM-DD): signups, unsubscribes and sends. */
export interface DailyActivity {
  day: string;
  signups: number;
  unsubscribes: number;
  sent: number;
}

export interface SubscriberSearch {
  /** The start of an email address or of the name (case-insensitive). */
  query?: string;
  tag?: string;
  status?: SubscriberStatus;
  /** Newest first; the cursor is the last row's `created_at` and id. */
  before?: { createdAt: Date; id: string };
  limit: number;
}

export type StaffRole = "owner" | "editor" | "viewer";

export interface Staff {
  id: string;
  email: string;
  role: StaffRole;
  totp: boolean;
  createdAt: Date;
}

export interface AuditEntry {
  id: number;
  at: Date;
  staffId: string | null;
  staffEmail: string;
  action: string;
  target: string | null;
  detail: string | null;
}

/** Staff accounts, sign-in links, sessions and the audit log (the dashboard). Tokens are stored as hashes only. */
export interface StaffStore {
  /** Add a staff account, or change an existing one's role (email matched case-insensitively). */
  putStaff(email: string, role: StaffRole, now: Date): Promise<{ staff: Staff; created: boolean }>;
  findStaffByEmail(email: string): Promise<Staff | null>;
  getStaff(id: string): Promise<Staff | null>;
  listStaff(): Promise<Staff[]>;
  /** Remove an account with its links and sessions; false when there was none. */
  removeStaff(id: string): Promise<boolean>;
  /** The TOTP secret (null turns the second factor off). */
  setStaffTotp(id: string, secret: string | null): Promise<void>;
  getStaffTotpSecret(id: string): Promise<string | null>;
  createSignInLink(staffId: string, tokenHash: string, expiresAt: Date, now: Date): Promise<void>;
  /** Is this link valid now (unused, unexpired)? Its staff account, without using it. */
  peekSignInLink(tokenHash: string, now: Date): Promise<Staff | null>;
  /** Use a link once: its staff account, or null when it is unknown, used or expired. */
  consumeSignInLink(tokenHash: string, now: Date): Promise<Staff | null>;
  createSession(staffId: string, idHash: string, expiresAt: Date, now: Date): Promise<void>;
  /** The signed-in staff for a session: null when unknown, revoked, expired or the account is gone. */
  getSession(idHash: string, now: Date): Promise<Staff | null>;
  revokeSession(idHash: string, now: Date): Promise<void>;
  appendAudit(entry: { at: Date; staffId: string | null; staffEmail: string; action: string; target?: string | null; detail?: string | null }): Promise<void>;
  /** Newest first; `beforeId` pages back. */
  listAudit(limit: number, beforeId?: number): Promise<AuditEntry[]>;
}

/** A recorded version of a sequence definition (what went live, when, and what changed). */
export interface SequenceVersion {
  sequenceId: string;
  /** 1, 2, 3… per sequence. */
  number: number;
  /** The definition's content hash (src/versions/snapshot.ts). */
  hash: string;
  createdAt: Date;
  /** The version's snapshot (steps, schedules, subjects, template identity and content hash), as given. */
  snapshot: unknown;
  /** The plan's changes when it went live, as given. */
  changes: unknown;
}

/** One enrollment's position in its sequence, read for planning a live edit. */
export interface EnrollmentPosition {
  enrollmentId: number;
  subscriberId: string;
  timezone: string;
  status: EnrollmentStatus;
  startedAt: Date;
  nextStepId: string | null;
  nextDueAt: Date | null;
  /** Steps with a recorded send (sent, skipped, failed, in doubt) in the current round. */
  done: string[];
  /** When the last of them was recorded. */
  lastDoneAt: Date | null;
  /** A worker or a pending batch holds its due step. */
  claimed: boolean;
}

/** Where a live edit puts one enrollment. */
export interface PositionMove {
  enrollmentId: number;
  stepId: string | null;
  dueAt: Date | null;
  status: EnrollmentStatus;
  /** Steps after `stepId` it does not receive. */
  passOver: readonly string[];
}

export interface VersionedStepStats extends StepStats {
  /** The sequence version hash the sends used (null: sent before versions were recorded). */
  version: string | null;
}

/** Sequence versions and live edits (drip plan / apply / history). */
export interface VersionStore {
  /** The latest recorded version of a sequence, or null. */
  liveVersion(sequenceId: string): Promise<SequenceVersion | null>;
  /** Every version of a sequence, oldest first. */
  listVersions(sequenceId: string): Promise<SequenceVersion[]>;
  /** Record a new live version (numbered one past the last). */
  recordVersion(v: { sequenceId: string; hash: string; snapshot: unknown; changes: unknown; at: Date }): Promise<SequenceVersion>;
  /** Active, paused and completed enrollments of a sequence with their zone and the steps done this round. */
  enrollmentPositions(sequenceId: string): Promise<EnrollmentPosition[]>;
  /**
   * Put enrollments where a live edit says. An unclaimed one gets its step, due time, status
   * and pass-over list now; a claimed one keeps its claim, its step and its due time (never
   * touched): it gets the pass-over list and a deferred re-plan, applied by the tick once the
   * claim is released.
   */
  moveEnrollments(moves: readonly PositionMove[]): Promise<{ planned: number; deferred: number }>;
  /** A step renamed: its sends, cursors and unclaimed waiting enrollments carry the new id. */
  renameStep(sequenceId: string, from: string, to: string): Promise<void>;
  /** Per-step results split by the sequence version each send used. */
  stepStatsByVersion(sequenceId?: string): Promise<VersionedStepStats[]>;
}

/** What automations record (runs, per subscriber and per automation) and the completions waiting to fire. */
export interface AutomationStore {
  /** Has this automation already fired for this subscriber with this key? */
  automationRunSeen(automationId: string, subscriberId: string, key: string): Promise<boolean>;
  /** Record a run; false (nothing written) when the same automation, subscriber and key were recorded before. */
  recordAutomationRun(run: Omit<AutomationRun, "id">): Promise<boolean>;
  /** A subscriber's runs, oldest first (`drip show`). */
  automationRuns(subscriberId: string): Promise<AutomationRun[]>;
  /** Runs counted per automation, by outcome, in automation id order (`drip stats`). */
  automationStats(): Promise<AutomationStats[]>;
  /** Completed enrollments whose completion has not fired its automations yet (oldest first). */
  pendingCompletions(limit: number): Promise<Enrollment[]>;
  /** Mark a round's completion as fired (a later round waits again). */
  markCompletionFired(enrollmentId: number, round: number): Promise<void>;
}

/**
 * The whole store, split by consumer above so each module declares what it uses (the engine
 * a SchedulingStore, reports a ReportStore, …); adapters implement all of it.
 */
/** What the engine (tick, batches, confirmations) needs of a store, and nothing more. */
export type EngineStore = SchedulingStore & ConfirmationStore & MetaStore & Pick<Store, "transaction">;

export interface Store
  extends MetaStore,
    SubscriberStore,
    SchedulingStore,
    ConfirmationStore,
    ReportStore,
    NewsletterStore,
    VersionStore,
    AutomationStore,
    StaffStore {
  /** Apply pending migrations (numbered, forward-only). */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Run `fn` on a view of the store inside one transaction: it all commits, or none of it. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
}

/*
 * Newsletters. Glossary additions:
 * - topic: a list a subscriber opts into (the weekly newsletter), with consent (time, source).
 * - newsletter issue: one-off content sent once to a topic's audience. Scheduling stores a
 *   snapshot (subject, preview, body) that is what goes out, whatever happens to the file.
 * - delivery: one issue to one subscriber. Stored as an enrollment in lane 1 (sequence id
 *   `newsletter:<issue>`, one step `issue`): unique per (issue, subscriber), claimed, batched,
 *   recorded and recovered exactly like a course step (see migration 5).
 * - feed: the blog's RSS/Atom feed; its ledger remembers every item GUID ever seen.
 */

/** The sequence id of an issue's deliveries, and the one step they have. */
export const NEWSLETTER_PREFIX = "newsletter:";
export const NEWSLETTER_STEP = "issue";
export const issueSequenceId = (issueId: string) => `${NEWSLETTER_PREFIX}${issueId}`;
export const issueIdOf = (sequenceId: string): string | null => (sequenceId.startsWith(NEWSLETTER_PREFIX) ? sequenceId.slice(NEWSLETTER_PREFIX.length) : null);

/**
 * A subscriber's standing with one topic: `joined` (a member: issues reach them), `left`
 * (they withdrew: nothing joins them again but their own new consent), or `consented` (they
 * agreed to join later, e.g. "when the course ends, send me the weekly blog": not a member
 * until an automation's joinTopic hands them over, keeping this consent's time and source).
 */
export type TopicStatus = "joined" | "left" | "consented";

export interface TopicMembership {
  topicId: string;
  status: TopicStatus;
  consentAt: Date;
  consentSource: string;
  leftAt: Date | null;
}

export interface TopicCount {
  topicId: string;
  /** Active subscribers joined to the topic (not left it). */
  subscribers: number;
}
export type TopicChange = { status: "joined"; at: Date; source: string } | { status: "consented"; at: Date; source: string } | { status: "left"; at: Date };

/** Who an issue goes to: a topic's active members, optionally narrowed. */
export interface AudienceFilter {
  topicId: string;
  tags?: { all?: string[]; any?: string[]; none?: string[] };
  course?: { sequence: string; state: "completed" | "in_progress" | "not_started" };
  signedUp?: { after?: Date; before?: Date };
}

export type IssueStatus = "draft" | "scheduled" | "cancelled";

/** How an issue is timed: one instant, or a local time in each subscriber's zone. */
export type IssueSchedule =
  | { kind: "at"; at: string }
  | { kind: "local"; time: string; date: string /** where that moment has passed: the next day, or now */; passed: "next-day" | "now" };

export interface IssueSnapshot {
  id: string;
  topicId: string;
  status: IssueStatus;
  subject: string;
  preview: string;
  /** The body rendered for nobody in particular (Markdown → HTML); the layout wraps it per subscriber. */
  bodyHtml: string;
  template: string | null;
  audience: AudienceFilter;
  schedule: IssueSchedule | null;
  /** "file" or "feed:<id>". */
  source: string;
  /** When it first goes out (the archive shows it from then). */
  publishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Where each delivery is due: per time zone (IANA name → UTC ms), else `fallback`. */
export interface DeliveryPlan {
  byZone: Record<string, number>;
  fallback: number;
}

/** An issue report's counts, in the order `drip newsletter status` and `drip stats` print them. */
export const ISSUE_REPORT_COLUMNS = [
  "recipients",
  "pending",
  "sent",
  "skipped",
  "failed",
  "cancelled",
  "delivered",
  "opened",
  "clicked",
  "bounced",
  "complained",
  "unsubscribed",
] as const;

export interface IssueReport {
  issueId: string;
  recipients: number;
  pending: number;
  sent: number;
  skipped: number;
  failed: number;
  cancelled: number;
  skippedReasons: Record<string, number>;
  delivered: number;
  opened: number;
  clicked: number;
  clicksByLink: Record<string, number>;
  bounced: number;
  complained: number;
  unsubscribed: number;
}

export interface MissingRecipient {
  subscriberId: string;
  email: string;
  /** pending (due at), skipped, failed, cancelled, in_doubt… */
  state: string;
  reason: string | null;
  dueAt: Date | null;
}

export interface FeedState {
  feedId: string;
  etag: string | null;
  lastModified: string | null;
  firstPolledAt: Date;
  lastPolledAt: Date;
  lastError: string | null;
  /** Weekly digest: the local date (YYYY-MM-DD) of the last digest week handled (made, or empty). */
  lastDigestOn: string | null;
}

export interface FeedItemInput {
  guid: string;
  title: string;
  url: string | null;
  publishedAt: Date | null;
  /** Plain-text summary (for digests made later). */
  summary?: string | null;
}

/** A ledger item not yet in any issue (what the next digest collects). */
export interface PendingFeedItem {
  guid: string;
  title: string;
  url: string | null;
  publishedAt: Date | null;
  summary: string | null;
  seenAt: Date;
}

/** Topics, issues, deliveries and the feed ledger. */
export interface NewsletterStore {
  /**
   * Join (with consent) or leave a topic. Leaving (a member, or one consented for later) also
   * ends the subscriber's pending deliveries of that topic's issues. `consented` records
   * consent to join later; it never demotes a member (a joined row stays joined).
   */
  setTopic(subscriberId: string, topicId: string, change: TopicChange): Promise<void>;
  listTopicMemberships(subscriberId: string): Promise<TopicMembership[]>;
  /** Per topic: active subscribers joined to it now (what the dashboard's overview shows). */
  topicCounts(): Promise<TopicCount[]>;
  /** Which of these subscribers are (still) joined to the topic. */
  topicMembersAmong(topicId: string, subscriberIds: readonly string[]): Promise<Set<string>>;
  /** Insert or replace an issue's snapshot (id is the slug). */
  saveIssue(issue: Omit<IssueSnapshot, "createdAt" | "updatedAt">, now: Date): Promise<void>;
  getIssue(id: string): Promise<IssueSnapshot | null>;
  listIssues(): Promise<IssueSnapshot[]>;
  /** Count the audience and show a few of it (active, joined, not paused, filters applied). */
  audience(filter: AudienceFilter, sample: number): Promise<{ count: number; sample: Subscriber[] }>;
  /** The distinct time zones of an audience (to compute each zone's local send time once). */
  audienceZones(filter: AudienceFilter): Promise<string[]>;
  /**
   * Plan one delivery per audience member, set-based (INSERT … SELECT): unique per (issue,
   * subscriber). Planned-but-unsent deliveries get the new due time (re-scheduling); sent
   * ones are never planned again. Returns how many deliveries are now pending.
   */
  planDeliveries(issueId: string, filter: AudienceFilter, plan: DeliveryPlan, now: Date): Promise<number>;
  /** Cancel what has not gone out (unclaimed pending deliveries end as `cancelled`). */
  cancelDeliveries(issueId: string, now: Date): Promise<number>;
  issueReport(issueId: string): Promise<IssueReport>;
  /** Everyone planned who has not received the issue, and why. */
  missingRecipients(issueId: string, limit: number): Promise<MissingRecipient[]>;
  getFeedState(feedId: string): Promise<FeedState | null>;
  saveFeedState(state: FeedState): Promise<void>;
  /** Remember items by GUID; returns the ones never seen before. */
  recordFeedItems(feedId: string, items: readonly FeedItemInput[], now: Date): Promise<FeedItemInput[]>;
  linkFeedItem(feedId: string, guid: string, issueId: string): Promise<void>;
  /**
   * Items not yet in any issue that are not back catalogue: seen after the feed's first poll
   * and not published before it. Oldest first (published, else seen). What a digest collects.
   */
  pendingFeedItems(feedId: string): Promise<PendingFeedItem[]>;
}
