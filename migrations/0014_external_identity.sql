-- External identity: identities linked to accounts, and the short-lived, single-use records of
-- an OAuth sign-in in flight. Secrets are kept as SHA-256 digests only (state, one-time code,
-- the browser-binding cookie); the PKCE verifier toward the provider never leaves the server.
CREATE TABLE external_identities (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    email        TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
) STRICT;
-- An identity belongs to one account: unique by (provider, subject).
CREATE UNIQUE INDEX external_identities_provider_subject_uq ON external_identities (provider, subject);
CREATE INDEX external_identities_user_idx ON external_identities (user_id);

CREATE TABLE oauth_states (
    state_hash         TEXT    PRIMARY KEY,
    provider           TEXT    NOT NULL,
    redirect_uri       TEXT    NOT NULL,
    mode               TEXT    NOT NULL CHECK (mode IN ('bearer', 'cookie')),
    nonce              TEXT    NOT NULL,
    code_verifier      TEXT    NOT NULL,
    app_code_challenge TEXT,
    browser_hash       TEXT,
    link_user_id       TEXT    REFERENCES users (id) ON DELETE CASCADE,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at);

CREATE TABLE oauth_codes (
    code_hash      TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_challenge TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);
