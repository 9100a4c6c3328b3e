-- Written by: the dispatch service (fudian-dispatch). Its work orders and the live state
-- of its crews: what it restores its in-memory plan from at start, and what its API lists.
CREATE SCHEMA IF NOT EXISTS dispatch;

-- One work order per incident. The indexed columns serve the API's filters and the
-- restore; `record` (JSON) is the whole order as the service keeps it.
CREATE TABLE dispatch.work_orders (
    id          text        PRIMARY KEY,
    incident    text        NOT NULL UNIQUE,
    -- pending, assigned, en_route, on_site, repaired, closed, cancelled.
    state       text        NOT NULL,
    priority    text        NOT NULL,
    crew        text,
    arrival_due timestamptz NOT NULL,
    etr         timestamptz,
    -- on_time, at_risk, breached, met: the order against its on-site time limit.
    limit_state text        NOT NULL,
    created_at  timestamptz NOT NULL,
    repaired_at timestamptz,
    updated_at  timestamptz NOT NULL,
    record      text        NOT NULL
);
CREATE INDEX work_orders_by_state ON dispatch.work_orders (state, created_at);
CREATE INDEX work_orders_by_repair ON dispatch.work_orders (repaired_at)
    WHERE repaired_at IS NOT NULL;

-- What each crew is doing and where it last was (WGS84); crews come from the grid package,
-- a row exists once a crew's live state differs from the package's.
CREATE TABLE dispatch.crews (
    id         text             PRIMARY KEY,
    activity   text             NOT NULL CHECK (activity IN ('available', 'en_route', 'on_site')),
    lon        double precision NOT NULL,
    lat        double precision NOT NULL,
    updated_at timestamptz      NOT NULL
);
