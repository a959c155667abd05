-- Accounts and their single-use e-mail tokens. Times are INTEGER unix seconds (UTC).
CREATE TABLE users (
    id             TEXT    PRIMARY KEY,
    email          TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    name           TEXT,
    status         TEXT    NOT NULL CHECK (status IN ('pending_verification', 'active', 'deactivated', 'pending_deletion')),
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE UNIQUE INDEX users_email_uq ON users (email);
CREATE INDEX users_status_created_idx ON users (status, created_at);

-- Verification and reset tokens: only the SHA-256 of the token is kept.
CREATE TABLE email_tokens (
    token_hash TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX email_tokens_user_purpose_idx ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires_idx ON email_tokens (expires_at);
