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
];
