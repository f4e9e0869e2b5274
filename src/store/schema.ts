/** Table shapes shared by the SQL adapters (Kysely's typed view of the schema). */
import type { Generated } from "kysely";

export interface SubscribersTable {
  id: string;
  email: string;
  /** Lower-cased email: the unique key, so Ana@X.com and ana@x.com are one subscriber. */
  email_key: string;
  name: string;
  timezone: string;
  status: string;
  consent_source: string | null;
  consent_at: number | null;
  consent_ip: string | null;
  created_at: number;
  updated_at: number;
  unsubscribed_at: number | null;
}

export interface TagsTable {
  subscriber_id: string;
  tag: string;
}

export interface EnrollmentsTable {
  id: Generated<number>;
  subscriber_id: string;
  sequence_id: string;
  /** Re-entry after completion starts a new round; sends are unique per round and step. */
  round: number;
  started_at: number;
  cursor: string | null;
  next_step_id: string | null;
  /** UTC ms: the schedule only. Claims live in lease_until/lease_owner/fence. */
  next_due_at: number | null;
  status: string;
  reason: string | null;
  updated_at: number;
  /** UTC ms until which a worker (or, at HELD_BY_BATCH, a pending batch) owns the due step; null = unclaimed. */
  lease_until: Generated<number | null>;
  lease_owner: Generated<string | null>;
  /** Grows with every claim; an owner's writes carry the value it claimed with. */
  fence: Generated<number>;
  /** 1 = re-plan next_due_at once the claim is released (the subscriber changed meanwhile). */
  replan: Generated<number>;
  /** 0 = a course, 1 = a newsletter delivery (claims split each page between the lanes). */
  lane: Generated<number>;
  /** JSON list of step ids this enrollment passes over (a live edit); null = none. */
  pass_over: Generated<string | null>;
  /** The last round whose completion fired its automations (fired_round < round: waiting). */
  fired_round: Generated<number>;
  /** Where a staff retry rewound this enrollment from (JSON {stepId, dueAt, status}); restored once the retried step is recorded. */
  resume: Generated<string | null>;
}

export interface SendsTable {
  id: string;
  enrollment_id: number;
  subscriber_id: string;
  sequence_id: string;
  step_id: string;
  status: string;
  attempts: number;
  due_at: number;
  claimed_at: number | null;
  sent_at: number | null;
  provider_message_id: string | null;
  reason: string | null;
  updated_at: number;
  batch_id: string | null;
  sequence_version: Generated<string | null>;
  template_version: Generated<string | null>;
  /** An in-doubt send queued again: the idempotency key it first went out under, and when that key was first used. */
  retry_key: Generated<string | null>;
  retry_since: Generated<number | null>;
}

export interface BatchesTable {
  id: string;
  payload: string | null;
  status: string;
  attempts: number;
  created_at: number;
  lease_until: number;
  reason: string | null;
}

export interface SuppressionsTable {
  email_hash: string;
  reason: string;
  created_at: number;
}

export interface EventsTable {
  id: Generated<number>;
  subscriber_id: string | null;
  send_id: string | null;
  type: string;
  at: number;
  data: string | null;
  svix_id: string | null;
}

export interface ConfirmationsTable {
  id: Generated<number>;
  subscriber_id: string;
  status: string;
  created_at: number;
  lease_until: number;
  sent_at: number | null;
  reason: string | null;
}

export interface SequenceVersionsTable {
  id: Generated<number>;
  sequence_id: string;
  number: number;
  hash: string;
  created_at: number;
  snapshot: string;
  changes: string;
}

export interface AutomationRunsTable {
  id: Generated<number>;
  automation_id: string;
  subscriber_id: string;
  trigger: string;
  run_key: string;
  fired_at: number;
  outcome: string;
  detail: string;
  enrolled: string | null;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface MigrationsTable {
  id: number;
  name: string;
  applied_at: number;
}

export interface SubscriberTopicsTable {
  subscriber_id: string;
  topic_id: string;
  status: string;
  consent_at: number;
  consent_source: string;
  left_at: number | null;
}

export interface NewsletterIssuesTable {
  id: string;
  topic_id: string;
  status: string;
  subject: string;
  preview: string;
  body_html: string;
  template: string | null;
  audience: string;
  schedule: string | null;
  source: string;
  published_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface FeedStateTable {
  feed_id: string;
  etag: string | null;
  last_modified: string | null;
  first_polled_at: number;
  last_polled_at: number;
  last_error: string | null;
  last_digest_on: string | null;
}

export interface FeedItemsTable {
  feed_id: string;
  guid: string;
  title: string;
  url: string | null;
  published_at: number | null;
  seen_at: number;
  issue_id: string | null;
  summary: string | null;
}

export interface StaffTable {
  id: string;
  email: string;
  email_key: string;
  role: string;
  totp_secret: string | null;
  created_at: number;
}

export interface StaffLinksTable {
  token_hash: string;
  staff_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface StaffSessionsTable {
  id_hash: string;
  staff_id: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  staff_id: string | null;
  staff_email: string;
  action: string;
  target: string | null;
  detail: string | null;
}

export interface DB {
  subscriber_topics: SubscriberTopicsTable;
  newsletter_issues: NewsletterIssuesTable;
  feed_state: FeedStateTable;
  feed_items: FeedItemsTable;
  subscribers: SubscribersTable;
  tags: TagsTable;
  enrollments: EnrollmentsTable;
  sends: SendsTable;
  batches: BatchesTable;
  suppressions: SuppressionsTable;
  events: EventsTable;
  confirmations: ConfirmationsTable;
  automation_runs: AutomationRunsTable;
  meta: MetaTable;
  sequence_versions: SequenceVersionsTable;
  drip_migrations: MigrationsTable;
  staff: StaffTable;
  staff_links: StaffLinksTable;
  staff_sessions: StaffSessionsTable;
  audit_log: AuditLogTable;
}
