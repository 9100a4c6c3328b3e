-- Written by: the notify service (fudian-notify). Customer preferences, what it knows of
-- incidents and planned jobs (for the lookup API and to tell who is really restored), and
-- one delivery row per notice: the outbox its sender pool works from. Times are Unix
-- milliseconds (UTC) in bigint, the same on PostgreSQL and SQLite.
CREATE SCHEMA IF NOT EXISTS notify;

-- Channel order and opt-outs set through the API; they override the grid's customer data.
CREATE TABLE notify.preferences (
    customer_id text   PRIMARY KEY,
    -- JSON array of channels in order (`["wechat","sms"]`), NULL: the grid's order.
    channels    text,
    -- JSON array of channels the customer opted out of.
    opted_out   text   NOT NULL DEFAULT '[]',
    updated_at  bigint NOT NULL
);

-- Incidents (`incident`) and planned jobs (`planned`) as the events described them.
CREATE TABLE notify.subjects (
    id          text   PRIMARY KEY,
    kind        text   NOT NULL CHECK (kind IN ('incident', 'planned')),
    state       text   NOT NULL,
    revision    bigint NOT NULL,
    area        text   NOT NULL,
    cause       text,
    started_at  bigint NOT NULL,
    etr         bigint,
    ended_at    bigint,
    -- Latest work-order status (`assigned`, `en_route`, `on_site`, ...) and note.
    crew_status text,
    crew_note   text,
    updated_at  bigint NOT NULL
);

-- Who is out in which active incident or started planned job; also the ETR each customer
-- was last told, for the 30-minute rules.
CREATE TABLE notify.outages (
    customer_id   text   NOT NULL,
    subject_id    text   NOT NULL,
    since         bigint NOT NULL,
    told_etr      bigint,
    etr_notice_at bigint,
    PRIMARY KEY (subject_id, customer_id)
);
CREATE INDEX outages_by_customer ON notify.outages (customer_id);

-- One notice to one customer (one per channel for critical customers).
CREATE TABLE notify.deliveries (
    -- Our id: WeChat client_msg_id, app webhook-id, SMS SessionContext/OutId.
    id                  text    PRIMARY KEY,
    -- customer/subject/kind/revision[/channel]: a notice is planned at most once.
    idempotency_key     text    NOT NULL UNIQUE,
    customer_id         text    NOT NULL,
    subject_id          text    NOT NULL,
    kind                text    NOT NULL,
    revision            bigint  NOT NULL,
    -- JSON array: the channels to try, in order; `channel_index` is the one in use.
    channels            text    NOT NULL,
    channel_index       integer NOT NULL DEFAULT 0,
    channel             text,
    critical            boolean NOT NULL,
    urgent              boolean NOT NULL,
    state               text    NOT NULL
        CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'suppressed')),
    -- The notice's facts (JSON), rendered per channel at send time.
    facts               text    NOT NULL,
    attempt             integer NOT NULL DEFAULT 0,
    next_attempt_at     bigint  NOT NULL,
    claimed_until       bigint,
    -- Set just before an SMS request leaves: a claim that expires with it set may have
    -- been sent (SendSms is not idempotent); without it, it certainly was not.
    dispatched_at       bigint,
    provider            text,
    provider_message_id text,
    -- sha256 prefix of the address, to match SMS receipts without storing the number twice.
    recipient_hash      text,
    -- The provider's answer or our reason (JSON).
    answer              text,
    -- What the customer sees (rendered), and SMS segments.
    content             text,
    segments            integer,
    created_at          bigint  NOT NULL,
    updated_at          bigint  NOT NULL,
    sent_at             bigint,
    delivered_at        bigint
);
CREATE INDEX deliveries_due ON notify.deliveries (next_attempt_at) WHERE state = 'queued';
CREATE INDEX deliveries_claimed ON notify.deliveries (claimed_until) WHERE state = 'sending';
CREATE INDEX deliveries_by_customer ON notify.deliveries (customer_id, created_at);
CREATE INDEX deliveries_by_provider_id ON notify.deliveries (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- Receipts seen, so the providers' re-pushes are ignored.
CREATE TABLE notify.receipts (
    dedup_key   text   PRIMARY KEY,
    provider    text   NOT NULL,
    received_at bigint NOT NULL
);
