-- Written by: the notify service (fudian-notify). A channel whose account quota is used up
-- for the day (WeChat 45009) is stopped until the next local midnight; kept here so a
-- restarted service does not ask the provider again with every worker.
CREATE TABLE notify.channel_stops (
    channel text   PRIMARY KEY,
    until   bigint NOT NULL
);
