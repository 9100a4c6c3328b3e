-- Written by: the outage service (fudian-outage). Embedded store: the `outage` schema is
-- the attached file `<data dir>/outage.db`. Its journal and snapshots make its in-memory
-- engine durable; the other tables are what it tells the world (incidents, interruption
-- records, switch states, evidence). Times are RFC 3339 text in UTC.

-- Every input the engine applied, in order, with the clock it used: replayed after the
-- latest snapshot on start. AUTOINCREMENT: sequence numbers never go back.
CREATE TABLE outage.journal (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('field', 'planned', 'tick')),
    event_id    TEXT,
    received_at TEXT NOT NULL,
    body        BLOB
);

-- Engine state (serde JSON) as of journal row `journal_seq`; only the latest is kept.
CREATE TABLE outage.snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    journal_seq INTEGER NOT NULL,
    taken_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    state       BLOB NOT NULL
);

-- One row per incident, active or past, upserted from every event published about it.
CREATE TABLE outage.incidents (
    id            TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    device        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    customers_out INTEGER NOT NULL,
    revision      INTEGER NOT NULL,
    snapshot      TEXT NOT NULL,
    restored_at   TEXT,
    updated_at    TEXT NOT NULL
);
CREATE INDEX outage.incidents_by_state ON incidents (state, started_at);

-- Customer interruption records: one per customer and incident; meter-only records have
-- no incident (NULLs are distinct in UNIQUE).
CREATE TABLE outage.interruptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT,
    customer_id TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    planned     INTEGER NOT NULL,
    kind        TEXT,
    UNIQUE (incident_id, customer_id)
);
CREATE INDEX outage.interruptions_by_customer ON interruptions (customer_id);

-- Last known state of every switch that was operated.
CREATE TABLE outage.switch_states (
    device     TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    changed_at TEXT NOT NULL,
    event_id   TEXT NOT NULL
) WITHOUT ROWID;

-- Evidence that joined an incident.
CREATE TABLE outage.evidence (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    customer_id TEXT,
    recorded_at TEXT NOT NULL
);
CREATE INDEX outage.evidence_by_incident ON evidence (incident_id);
