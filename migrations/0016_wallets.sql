-- Sign in with Ethereum (EIP-4361): the wallets linked to accounts, and the nonces handed out
-- for SIWE messages (single use, short-lived, kept as SHA-256 digests only).
CREATE TABLE wallets (
    -- Canonical form: `0x` + 40 lower-case hex digits (shown EIP-55 checksummed).
    address      TEXT    PRIMARY KEY CHECK (address GLOB '0x[0-9a-f]*' AND length(address) = 42),
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The EIP-155 chain id of the message that linked it (or signed in with it last).
    chain_id     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
) STRICT;
CREATE INDEX wallets_user_idx ON wallets (user_id);

CREATE TABLE siwe_nonces (
    nonce_hash TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX siwe_nonces_expires_idx ON siwe_nonces (expires_at);
