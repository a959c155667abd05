-- Administration: a stored global role, service API keys, referral keys, and the actor of
-- an audit event.
-- The role is read from this row on every request, so a demotion takes effect at once.
-- `role_changed_at` is set by an administrator's promote or demote: from then on the
-- ADMIN_EMAILS bootstrap leaves the account alone (an explicit decision wins over the list).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
ALTER TABLE users ADD COLUMN role_changed_at INTEGER;
CREATE INDEX users_role_status_idx ON users (role, status);

-- Who did it, when it was not the account's owner: `user` (an administrator's id) or
-- `api_key` (a service key's id). NULL for the owner's own actions.
ALTER TABLE audit_events ADD COLUMN actor_type TEXT CHECK (actor_type IN ('user', 'api_key'));
ALTER TABLE audit_events ADD COLUMN actor_id TEXT;

-- Service API keys: only the SHA-256 of the token is kept (it has 256 bits of entropy).
-- `scopes` is a space-separated list.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;
CREATE INDEX api_keys_created_idx ON api_keys (created_at);

-- Referral keys for invite-only signup: hashed like every bearer secret; `hint` is the
-- first characters, for an administrator's list. `email`, when set, is the only address the
-- key registers. `used_at`/`used_by` are set once, by the registration that redeemed it.
CREATE TABLE referral_keys (
    id         TEXT    PRIMARY KEY,
    key_hash   TEXT    NOT NULL UNIQUE,
    hint       TEXT    NOT NULL,
    email      TEXT,
    note       TEXT,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    TEXT
) STRICT;
CREATE INDEX referral_keys_used_created_idx ON referral_keys (used_at, created_at);
