-- Written by: platform (fudian-store), on behalf of every consuming service.
-- Embedded store: the `platform` schema is the attached file `<data dir>/platform.db`.
-- The inbox: one row per (consumer, event id) already processed, inserted in the same
-- transaction as the consumer's effect so a redelivered event is recognised and skipped.
CREATE TABLE platform.inbox (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
