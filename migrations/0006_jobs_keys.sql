-- Async jobs. `charged` / `refunded` flip once, in the same batch as the ledger entry they
-- stand for (which the partial unique index ledger_job_once_uq also keeps single).
CREATE TABLE jobs (
    id              TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    input           TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    cost            INTEGER NOT NULL CHECK (cost >= 0),
    charged         INTEGER NOT NULL DEFAULT 0 CHECK (charged IN (0, 1)),
    refunded        INTEGER NOT NULL DEFAULT 0 CHECK (refunded IN (0, 1)),
    result          TEXT,
    error           TEXT,
    idempotency_key TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    next_attempt_at INTEGER,
    UNIQUE (user_id, idempotency_key)
) STRICT;
CREATE INDEX jobs_user_created_idx ON jobs (user_id, created_at);
CREATE INDEX jobs_status_updated_idx ON jobs (status, updated_at);

-- Signing keys made by the rotation step: the private part sealed with AES-256-GCM under the
-- KEY_ENCRYPTION_KEY secret (never stored in plain text). A key is published from creation,
-- signs from `active_from`, and leaves the key set once retired longer than the longest
-- access-token lifetime. Configured keys that stop signing are recorded here too (sealed_d
-- NULL), so they retire on the same schedule.
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY,
    x           TEXT,
    sealed_d    TEXT,
    created_at  INTEGER NOT NULL,
    active_from INTEGER,
    retired_at  INTEGER
) STRICT;
