-- Written by: the outage service (fudian-outage). Its journal and snapshots make its
-- in-memory engine durable; the other tables are what it tells the world (incidents,
-- interruption records, switch states, evidence), kept for its API and for reliability
-- reporting.
CREATE SCHEMA IF NOT EXISTS outage;

-- Every input the engine applied, in order, with the clock it used: replayed after the
-- latest snapshot on start. Rows up to a snapshot's `journal_seq` are deleted with it.
CREATE TABLE outage.journal (
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- `field`, `planned` (body = the event as received) or `tick` (no body).
    kind        text        NOT NULL CHECK (kind IN ('field', 'planned', 'tick')),
    event_id    text,
    received_at timestamptz NOT NULL,
    body        bytea
);

-- Engine state (serde JSON) as of journal row `journal_seq`; only the latest is kept.
CREATE TABLE outage.snapshots (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journal_seq bigint      NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    state       bytea       NOT NULL
);

-- One row per incident, active or past, upserted from every event published about it.
CREATE TABLE outage.incidents (
    id            text        PRIMARY KEY,
    state         text        NOT NULL,
    device        text        NOT NULL,
    started_at    timestamptz NOT NULL,
    customers_out bigint      NOT NULL,
    revision      bigint      NOT NULL,
    -- The last `outage.detected`/`outage.updated` payload (JSON text).
    snapshot      text        NOT NULL,
    restored_at   timestamptz,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX incidents_by_state ON outage.incidents (state, started_at);

-- Customer interruption records (IEEE 1366 / DL/T 836 input): one per customer and
-- incident; meter-only records (momentaries outside any incident) have no incident.
CREATE TABLE outage.interruptions (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id text,
    customer_id text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    planned     boolean     NOT NULL,
    -- `momentary` or `sustained` once ended.
    kind        text,
    UNIQUE (incident_id, customer_id)
);
CREATE INDEX interruptions_by_customer ON outage.interruptions (customer_id);

-- Last known state of every switch that was operated.
CREATE TABLE outage.switch_states (
    device     text        PRIMARY KEY,
    state      text        NOT NULL CHECK (state IN ('open', 'closed')),
    changed_at timestamptz NOT NULL,
    event_id   text        NOT NULL
);

-- Evidence that joined an incident (last gasps, calls, fault indicators, failed pings).
CREATE TABLE outage.evidence (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id text        NOT NULL,
    kind        text        NOT NULL,
    customer_id text,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX evidence_by_incident ON outage.evidence (incident_id);
