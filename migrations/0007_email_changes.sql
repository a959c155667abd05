-- Pending changes of a user's e-mail address (POST /v1/me/email): the link goes to the new
-- address; redeeming it (POST /v1/auth/verify-email) switches the account over. Only the
-- SHA-256 of the token is kept. `session_id` is the session that asked: it survives the switch,
-- every other session of the user is revoked.
CREATE TABLE email_changes (
    token_hash TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    new_email  TEXT    NOT NULL,
    session_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX email_changes_user_idx ON email_changes (user_id);
CREATE INDEX email_changes_expires_idx ON email_changes (expires_at);
