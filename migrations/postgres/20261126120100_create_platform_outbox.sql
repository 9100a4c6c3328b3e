-- Written by: platform (fudian-store); rows are enqueued inside each service's transaction
-- and deleted by the outbox relay once the broker confirmed them.
CREATE SCHEMA IF NOT EXISTS platform;

CREATE TABLE platform.outbox (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange    text        NOT NULL,
    routing_key text        NOT NULL,
    message_id  text        NOT NULL,
    -- String map: traceparent and the other AMQP headers, passed through unchanged.
    headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    body        bytea       NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now()
);

-- Wake the relay (LISTEN fudian_outbox) when a transaction that enqueued commits.
-- Statement-level, and PostgreSQL folds identical notifications of one transaction,
-- so a batch insert costs one notification.
CREATE FUNCTION platform.notify_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fudian_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON platform.outbox
    FOR EACH STATEMENT
    EXECUTE FUNCTION platform.notify_outbox();
