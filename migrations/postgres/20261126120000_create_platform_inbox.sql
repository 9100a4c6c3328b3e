-- Written by: platform (fudian-store), on behalf of every consuming service.
-- The inbox: one row per (consumer, event id) already processed, inserted in the same
-- transaction as the consumer's effect so a redelivered event is recognised and skipped.
CREATE SCHEMA IF NOT EXISTS platform;

CREATE TABLE platform.inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
