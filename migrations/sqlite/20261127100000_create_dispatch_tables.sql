-- Written by: the dispatch service (fudian-dispatch). Embedded store: the `dispatch`
-- schema is the attached file `<data dir>/dispatch.db`. Its work orders and the live state
-- of its crews: what it restores its in-memory plan from at start, and what its API lists.
-- Times are RFC 3339 text in UTC.

-- One work order per incident. The indexed columns serve the API's filters and the
-- restore; `record` (JSON) is the whole order as the service keeps it.
CREATE TABLE dispatch.work_orders (
    id          TEXT PRIMARY KEY,
    incident    TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL,
    priority    TEXT NOT NULL,
    crew        TEXT,
    arrival_due TEXT NOT NULL,
    etr         TEXT,
    limit_state TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    repaired_at TEXT,
    updated_at  TEXT NOT NULL,
    record      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX dispatch.work_orders_by_state ON work_orders (state, created_at);
CREATE INDEX dispatch.work_orders_by_repair ON work_orders (repaired_at);

-- What each crew is doing and where it last was (WGS84).
CREATE TABLE dispatch.crews (
    id         TEXT PRIMARY KEY,
    activity   TEXT NOT NULL CHECK (activity IN ('available', 'en_route', 'on_site')),
    lon        REAL NOT NULL,
    lat        REAL NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
