-- WebAuthn passkeys and the challenges of their ceremonies.

-- One row per registered credential. `credential_id` is the authenticator's id (base64url),
-- unique across accounts (a discoverable sign-in finds the passkey by it). `public_key` is the
-- COSE_Key as registered (base64url), `alg` its COSE algorithm; `sign_count` the last counter
-- seen (0 for synced passkeys, which keep none). `aaguid` names the authenticator model (shown
-- only); `backup_eligible`/`backed_up` are the BE/BS flags (a synced passkey).
CREATE TABLE passkeys (
    id              TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   TEXT    NOT NULL CONSTRAINT passkey_credential_unique UNIQUE,
    public_key      TEXT    NOT NULL,
    alg             INTEGER NOT NULL,
    sign_count      INTEGER NOT NULL,
    transports      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    aaguid          TEXT    NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backed_up       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
) STRICT;
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);

-- A challenge handed out in creation or request options: only its SHA-256 is stored. It is
-- spent by one DELETE … RETURNING, so of a replay or of parallel uses exactly one wins.
-- `user_id` is the registering user (purpose 'register'), NULL for a sign-in or a
-- reauthentication (purpose 'authenticate': the passkey says whose it is).
CREATE TABLE webauthn_challenges (
    challenge_hash TEXT    PRIMARY KEY,
    purpose        TEXT    NOT NULL CONSTRAINT webauthn_challenge_purpose CHECK (purpose IN ('register', 'authenticate')),
    user_id        TEXT    REFERENCES users (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX webauthn_challenges_expiry_idx ON webauthn_challenges (expires_at);
