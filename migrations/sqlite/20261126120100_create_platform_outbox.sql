-- Written by: platform (fudian-store); rows are enqueued inside each service's transaction
-- and deleted by the outbox relay once the sink confirmed them.
-- AUTOINCREMENT: ids never go back, so the single relay can delete a claimed id range.
CREATE TABLE platform.outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    exchange    TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    -- JSON object of string headers: traceparent and the others, passed through unchanged.
    headers     TEXT NOT NULL DEFAULT '{}',
    body        BLOB NOT NULL,
    enqueued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
