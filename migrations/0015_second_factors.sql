-- Second factors: a TOTP factor per account with its recovery codes, the short-lived
-- challenges of a sign-in waiting for its second factor, and how each session was
-- authenticated (its access tokens' `amr`/`acr`).

-- One TOTP factor per account. `confirmed_at` is NULL while enrolment is pending (no code
-- proved yet): a pending factor is never asked for at sign-in. The seed is sealed (AES-256-GCM
-- under a key derived from KEY_ENCRYPTION_KEY, the user id as associated data). `last_step` is
-- the highest time step whose code was accepted: a code is accepted only above it, by one
-- guarded UPDATE, so a code works once even under parallel use.
CREATE TABLE totp_factors (
    user_id       TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret TEXT    NOT NULL,
    last_step     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER
) STRICT;

-- Ten per confirmed factor, single use, stored as SHA-256 only (shown once, at confirmation).
CREATE TABLE recovery_codes (
    user_id   TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    used_at   INTEGER,
    CONSTRAINT recovery_code_once PRIMARY KEY (user_id, code_hash)
) STRICT;

-- A sign-in whose password was right, waiting for the second factor. Only the SHA-256 of the
-- `mfa_token` is stored; it dies when used, when it expires, or after its wrong codes.
CREATE TABLE mfa_challenges (
    token_hash    TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mode          TEXT    NOT NULL CONSTRAINT mfa_challenge_mode CHECK (mode IN ('bearer', 'cookie')),
    device_name   TEXT,
    attempts_left INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX mfa_challenges_expiry_idx ON mfa_challenges (expires_at);

-- How a session was authenticated (space-separated RFC 8176 `amr` values) and when: refreshed
-- access tokens keep saying it. Goes with its session.
CREATE TABLE session_authentications (
    session_id       TEXT    PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    amr              TEXT    NOT NULL,
    authenticated_at INTEGER NOT NULL
) STRICT;
