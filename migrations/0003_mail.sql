-- Development mailbox (ENVIRONMENT=development only): what the `log` provider delivered.
-- `id` is the e-mail job's id, so a redelivered queue message is stored once.
CREATE TABLE dev_mailbox (
    id         TEXT    PRIMARY KEY,
    to_email   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    text_body  TEXT    NOT NULL,
    html_body  TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX dev_mailbox_to_created_idx ON dev_mailbox (to_email, created_at);

-- Messages the e-mail queue gave up on (consumer of the dead-letter queue).
CREATE TABLE dead_letters (
    id          TEXT    PRIMARY KEY,
    queue       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;

-- Delivery attempts per queue message id: Queues in workers-rs 0.8 do not expose the attempt
-- count, and the retry backoff grows with it.
CREATE TABLE queue_deliveries (
    id         TEXT    PRIMARY KEY,
    attempts   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX queue_deliveries_updated_idx ON queue_deliveries (updated_at);
