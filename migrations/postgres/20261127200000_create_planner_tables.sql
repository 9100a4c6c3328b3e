-- Written by: the planner service (fudian-planner). Planned-outage jobs with their
-- assessment, the interruption records budgets and reliability indices are computed from
-- (unplanned ones from `fudian.outage`, planned ones from the planner's own jobs), the
-- cause of the incidents seen, and the schedule proposals. Times are epoch milliseconds,
-- the same on both backends.

CREATE SCHEMA IF NOT EXISTS planner;

-- One row per job; `record` is the job with its history and assessment (serde JSON), the
-- other columns are what queries filter and sum on.
CREATE TABLE planner.jobs (
    id                      TEXT PRIMARY KEY,
    state                   TEXT NOT NULL,
    area                    TEXT NOT NULL,
    -- The budget year the job is charged to (of its day, or of its earliest day).
    year                    INTEGER NOT NULL,
    charged_customer_hours  DOUBLE PRECISION NOT NULL DEFAULT 0,
    record                  TEXT NOT NULL,
    created_at_ms           BIGINT NOT NULL,
    updated_at_ms           BIGINT NOT NULL
);
CREATE INDEX jobs_by_state ON planner.jobs (state, created_at_ms);

-- Incidents of the outage service, to tell planned switching from faults.
CREATE TABLE planner.incidents (
    id        TEXT PRIMARY KEY,
    planned   BOOLEAN NOT NULL,
    revision  INTEGER NOT NULL
);

-- Customer interruption records: `source` is `incident:<id>` or `job:<id>`.
CREATE TABLE planner.interruptions (
    id              BIGSERIAL PRIMARY KEY,
    source          TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    transformer_id  TEXT,
    area_class      TEXT NOT NULL,
    start_ms        BIGINT NOT NULL,
    end_ms          BIGINT NOT NULL,
    planned         BOOLEAN NOT NULL,
    cause_class     TEXT NOT NULL,
    UNIQUE (source, customer_id, start_ms)
);
CREATE INDEX interruptions_by_start ON planner.interruptions (start_ms);

-- Schedule proposals (optimised beside first-come), newest last.
CREATE TABLE planner.schedule_proposals (
    id             BIGSERIAL PRIMARY KEY,
    created_at_ms  BIGINT NOT NULL,
    body           TEXT NOT NULL
);
