/**
 * Numbered, forward-only migrations, applied at start inside one transaction each.
 * Never edit a migration that has shipped: add the next number.
 */
export const MIGRATIONS: { id: number; name: string; sql: string }[] = [
  {
    id: 1,
    name: "initial schema",
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE subscribers (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  timezone TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('pending','active','unsubscribed','suppressed')),
  consent_source TEXT,
  consent_at INTEGER,
  consent_ip TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  unsubscribed_at INTEGER
);

CREATE TABLE tags (
  subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (subscriber_id, tag)
) WITHOUT ROWID;

CREATE TABLE enrollments (
  id INTEGER PRIMARY KEY,
  subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  sequence_id TEXT NOT NULL,
  round INTEGER NOT NULL DEFAULT 1,
  started_at INTEGER NOT NULL,
  cursor TEXT,
  next_step_id TEXT,
  next_due_at INTEGER,
  status TEXT NOT NULL CHECK (status IN ('active','completed','exited','paused')),
  reason TEXT,
  updated_at INTEGER NOT NULL,
  UNIQUE (subscriber_id, sequence_id)
);
-- The tick's only scan: a partial index over active enrollments by due time, so an idle
-- tick costs one index probe however many subscribers there are.
CREATE INDEX enrollments_due ON enrollments (next_due_at) WHERE status = 'active';

CREATE TABLE sends (
  id TEXT PRIMARY KEY,
  enrollment_id INTEGER NOT NULL REFERENCES enrollments(id) ON DELETE CASCADE,
  subscriber_id TEXT NOT NULL,
  sequence_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('claimed','sent','skipped','failed','in_doubt')),
  attempts INTEGER NOT NULL DEFAULT 0,
  due_at INTEGER NOT NULL,
  claimed_at INTEGER,
  sent_at INTEGER,
  provider_message_id TEXT,
  reason TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX sends_subscriber ON sends (subscriber_id);
CREATE INDEX sends_status ON sends (status);
CREATE INDEX sends_sequence_step ON sends (sequence_id, step_id);

CREATE TABLE suppressions (
  email_hash TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  subscriber_id TEXT,
  send_id TEXT,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  data TEXT
);
CREATE INDEX events_send ON events (send_id);
`,
  },
  {
    id: 2,
    name: "persisted provider batches",
    sql: `
-- A batch's composition, exact payload and idempotency key are written before the request,
-- so a restart after a crash re-sends the same bytes under the same key and the provider
-- deduplicates it. The payload is dropped once the batch is resolved.
CREATE TABLE batches (
  id TEXT PRIMARY KEY,
  payload TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending','done')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  reason TEXT
);
CREATE INDEX batches_pending ON batches (lease_until) WHERE status = 'pending';
ALTER TABLE sends ADD COLUMN batch_id TEXT;
CREATE INDEX sends_batch ON sends (batch_id) WHERE batch_id IS NOT NULL;
`,
  },
  {
    id: 3,
    name: "subscriber lifecycle: confirmations, webhook events, per-step statistics",
    sql: `
-- Confirmation emails wait here for the next delivery pass; counting them per subscriber
-- per 24 h is how subscription bombing is capped.
CREATE TABLE confirmations (
  id INTEGER PRIMARY KEY,
  subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  status TEXT NOT NULL CHECK (status IN ('pending','sent','failed')),
  created_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL DEFAULT 0,
  sent_at INTEGER,
  reason TEXT
);
CREATE INDEX confirmations_subscriber ON confirmations (subscriber_id, created_at);
CREATE INDEX confirmations_pending ON confirmations (lease_until) WHERE status = 'pending';

-- A webhook delivery is processed once: its svix-id is unique.
ALTER TABLE events ADD COLUMN svix_id TEXT;
CREATE UNIQUE INDEX events_svix ON events (svix_id) WHERE svix_id IS NOT NULL;
CREATE INDEX events_subscriber ON events (subscriber_id, type, at);
CREATE INDEX sends_provider ON sends (provider_message_id) WHERE provider_message_id IS NOT NULL;
`,
  },
  {
    id: 4,
    name: "claims apart from the schedule: lease, owner, fencing token, deferred re-plan",
    sql: `
-- A claim is its own state (DESIGN: claim / lease). next_due_at is the schedule only:
-- re-planning (time zone, resume, lateness, live edits) moves it and can never release a
-- claim. lease_until NULL = not claimed; a batch holds its sends' claims with the largest
-- integer until it is resolved, so only batch recovery (same key, same bytes) resends them.
-- fence grows with every claim: a stale owner's write is refused.
-- replan = 1: the subscriber changed (zone, resume) while a send was claimed; the next
-- tick re-plans the enrollment once the claim is released, and nothing claims it before.
ALTER TABLE enrollments ADD COLUMN lease_until INTEGER;
ALTER TABLE enrollments ADD COLUMN lease_owner TEXT;
ALTER TABLE enrollments ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE enrollments ADD COLUMN replan INTEGER NOT NULL DEFAULT 0;
-- Old rows: a claim used to push next_due_at forward; those leases simply lapse.
DROP INDEX enrollments_due;
-- The tick's scan: unclaimed active enrollments by due time (one index probe when idle).
CREATE INDEX enrollments_due ON enrollments (next_due_at) WHERE status = 'active' AND lease_until IS NULL AND replan = 0;
-- Claims whose lease ran out (a crashed worker), and enrollments waiting for a re-plan.
CREATE INDEX enrollments_leased ON enrollments (lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX enrollments_replan ON enrollments (id) WHERE replan = 1;
`,
  },
  {
    id: 5,
    name: "newsletters: topics with consent, issue snapshots, deliveries in their own claim lane, feed ledger",
    sql: `
-- A subscriber's topics (lists they opted into), each with its own consent: when and how.
-- Leaving a topic keeps the row (status 'left', left_at) so consent history survives.
CREATE TABLE subscriber_topics (
  subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  topic_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('joined','left')),
  consent_at INTEGER NOT NULL,
  consent_source TEXT NOT NULL,
  left_at INTEGER,
  PRIMARY KEY (subscriber_id, topic_id)
) WITHOUT ROWID;
-- Planning an issue walks a topic's members: one index range, not every subscriber.
CREATE INDEX subscriber_topics_members ON subscriber_topics (topic_id, subscriber_id) WHERE status = 'joined';

-- One row per newsletter issue: the content snapshot taken when staff scheduled it (editing
-- the file afterwards changes nothing until it is scheduled again), its audience and schedule.
CREATE TABLE newsletter_issues (
  id TEXT PRIMARY KEY,
  topic_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('draft','scheduled','cancelled')),
  subject TEXT NOT NULL,
  preview TEXT NOT NULL,
  body_html TEXT NOT NULL,
  template TEXT,
  audience TEXT NOT NULL DEFAULT '{}',
  schedule TEXT,
  source TEXT NOT NULL DEFAULT 'file',
  published_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX newsletter_issues_published ON newsletter_issues (published_at) WHERE status = 'scheduled';

-- Newsletter deliveries are enrollments in lane 1: a one-step walk (sequence_id
-- 'newsletter:<issue>', step 'issue'), so UNIQUE (subscriber_id, sequence_id) makes them one
-- per (issue, subscriber), and they share the claims (lease, owner, fence), provider batches,
-- idempotency keys, retries and crash recovery of course steps (lane 0). The lane lets the
-- claim split each page between courses and newsletters (see claimDue).
ALTER TABLE enrollments ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
DROP INDEX enrollments_due;
CREATE INDEX enrollments_due ON enrollments (lane, next_due_at) WHERE status = 'active' AND lease_until IS NULL AND replan = 0;
CREATE INDEX enrollments_sequence ON enrollments (sequence_id, status);

-- The blog feed: conditional-request validators and when it was first polled (older items
-- are never sent), and every item's GUID ever seen, so nothing is sent twice.
CREATE TABLE feed_state (
  feed_id TEXT PRIMARY KEY,
  etag TEXT,
  last_modified TEXT,
  first_polled_at INTEGER NOT NULL,
  last_polled_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE TABLE feed_items (
  feed_id TEXT NOT NULL,
  guid TEXT NOT NULL,
  title TEXT NOT NULL,
  url TEXT,
  published_at INTEGER,
  seen_at INTEGER NOT NULL,
  issue_id TEXT,
  PRIMARY KEY (feed_id, guid)
) WITHOUT ROWID;
`,
  },
  {
    id: 6,
    name: "sequence versions: what went live when, the version every send used, pass-over lists",
    sql: `
-- One row per version of a sequence that went live (drip apply, or drip start on a change);
-- the latest per sequence is the live one. snapshot and changes are JSON.
CREATE TABLE sequence_versions (
  id INTEGER PRIMARY KEY,
  sequence_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  snapshot TEXT NOT NULL,
  changes TEXT NOT NULL,
  UNIQUE (sequence_id, number)
);
-- Which definition each send used (sequence version hash, template content hash).
ALTER TABLE sends ADD COLUMN sequence_version TEXT;
ALTER TABLE sends ADD COLUMN template_version TEXT;
CREATE INDEX sends_step_version ON sends (sequence_id, step_id, sequence_version);
-- Steps an enrollment does not receive after a live edit (received already after a reorder,
-- or added before its position): JSON list, NULL for none. The tick's advance skips them.
ALTER TABLE enrollments ADD COLUMN pass_over TEXT;
`,
  },
  {
    id: 7,
    name: "staff dashboard: staff accounts, sign-in links, sessions, audit log; subscriber search indexes",
    sql: `
-- Staff sign in to /admin. A sign-in link and a session are random tokens stored only as
-- sha256 hashes (a copy of the database lets nobody in); both are revocable rows.
CREATE TABLE staff (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('owner','editor','viewer')),
  totp_secret TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE staff_links (
  token_hash TEXT PRIMARY KEY,
  staff_id TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX staff_links_staff ON staff_links (staff_id);
CREATE TABLE staff_sessions (
  id_hash TEXT PRIMARY KEY,
  staff_id TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
-- Who did what, when: kept when the staff account is removed (the email is copied in).
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  staff_id TEXT,
  staff_email TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  detail TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
-- The dashboard's subscriber search: by tag, by status, newest first.
CREATE INDEX tags_tag ON tags (tag, subscriber_id);
CREATE INDEX subscribers_name ON subscribers (lower(name));
CREATE INDEX subscribers_created ON subscribers (created_at, id);
CREATE INDEX subscribers_status ON subscribers (status, created_at);
CREATE INDEX subscribers_unsubscribed ON subscribers (unsubscribed_at) WHERE unsubscribed_at IS NOT NULL;
-- Sends per day (covering), per-step results (covering: drip stats and the course page),
-- and where each course's subscribers are (the step queue).
CREATE INDEX sends_sent_at ON sends (sent_at, status, sequence_id) WHERE sent_at IS NOT NULL;
CREATE INDEX sends_stats ON sends (sequence_id, status, step_id);
CREATE INDEX enrollments_queue ON enrollments (sequence_id, status, next_step_id, next_due_at);
`,
  },
  {
    id: 9,
    name: "topics: consent recorded for joining later (a course hands its finishers over)",
    sql: `
-- 'consented': the reader agreed to a topic (e.g. "when the course ends, send me the weekly
-- blog") but is not a member yet; an automation's joinTopic makes them one, keeping this
-- consent's time and source. Audiences read 'joined' only. SQLite cannot change a CHECK in
-- place: the table is copied (nothing references it).
CREATE TABLE subscriber_topics_new (
  subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  topic_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('joined','left','consented')),
  consent_at INTEGER NOT NULL,
  consent_source TEXT NOT NULL,
  left_at INTEGER,
  PRIMARY KEY (subscriber_id, topic_id)
) WITHOUT ROWID;
INSERT INTO subscriber_topics_new SELECT subscriber_id, topic_id, status, consent_at, consent_source, left_at FROM subscriber_topics;
DROP TABLE subscriber_topics;
ALTER TABLE subscriber_topics_new RENAME TO subscriber_topics;
CREATE INDEX subscriber_topics_members ON subscriber_topics (topic_id, subscriber_id) WHERE status = 'joined';
`,
  },
  {
    id: 10,
    name: "automations: runs, and completions waiting to fire",
    sql: `
-- One row per automation fired for a subscriber: why (trigger, key) and what it did.
-- The key makes one cause fire one automation once per subscriber (a duplicate event).
CREATE TABLE automation_runs (
  id INTEGER PRIMARY KEY,
  automation_id TEXT NOT NULL,
  subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  trigger TEXT NOT NULL,
  run_key TEXT NOT NULL,
  fired_at INTEGER NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('done','unchanged','skipped')),
  detail TEXT NOT NULL DEFAULT '',
  -- The sequence this run started (a new enrollment or a re-entry), for entries per trigger.
  enrolled TEXT,
  UNIQUE (automation_id, subscriber_id, run_key)
);
CREATE INDEX automation_runs_subscriber ON automation_runs (subscriber_id, id);
-- A completion fires its automations once per round: fired_round < round while it waits.
-- Enrollments completed before automations existed count as fired.
ALTER TABLE enrollments ADD COLUMN fired_round INTEGER NOT NULL DEFAULT 0;
UPDATE enrollments SET fired_round = round WHERE status = 'completed';
CREATE INDEX enrollments_completion ON enrollments (id) WHERE status = 'completed' AND fired_round < round;
`,
  },
  {
    id: 11,
    name: "retries: a failed or in-doubt send queued again by staff",
    sql: `
-- Where a retry rewound an enrollment from (JSON {stepId, dueAt, status}): the retried step is
-- claimed, rendered and sent by the ordinary tick, then the enrollment goes back to this place.
ALTER TABLE enrollments ADD COLUMN resume TEXT;
-- An in-doubt send queued again keeps the idempotency key it went out under (its batch id) and
-- the instant that key was first used (the provider keeps it 24 h from there), so the provider
-- answers a second request with the first result instead of sending twice.
ALTER TABLE sends ADD COLUMN retry_key TEXT;
ALTER TABLE sends ADD COLUMN retry_since INTEGER;
`,
  },
  {
    id: 12,
    name: "weekly feed digests: the last digest week, and each feed item's summary",
    sql: `
-- A weekly digest collects the posts seen since the last one: the ledger keeps each item's
-- summary (a digest may be made from a check that got 304), and feed_state the local date of
-- the last digest week handled (made, or empty), so a week is never handled twice.
ALTER TABLE feed_state ADD COLUMN last_digest_on TEXT;
ALTER TABLE feed_items ADD COLUMN summary TEXT;
`,
  },
  {
    id: 13,
    name: "dashboard counts: enrollments by status, the next due time and step results by index",
    sql: `
-- drip status and the dashboard's overview: enrollments counted by status from a covering
-- index, and the next due time of an unleased active enrollment read off an index's first entry
-- (not a walk over every active row).
CREATE INDEX enrollments_status ON enrollments (status);
CREATE INDEX enrollments_next_due ON enrollments (next_due_at) WHERE status = 'active' AND lease_until IS NULL;
-- Step results (drip stats, the course page): each send's events by type without reading the rows.
CREATE INDEX events_send_type ON events (send_id, type);
`,
  },
  {
    id: 14,
    name: "fewer indexes to write: two that another index's leading columns already serve",
    sql: `
-- Every index on a table is written when its row changes: an unsubscribe touched 18 pages.
-- enrollments (sequence_id, status) is the front of enrollments_queue (sequence_id, status,
-- next_step_id, next_due_at), events (send_id) the front of events_send_type (send_id, type):
-- every lookup they served, the longer index serves (checked by query plan in the store tests).
DROP INDEX enrollments_sequence;
DROP INDEX events_send;
`,
  },
  {
    id: 15,
    name: "sends by enrollment: an index for the reports that join enrollments to their sends",
    sql: `
-- A report over one issue's or course's enrollments joins each to its sends (the issue report,
-- its missing recipients, the positions a live edit moves): without an index on
-- sends.enrollment_id SQLite read the sends_status index, or every send, once per enrollment.
-- PostgreSQL has had sends_enrollment since migration 1.
CREATE INDEX sends_enrollment ON sends (enrollment_id);
`,
  },
  {
    id: 16,
    name: "one index fewer per send: sends_sequence_step duplicated the front of sends_step_version",
    sql: `
-- sends_step_version (sequence_id, step_id, sequence_version) answers every lookup
-- sends_sequence_step (sequence_id, step_id) did: every send written paid for a second copy of
-- the same entry.
DROP INDEX IF EXISTS sends_sequence_step;
`,
  },
];
