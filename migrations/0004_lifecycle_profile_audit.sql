-- Account life cycle, profile, notification preferences.
ALTER TABLE users ADD COLUMN deletion_due_at INTEGER;
ALTER TABLE users ADD COLUMN locale TEXT;
ALTER TABLE users ADD COLUMN timezone TEXT;
ALTER TABLE users ADD COLUMN avatar_url TEXT;
-- JSON; NULL means the defaults.
ALTER TABLE users ADD COLUMN notification_prefs TEXT;
CREATE INDEX users_deletion_due_idx ON users (status, deletion_due_at);

-- Security events. `seq` orders them (newest first) and is the pagination cursor. When an
-- account is purged its events stay, with the user id replaced by a pseudonym and the
-- client details (ip, user agent) erased.
CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    user_id    TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    session_id TEXT,
    request_id TEXT,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_events_user_seq_idx ON audit_events (user_id, seq);
CREATE INDEX audit_events_created_idx ON audit_events (created_at);
