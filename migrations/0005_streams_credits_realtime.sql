-- Live streams.
CREATE TABLE streams (
    id          TEXT    PRIMARY KEY,
    owner_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT    NOT NULL,
    description TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('live', 'ended')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    ended_at    INTEGER
) STRICT;
CREATE INDEX streams_status_created_idx ON streams (status, created_at);
CREATE INDEX streams_owner_idx ON streams (owner_id);

-- Credits: the ledger is append-only; `balances` is its running sum per user, changed in the
-- same batch as every ledger entry. The CHECK makes any batch that would overdraw fail whole.
CREATE TABLE balances (
    user_id    TEXT    PRIMARY KEY,
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    user_id    TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('grant', 'tip_sent', 'tip_received', 'job_charge', 'job_refund')),
    amount     INTEGER NOT NULL CHECK (amount <> 0),
    ref_id     TEXT,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_user_seq_idx ON ledger (user_id, seq);
-- A job is charged once and refunded once, whatever the queue redelivers.
CREATE UNIQUE INDEX ledger_job_once_uq ON ledger (ref_id, kind) WHERE kind IN ('job_charge', 'job_refund');

-- Idempotency keys, scoped per user and operation: the request's fingerprint and the first
-- response, written in the same batch as the effects.
CREATE TABLE idempotency_keys (
    user_id     TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope, key)
) STRICT;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE tips (
    id           TEXT    PRIMARY KEY,
    stream_id    TEXT    NOT NULL,
    from_user_id TEXT    NOT NULL,
    to_user_id   TEXT    NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    message      TEXT,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX tips_from_idx ON tips (from_user_id, created_at);
CREATE INDEX tips_to_idx ON tips (to_user_id, created_at);

-- Single-use WebSocket tickets (browsers cannot send headers on a WebSocket).
CREATE TABLE realtime_tickets (
    hash       TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX realtime_tickets_expires_idx ON realtime_tickets (expires_at);
