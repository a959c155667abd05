-- Mirror of the sessions each user's UserSessions Durable Object serializes: what listing,
-- the per-request "still active" check and admin queries need. The object writes it.
CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name    TEXT,
    ip             TEXT,
    user_agent     TEXT,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
) STRICT;
CREATE INDEX sessions_user_active_idx ON sessions (user_id, revoked_at, expires_at);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
