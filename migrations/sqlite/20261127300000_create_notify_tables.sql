-- Written by: the notify service (fudian-notify). Embedded store: the `notify` schema is
-- the attached file `<data dir>/notify.db`. Customer preferences, what it knows of
-- incidents and planned jobs, and one delivery row per notice (the outbox its sender
-- works from). Times are Unix milliseconds (UTC), as on PostgreSQL.

CREATE TABLE notify.preferences (
    customer_id TEXT PRIMARY KEY,
    channels    TEXT,
    opted_out   TEXT NOT NULL DEFAULT '[]',
    updated_at  INTEGER NOT NULL
);

CREATE TABLE notify.subjects (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('incident', 'planned')),
    state       TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    area        TEXT NOT NULL,
    cause       TEXT,
    started_at  INTEGER NOT NULL,
    etr         INTEGER,
    ended_at    INTEGER,
    crew_status TEXT,
    crew_note   TEXT,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE notify.outages (
    customer_id   TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    since         INTEGER NOT NULL,
    told_etr      INTEGER,
    etr_notice_at INTEGER,
    PRIMARY KEY (subject_id, customer_id)
);
CREATE INDEX notify.outages_by_customer ON outages (customer_id);

CREATE TABLE notify.deliveries (
    id                  TEXT PRIMARY KEY,
    idempotency_key     TEXT NOT NULL UNIQUE,
    customer_id         TEXT NOT NULL,
    subject_id          TEXT NOT NULL,
    kind                TEXT NOT NULL,
    revision            INTEGER NOT NULL,
    channels            TEXT NOT NULL,
    channel_index       INTEGER NOT NULL DEFAULT 0,
    channel             TEXT,
    critical            INTEGER NOT NULL,
    urgent              INTEGER NOT NULL,
    state               TEXT NOT NULL
        CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'suppressed')),
    facts               TEXT NOT NULL,
    attempt             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    claimed_until       INTEGER,
    dispatched_at       INTEGER,
    provider            TEXT,
    provider_message_id TEXT,
    recipient_hash      TEXT,
    answer              TEXT,
    content             TEXT,
    segments            INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    delivered_at        INTEGER
);
CREATE INDEX notify.deliveries_due ON deliveries (next_attempt_at) WHERE state = 'queued';
CREATE INDEX notify.deliveries_claimed ON deliveries (claimed_until) WHERE state = 'sending';
CREATE INDEX notify.deliveries_by_customer ON deliveries (customer_id, created_at);
CREATE INDEX notify.deliveries_by_provider_id ON deliveries (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE notify.receipts (
    dedup_key   TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
