//! Every D1 statement, as named constants grouped per table. A native test applies the
//! migrations to an in-memory SQLite and prepares each of them (`sql::tests`).

/// The Durable Objects' own SQLite statements and schemas.
pub mod objects;

/// The guard of every "unless it is the last way to sign in" delete: more than one way remains
/// before it (a password; each external identity, wallet and passkey), the one being removed
/// included. Parameters: the user, four times. One expression for the three deletes, so a new
/// way to sign in is counted by all of them, and each delete is one statement: two parallel
/// removals cannot take the last two.
macro_rules! more_than_one_way_to_sign_in {
    () => {
        "((SELECT password_hash <> '' FROM users WHERE id = ?) \
          + (SELECT COUNT(*) FROM external_identities WHERE user_id = ?) \
          + (SELECT COUNT(*) FROM wallets WHERE user_id = ?) \
          + (SELECT COUNT(*) FROM passkeys WHERE user_id = ?)) > 1"
    };
}

pub mod users {
    /// Creates the account unless the e-mail is taken; RETURNING tells which happened.
    pub const INSERT: &str = "INSERT INTO users (id, email, password_hash, name, status, email_verified, created_at, updated_at, version) \
         VALUES (?, ?, ?, ?, 'pending_verification', 0, ?, ?, 1) ON CONFLICT (email) DO NOTHING RETURNING id";

    /// Creates the account only if this batch's `referral_keys::REDEEM` just gave its key to
    /// it. Parameters: id, email, hash, name, now, now, key hash, id.
    pub const INSERT_REFERRED: &str = "INSERT INTO users (id, email, password_hash, name, status, email_verified, created_at, updated_at, version) \
         SELECT ?, ?, ?, ?, 'pending_verification', 0, ?, ?, 1 \
         WHERE EXISTS (SELECT 1 FROM referral_keys WHERE key_hash = ? AND used_by = ?) \
         ON CONFLICT (email) DO NOTHING RETURNING id";

    pub const BY_EMAIL: &str = "SELECT id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role FROM users WHERE email = ?";

    pub const BY_ID: &str = "SELECT id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role FROM users WHERE id = ?";

    /// `BY_EMAIL` plus whether the account has a confirmed second factor (`second_factor`, 0/1):
    /// a sign-in's one lookup. An unknown address costs the same single query.
    pub const BY_EMAIL_FOR_SIGN_IN: &str = "SELECT u.id, u.email, u.name, u.status, u.email_verified, u.created_at, u.version, u.password_hash, u.deletion_due_at, u.locale, u.timezone, u.avatar_url, u.notification_prefs, u.role, \
         EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS second_factor \
         FROM users u WHERE u.email = ?";

    /// Marks the e-mail verified for the user whose verification token this batch just used.
    pub const VERIFY_BY_USED_TOKEN: &str = "UPDATE users SET email_verified = 1, \
         status = CASE WHEN status = 'pending_verification' THEN 'active' ELSE status END, \
         version = version + 1, updated_at = ? \
         WHERE id = (SELECT user_id FROM email_tokens WHERE token_hash = ? AND used_at = ?) AND changes() = 1 \
         RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    /// Sets the password for the user whose reset token this batch just used; a reset proves
    /// control of the mailbox, so it also verifies the e-mail.
    pub const RESET_PASSWORD_BY_USED_TOKEN: &str = "UPDATE users SET password_hash = ?, email_verified = 1, \
         status = CASE WHEN status = 'pending_verification' THEN 'active' ELSE status END, \
         version = version + 1, updated_at = ? \
         WHERE id = (SELECT user_id FROM email_tokens WHERE token_hash = ? AND used_at = ?) AND changes() = 1 \
         RETURNING id";

    /// A status move guarded by the current status; RETURNING the row when it happened.
    pub const DEACTIVATE: &str = "UPDATE users SET status = 'deactivated', version = version + 1, updated_at = ? \
         WHERE id = ? AND status = 'active' RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    pub const REACTIVATE: &str = "UPDATE users SET status = 'active', version = version + 1, updated_at = ? \
         WHERE id = ? AND status = 'deactivated' RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    pub const REQUEST_DELETION: &str = "UPDATE users SET status = 'pending_deletion', deletion_due_at = ?, version = version + 1, updated_at = ? \
         WHERE id = ? AND status IN ('active', 'deactivated') RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    pub const RESTORE: &str = "UPDATE users SET status = 'active', deletion_due_at = NULL, version = version + 1, updated_at = ? \
         WHERE id = ? AND status = 'pending_deletion' RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    /// Optimistic locking: applies only at the expected version. Each field has a "change it"
    /// flag (1/0) and its new value.
    pub const PATCH_PROFILE: &str = "UPDATE users SET \
         name = CASE WHEN ? = 1 THEN ? ELSE name END, \
         locale = CASE WHEN ? = 1 THEN ? ELSE locale END, \
         timezone = CASE WHEN ? = 1 THEN ? ELSE timezone END, \
         avatar_url = CASE WHEN ? = 1 THEN ? ELSE avatar_url END, \
         version = version + 1, updated_at = ? \
         WHERE id = ? AND version = ? RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    /// One statement, so concurrent partial updates never lose each other's keys.
    pub const PATCH_PREFERENCES: &str = "UPDATE users SET notification_prefs = json_patch(COALESCE(notification_prefs, '{}'), ?), updated_at = ? \
         WHERE id = ? RETURNING notification_prefs";

    pub const RESET_PREFERENCES: &str =
        "UPDATE users SET notification_prefs = NULL, updated_at = ? WHERE id = ?";

    /// Accounts whose deletion grace period is over, and stale unverified accounts.
    pub const DUE_FOR_PURGE: &str =
        "SELECT id FROM users WHERE (status = 'pending_deletion' AND deletion_due_at <= ?) \
         OR (status = 'pending_verification' AND created_at < ?) LIMIT ?";

    /// Deletes the account (tokens and sessions cascade) only if it is still due.
    pub const DELETE_IF_DUE: &str = "DELETE FROM users WHERE id = ? AND ((status = 'pending_deletion' AND deletion_due_at <= ?) \
         OR (status = 'pending_verification' AND created_at < ?))";

    pub const SET_PASSWORD: &str =
        "UPDATE users SET password_hash = ?, version = version + 1, updated_at = ? WHERE id = ?";
}

/// The administration of accounts. Why the role guards cannot race: D1 runs one statement at
/// a time against one SQLite database, and each of these reads the other administrators and
/// writes the target in that one statement. Two administrators demoting each other at once
/// are two statements in some order; the second finds no other active admin and changes
/// nothing.
pub mod admin {
    /// The ADMIN_EMAILS bootstrap: only a verified plain user whose role no administrator set.
    pub const BOOTSTRAP: &str = "UPDATE users SET role = 'admin', updated_at = ? \
         WHERE id = ? AND email_verified = 1 AND role = 'user' AND role_changed_at IS NULL";

    pub const PROMOTE: &str = "UPDATE users SET role = 'admin', role_changed_at = ?, updated_at = ? \
         WHERE id = ? AND role = 'user' \
         RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    /// Only while another active administrator remains. Parameters: now, now, id, id.
    pub const DEMOTE: &str = "UPDATE users SET role = 'user', role_changed_at = ?, updated_at = ? \
         WHERE id = ? AND role = 'admin' \
         AND EXISTS (SELECT 1 FROM users o WHERE o.role = 'admin' AND o.status = 'active' AND o.id <> ?) \
         RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    /// Deactivation by an administrator: from active only, and never the last active admin.
    /// Parameters: now, id, id.
    pub const DEACTIVATE: &str = "UPDATE users SET status = 'deactivated', version = version + 1, updated_at = ? \
         WHERE id = ? AND status = 'active' \
         AND (role = 'user' OR EXISTS (SELECT 1 FROM users o WHERE o.role = 'admin' AND o.status = 'active' AND o.id <> ?)) \
         RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    /// Newest first below a row position; optional status and a substring of the e-mail
    /// (stored lower-case) or the lower-cased name. `instr`, not LIKE: the needle is taken
    /// literally, and D1 limits LIKE patterns to 50 bytes. Optionally only the owner of a
    /// wallet (canonical lower-case address) and of an external identity (provider, subject).
    /// Parameters: below, status, status, needle, needle, needle, wallet, wallet, provider,
    /// provider, subject, limit.
    pub const SEARCH: &str = "SELECT rowid AS pos, id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role \
         FROM users WHERE rowid < ? AND (? IS NULL OR status = ?) \
         AND (? IS NULL OR instr(email, ?) > 0 OR instr(lower(name), ?) > 0) \
         AND (? IS NULL OR id = (SELECT user_id FROM wallets WHERE address = ?)) \
         AND (? IS NULL OR id = (SELECT user_id FROM external_identities WHERE provider = ? AND subject = ?)) \
         ORDER BY rowid DESC LIMIT ?";

    pub const USERS_BY_STATUS: &str = "SELECT status, COUNT(*) AS n FROM users GROUP BY status";

    pub const USERS_BY_ROLE: &str = "SELECT role, COUNT(*) AS n FROM users GROUP BY role";

    pub const ACTIVE_SESSIONS: &str =
        "SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL AND expires_at > ?";

    pub const CREDITS: &str =
        "SELECT COALESCE(SUM(balance), 0) AS outstanding, COUNT(*) AS accounts FROM balances";
}

pub mod api_keys {
    pub const INSERT: &str =
        "INSERT INTO api_keys (id, name, key_hash, scopes, created_by, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)";

    pub const BY_HASH: &str =
        "SELECT id, name, scopes, created_by, created_at, expires_at, revoked_at, last_used_at \
         FROM api_keys WHERE key_hash = ?";

    pub const BY_ID: &str =
        "SELECT id, name, scopes, created_by, created_at, expires_at, revoked_at, last_used_at \
         FROM api_keys WHERE id = ?";

    /// The last use, written at most once a minute per key. Parameters: now, id, now - 60.
    pub const TOUCH: &str = "UPDATE api_keys SET last_used_at = ? \
         WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)";

    pub const LIST: &str =
        "SELECT id, name, scopes, created_by, created_at, expires_at, revoked_at, last_used_at \
         FROM api_keys ORDER BY created_at DESC, id LIMIT 200";

    pub const REVOKE: &str =
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id";
}

pub mod referral_keys {
    pub const INSERT: &str =
        "INSERT INTO referral_keys (id, key_hash, hint, email, note, created_by, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)";

    /// An unused key, and the address it is bound to.
    pub const PEEK: &str = "SELECT email FROM referral_keys WHERE key_hash = ? AND used_at IS NULL";

    /// Single use, in the registration's batch: only for an unused key bound to this address
    /// or to none. A registration at a taken address spends the key too, so what becomes of a
    /// key never tells whether an address has an account. Parameters: now, new user id, hash,
    /// email.
    pub const REDEEM: &str = "UPDATE referral_keys SET used_at = ?, used_by = ? \
         WHERE key_hash = ? AND used_at IS NULL AND (email IS NULL OR email = ?) RETURNING id";

    /// Last in the batch: a key spent on a taken address names no account. Parameters: hash,
    /// new user id, new user id.
    pub const FORGET_PHANTOM: &str = "UPDATE referral_keys SET used_by = NULL \
         WHERE key_hash = ? AND used_by = ? AND NOT EXISTS (SELECT 1 FROM users WHERE id = ?)";

    /// Newest first below a row position, by status (`all`, `unused`, `used`).
    /// Parameters: below, status, status, status, limit.
    pub const LIST: &str =
        "SELECT rowid AS pos, id, hint, email, note, created_by, created_at, used_at, used_by \
         FROM referral_keys WHERE rowid < ? AND (? = 'all' OR (? = 'unused' AND used_at IS NULL) \
         OR (? = 'used' AND used_at IS NOT NULL)) ORDER BY rowid DESC LIMIT ?";
}

pub mod email_tokens {
    pub const INSERT: &str = "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)";

    /// Inserts a token only if the user row was created by the same batch (register).
    pub const INSERT_FOR_NEW_USER: &str =
        "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) \
         SELECT ?, id, 'verify_email', ?, ? FROM users WHERE id = ?";

    /// Single use: succeeds once, for an unexpired token of the purpose.
    pub const REDEEM: &str = "UPDATE email_tokens SET used_at = ? \
         WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id";

    /// A redeemable token's owner, without using it.
    pub const PEEK: &str = "SELECT user_id FROM email_tokens \
         WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?";

    /// Asking for a new token retires the older unused ones of that purpose.
    pub const RETIRE_UNUSED: &str =
        "UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL";

    pub const PURGE_DEAD: &str = "DELETE FROM email_tokens WHERE token_hash IN \
         (SELECT token_hash FROM email_tokens WHERE expires_at < ? OR used_at < ? LIMIT ?)";
}

pub mod email_changes {
    /// A new request retires the user's older unused ones.
    pub const RETIRE_UNUSED: &str =
        "UPDATE email_changes SET used_at = ? WHERE user_id = ? AND used_at IS NULL";

    pub const INSERT: &str = "INSERT INTO email_changes (token_hash, user_id, new_email, session_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?)";

    /// Single use, and only while the new address is still free (else the link stays usable).
    pub const REDEEM: &str = "UPDATE email_changes SET used_at = ? \
         WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? \
         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.email = email_changes.new_email) \
         RETURNING user_id, new_email, session_id";

    /// Switches the address of the user whose change this batch just redeemed; the new
    /// address is verified by the redemption itself.
    pub const SWITCH_BY_USED_TOKEN: &str = "UPDATE users SET \
         email = (SELECT new_email FROM email_changes WHERE token_hash = ? AND used_at = ?), \
         email_verified = 1, version = version + 1, updated_at = ? \
         WHERE id = (SELECT user_id FROM email_changes WHERE token_hash = ? AND used_at = ?) AND changes() = 1 \
         RETURNING id, email, name, status, email_verified, created_at, version, password_hash, deletion_due_at, locale, timezone, avatar_url, notification_prefs, role";

    /// Is there a redeemable change with this token whose address is taken meanwhile?
    pub const PENDING_TAKEN: &str =
        "SELECT 1 AS taken FROM email_changes c JOIN users u ON u.email = c.new_email \
         WHERE c.token_hash = ? AND c.used_at IS NULL AND c.expires_at > ?";

    pub const PURGE_DEAD: &str = "DELETE FROM email_changes WHERE token_hash IN \
         (SELECT token_hash FROM email_changes WHERE expires_at < ? OR used_at < ? LIMIT ?)";
}

pub mod sessions {
    pub const INSERT: &str = "INSERT INTO sessions (id, user_id, device_name, ip, user_agent, created_at, last_used_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

    pub const LIST_ACTIVE: &str = "SELECT id, device_name, ip, user_agent, created_at, last_used_at FROM sessions \
         WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id LIMIT 200";

    /// The per-request check: the session and its user, in one read.
    pub const AUTH_LOOKUP: &str = "SELECT s.user_id AS session_user_id, s.revoked_at, s.expires_at, \
         u.id, u.email, u.name, u.status, u.email_verified, u.created_at, u.version, u.password_hash, \
         u.deletion_due_at, u.locale, u.timezone, u.avatar_url, u.notification_prefs, u.role \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?";

    pub const REVOKE: &str = "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL";

    /// A refresh: the last use, and the end the object slid the session to.
    pub const TOUCH_AND_EXTEND: &str =
        "UPDATE sessions SET last_used_at = MAX(last_used_at, ?), expires_at = ? \
         WHERE id = ? AND revoked_at IS NULL";

    /// The mirror's catch-up of an extension whose first write failed (never shortens).
    pub const EXTEND: &str =
        "UPDATE sessions SET expires_at = MAX(expires_at, ?) WHERE id = ? AND revoked_at IS NULL";

    /// Renames one of the user's active sessions; the row as listed comes back.
    pub const RENAME: &str = "UPDATE sessions SET device_name = ? \
         WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? \
         RETURNING id, device_name, ip, user_agent, created_at, last_used_at";

    pub const PURGE_ENDED: &str = "DELETE FROM sessions WHERE id IN \
         (SELECT id FROM sessions WHERE expires_at < ? OR revoked_at < ? LIMIT ?)";
}

pub mod audit {
    /// The last two are the actor (type, id) of an administrator's action, else NULL.
    pub const INSERT: &str = "INSERT INTO audit_events (id, user_id, type, ip, user_agent, session_id, request_id, created_at, actor_type, actor_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    /// Newest first, below a cursor (`seq < ?`; the first page passes the largest integer).
    pub const PAGE: &str = "SELECT seq, id, type, ip, user_agent, session_id, request_id, created_at, actor_type, actor_id FROM audit_events \
         WHERE user_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?";

    /// Keeps a purged user's events under a pseudonym, without client details. Guarded like
    /// the delete it is batched with, so an account restored meanwhile keeps its trail.
    pub const ANONYMISE_IF_DUE: &str = "UPDATE audit_events SET user_id = ?, ip = NULL, user_agent = NULL WHERE user_id = ? \
         AND EXISTS (SELECT 1 FROM users WHERE id = ? AND ((status = 'pending_deletion' AND deletion_due_at <= ?) \
         OR (status = 'pending_verification' AND created_at < ?)))";

    pub const PURGE_OLD: &str = "DELETE FROM audit_events WHERE seq IN (SELECT seq FROM audit_events WHERE created_at < ? LIMIT ?)";
}

pub mod streams {
    /// A new live stream, only while its owner has fewer than the cap live (the count and
    /// the insert are one statement, so parallel creations cannot both take the last slot).
    /// Parameters: id, owner, title, description, created, updated, owner, cap.
    pub const INSERT: &str =
        "INSERT INTO streams (id, owner_id, title, description, status, created_at, updated_at) \
         SELECT ?, ?, ?, ?, 'live', ?, ? \
         WHERE (SELECT COUNT(*) FROM streams WHERE owner_id = ? AND status = 'live') < ? \
         RETURNING id, owner_id, title, description, status, created_at, updated_at, ended_at";

    pub const BY_ID: &str = "SELECT id, owner_id, title, description, status, created_at, updated_at, ended_at FROM streams WHERE id = ?";

    /// Live streams, newest first (insertion order), below a cursor (the rowid).
    pub const LIST_LIVE: &str = "SELECT rowid AS seq, id, owner_id, title, description, status, created_at, updated_at, ended_at FROM streams \
         WHERE status = 'live' AND rowid < ? ORDER BY rowid DESC LIMIT ?";

    /// Owner-only update, in the statement itself.
    pub const UPDATE: &str = "UPDATE streams SET title = COALESCE(?, title), \
         description = CASE WHEN ? = 1 THEN ? ELSE description END, updated_at = ? \
         WHERE id = ? AND owner_id = ? RETURNING id, owner_id, title, description, status, created_at, updated_at, ended_at";

    pub const END: &str = "UPDATE streams SET status = 'ended', ended_at = COALESCE(ended_at, ?), updated_at = ? \
         WHERE id = ? AND owner_id = ? RETURNING id, owner_id, title, description, status, created_at, updated_at, ended_at";
}

pub mod credits {
    /// Adds a positive amount to a balance, creating it.
    pub const CREDIT: &str = "INSERT INTO balances (user_id, balance, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (user_id) DO UPDATE SET balance = balances.balance + excluded.balance, updated_at = excluded.updated_at";

    /// Makes sure a balance row exists, so that DEBIT always has a row to check.
    pub const ENSURE: &str = "INSERT INTO balances (user_id, balance, updated_at) VALUES (?, 0, ?) ON CONFLICT (user_id) DO NOTHING";

    /// Subtracts; a negative result violates the CHECK and aborts the whole batch, which is
    /// how an overdraft is refused atomically.
    pub const DEBIT: &str =
        "UPDATE balances SET balance = balance - ?, updated_at = ? WHERE user_id = ?";

    pub const INSERT_ENTRY: &str = "INSERT INTO ledger (id, user_id, kind, amount, ref_id, created_at) VALUES (?, ?, ?, ?, ?, ?)";

    pub const BALANCE: &str = "SELECT balance FROM balances WHERE user_id = ?";

    pub const ENTRIES: &str = "SELECT seq, id, kind, amount, ref_id, created_at FROM ledger \
         WHERE user_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?";

    /// Records the first response of an idempotent request in the batch of its effects; the
    /// body embeds the caller's balance after them. A second insert of the key fails the batch.
    pub const REMEMBER: &str = "INSERT INTO idempotency_keys (user_id, scope, key, fingerprint, status, body, created_at) \
         SELECT ?, ?, ?, ?, ?, json_set(?, '$.balance', (SELECT balance FROM balances WHERE user_id = ?)), ? RETURNING status, body";

    pub const RECALL: &str = "SELECT fingerprint, status, body FROM idempotency_keys WHERE user_id = ? AND scope = ? AND key = ?";

    pub const PURGE_OLD_KEYS: &str = "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE created_at < ? LIMIT ?)";
}

pub mod tips {
    pub const INSERT: &str = "INSERT INTO tips (id, stream_id, from_user_id, to_user_id, amount, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";

    /// Newest first (insertion order), below a cursor (the rowid).
    pub const SENT: &str = "SELECT rowid AS seq, id, stream_id, from_user_id, to_user_id, amount, message, created_at FROM tips \
         WHERE from_user_id = ? AND rowid < ? ORDER BY rowid DESC LIMIT ?";

    pub const RECEIVED: &str = "SELECT rowid AS seq, id, stream_id, from_user_id, to_user_id, amount, message, created_at FROM tips \
         WHERE to_user_id = ? AND rowid < ? ORDER BY rowid DESC LIMIT ?";
}

pub mod tickets {
    /// A ticket, only while the user holds fewer than the cap unused and unexpired ones (one
    /// statement: parallel requests cannot both take the last slot).
    /// Parameters: hash, user, session, expires, user, now, cap.
    pub const INSERT: &str = "INSERT INTO realtime_tickets (hash, user_id, session_id, expires_at) \
         SELECT ?, ?, ?, ? \
         WHERE (SELECT COUNT(*) FROM realtime_tickets WHERE user_id = ? AND used_at IS NULL AND expires_at > ?) < ? \
         RETURNING hash";

    /// Single use, one statement.
    pub const REDEEM: &str = "UPDATE realtime_tickets SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? \
         RETURNING user_id, session_id";

    pub const PURGE_DEAD: &str = "DELETE FROM realtime_tickets WHERE hash IN (SELECT hash FROM realtime_tickets WHERE expires_at < ? LIMIT ?)";
}

pub mod sockets {
    /// A socket's row, only while the user has fewer than the cap open (one statement: parallel
    /// handshakes cannot both take the last slot). Parameters: id, user, holder, now, user, cap.
    pub const OPEN: &str = "INSERT INTO open_sockets (id, user_id, holder, opened_at) \
         SELECT ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM open_sockets WHERE user_id = ?) < ?";

    pub const CLOSE: &str = "DELETE FROM open_sockets WHERE id = ?";

    pub const OF_USER: &str = "SELECT id, holder FROM open_sockets WHERE user_id = ?";
}

pub mod jobs {
    /// One job per (user, key): a repeated key inserts nothing and returns no row; nor does a
    /// user with the cap of unfinished (queued or running) jobs, counted in the same statement
    /// so that parallel submissions cannot both take the last slot.
    /// Parameters: the ten columns, then user, cap.
    pub const INSERT: &str = "INSERT INTO jobs (id, user_id, kind, input, status, max_attempts, cost, idempotency_key, request_hash, created_at, updated_at) \
         SELECT ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ? \
         WHERE (SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN ('queued', 'running')) < ? \
         ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id, user_id, kind, input, status, attempts, max_attempts, cost, charged, refunded, result, error, request_hash, created_at, updated_at, finished_at";

    pub const BY_KEY: &str = "SELECT id, user_id, kind, input, status, attempts, max_attempts, cost, charged, refunded, result, error, request_hash, created_at, updated_at, finished_at FROM jobs WHERE user_id = ? AND idempotency_key = ?";

    pub const BY_ID: &str = "SELECT id, user_id, kind, input, status, attempts, max_attempts, cost, charged, refunded, result, error, request_hash, created_at, updated_at, finished_at FROM jobs WHERE id = ?";

    /// Own jobs, newest first (insertion order), optionally of one status, below a cursor (rowid).
    pub const LIST: &str = "SELECT rowid AS seq, id, user_id, kind, input, status, attempts, max_attempts, cost, charged, refunded, result, error, request_hash, created_at, updated_at, finished_at \
         FROM jobs WHERE user_id = ? AND (? IS NULL OR status = ?) AND rowid < ? ORDER BY rowid DESC LIMIT ?";

    /// First claim, batched with ENSURE before and DEBIT_IF_CLAIMED and CHARGE_IF_DEBITED after:
    /// queued -> running happens once, and the charge only if this statement claimed.
    pub const CLAIM_CHARGING: &str =
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, charged = 1, updated_at = ? \
         WHERE id = ? AND status = 'queued' AND charged = 0";

    /// `changes()` is the claim's: 1 when this batch claimed the job. An overdraft violates
    /// the balance CHECK and rolls the claim back with it.
    pub const DEBIT_IF_CLAIMED: &str = "UPDATE balances SET balance = balance - ?, updated_at = ? WHERE user_id = ? AND changes() = 1";

    pub const CHARGE_IF_DEBITED: &str =
        "INSERT INTO ledger (id, user_id, kind, amount, ref_id, created_at) \
         SELECT ?, ?, 'job_charge', ?, ?, ? WHERE changes() = 1";

    /// A retry's claim: already charged, never charged again.
    pub const CLAIM_RETRY: &str =
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ? \
         WHERE id = ? AND status = 'queued' AND charged = 1";

    pub const FAIL_UNFUNDED: &str = "UPDATE jobs SET status = 'failed', error = 'insufficient_credits', finished_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'queued' AND charged = 0";

    /// Only the runner of the current attempt may finish it.
    pub const SUCCEED: &str = "UPDATE jobs SET status = 'succeeded', result = ?, error = NULL, finished_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'running' AND attempts = ?";

    pub const REQUEUE: &str =
        "UPDATE jobs SET status = 'queued', error = ?, next_attempt_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'running' AND attempts = ?";

    /// Gives up, batched with REFUND_IF_FAILED and REFUND_ENTRY_IF_CREDITED: the refund happens
    /// once, only for the batch that moved the job to failed.
    pub const GIVE_UP: &str = "UPDATE jobs SET status = 'failed', error = ?, refunded = 1, finished_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'running' AND attempts = ? AND charged = 1 AND refunded = 0";

    pub const REFUND_IF_FAILED: &str = "INSERT INTO balances (user_id, balance, updated_at) SELECT ?, ?, ? WHERE changes() = 1 \
         ON CONFLICT (user_id) DO UPDATE SET balance = balances.balance + excluded.balance, updated_at = excluded.updated_at";

    pub const REFUND_ENTRY_IF_CREDITED: &str =
        "INSERT INTO ledger (id, user_id, kind, amount, ref_id, created_at) \
         SELECT ?, ?, 'job_refund', ?, ?, ? WHERE changes() = 1";

    /// Jobs a crash or a lost message left behind.
    pub const STALE: &str = "SELECT id, user_id, kind, input, status, attempts, max_attempts, cost, charged, refunded, result, error, request_hash, created_at, updated_at, finished_at FROM jobs WHERE (status = 'running' AND updated_at < ?) \
         OR (status = 'queued' AND COALESCE(next_attempt_at, updated_at) < ?) ORDER BY updated_at LIMIT ?";

    pub const TOUCH_QUEUED: &str =
        "UPDATE jobs SET updated_at = ?, next_attempt_at = NULL WHERE id = ? AND status = 'queued'";

    pub const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status";
}

pub mod signing_keys {
    pub const ALL: &str = "SELECT kid, sealed_d, created_at, active_from, retired_at FROM signing_keys ORDER BY created_at, kid";

    pub const INSERT: &str =
        "INSERT INTO signing_keys (kid, x, sealed_d, created_at) VALUES (?, ?, ?, ?)";

    /// Records a configured key that stopped signing, so it retires on schedule.
    pub const RETIRE_CONFIGURED: &str = "INSERT INTO signing_keys (kid, created_at, retired_at) VALUES (?, ?, ?) ON CONFLICT (kid) DO NOTHING";

    pub const ACTIVATE: &str =
        "UPDATE signing_keys SET active_from = ? WHERE kid = ? AND active_from IS NULL";

    pub const RETIRE: &str =
        "UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL";
}

pub mod dead_letter_stats {
    pub const COUNT_FOR_QUEUE: &str = "SELECT COUNT(*) AS n FROM dead_letters WHERE queue = ?";
}

pub mod dev_mailbox {
    pub const INSERT: &str =
        "INSERT INTO dev_mailbox (id, to_email, subject, text_body, html_body, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING";

    pub const LIST_FOR: &str =
        "SELECT to_email, subject, text_body, html_body, created_at FROM dev_mailbox \
         WHERE to_email = ? ORDER BY created_at DESC, rowid DESC LIMIT 50";

    pub const PURGE_OLD: &str = "DELETE FROM dev_mailbox WHERE created_at < ?";
}

pub mod dead_letters {
    pub const INSERT: &str = "INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING";

    pub const PURGE_OLD: &str = "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE received_at < ? LIMIT ?)";
}

pub mod queue_deliveries {
    /// Counts this delivery and returns the attempt number (1 for the first).
    pub const COUNT_ATTEMPT: &str = "INSERT INTO queue_deliveries (id, attempts, updated_at) VALUES (?, 1, ?) \
         ON CONFLICT (id) DO UPDATE SET attempts = attempts + 1, updated_at = excluded.updated_at RETURNING attempts";

    pub const PURGE_OLD: &str = "DELETE FROM queue_deliveries WHERE updated_at < ?";
}

pub mod totp_factors {
    pub const BY_USER: &str =
        "SELECT sealed_secret, last_step, confirmed_at FROM totp_factors WHERE user_id = ?";

    /// Starts (or restarts) a pending enrolment; an already confirmed factor is left alone and
    /// no row is returned. Parameters: user, sealed seed, now.
    pub const START: &str = "INSERT INTO totp_factors (user_id, sealed_secret, last_step, created_at) VALUES (?, ?, 0, ?) \
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, last_step = 0, created_at = excluded.created_at \
         WHERE totp_factors.confirmed_at IS NULL RETURNING user_id";

    /// Confirms a pending factor with the step of the code that proved it (used, so it cannot
    /// sign in again). Parameters: now, step, user, step.
    pub const CONFIRM: &str = "UPDATE totp_factors SET confirmed_at = ?, last_step = ? \
         WHERE user_id = ? AND confirmed_at IS NULL AND last_step < ?";

    /// Accepts a code's step once: only above the last used one, so two parallel requests with
    /// the same code cannot both pass. Parameters: step, user, step.
    pub const ACCEPT_STEP: &str = "UPDATE totp_factors SET last_step = ? \
         WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?";

    pub const DELETE: &str = "DELETE FROM totp_factors WHERE user_id = ?";
}

pub mod recovery_codes {
    /// The new codes of a confirmation, in the batch right after `totp_factors::CONFIRM` and
    /// only if that changed its row (a lost race inserts nothing). Parameters: user, JSON array
    /// of code hashes.
    pub const INSERT_AFTER_CONFIRM: &str = "INSERT INTO recovery_codes (user_id, code_hash) \
         SELECT ?, value FROM json_each(?) WHERE changes() = 1";

    /// Single use. Parameters: now, user, hash.
    pub const USE: &str = "UPDATE recovery_codes SET used_at = ? \
         WHERE user_id = ? AND code_hash = ? AND used_at IS NULL";

    pub const DELETE_ALL: &str = "DELETE FROM recovery_codes WHERE user_id = ?";
}

pub mod mfa_challenges {
    /// The user's expired challenges go when a new one is made.
    pub const PURGE_EXPIRED_OF_USER: &str =
        "DELETE FROM mfa_challenges WHERE user_id = ? AND expires_at <= ?";

    pub const INSERT: &str = "INSERT INTO mfa_challenges (token_hash, user_id, mode, device_name, attempts_left, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)";

    /// Spends one attempt before the code is checked (parallel guesses cannot exceed the
    /// attempts); no row when the challenge is unknown, expired or spent. Parameters: hash, now.
    pub const TAKE_ATTEMPT: &str = "UPDATE mfa_challenges SET attempts_left = attempts_left - 1 \
         WHERE token_hash = ? AND attempts_left > 0 AND expires_at > ? \
         RETURNING user_id, mode, device_name";

    /// Single use: the first right code takes it. Parameters: hash.
    pub const CONSUME: &str = "DELETE FROM mfa_challenges WHERE token_hash = ? RETURNING user_id";

    /// Every sign-in of the user waiting for a second factor (an administrator's reset: the
    /// factor they wait for is gone). Parameters: user.
    pub const DELETE_OF_USER: &str = "DELETE FROM mfa_challenges WHERE user_id = ?";

    /// Expired challenges (the maintenance cron). Parameters: now, limit.
    pub const PURGE_EXPIRED: &str = "DELETE FROM mfa_challenges WHERE token_hash IN \
         (SELECT token_hash FROM mfa_challenges WHERE expires_at <= ? LIMIT ?)";
}

pub mod passkeys {
    /// Parameters: id, user, credential id, COSE key, alg, sign count, transports (JSON),
    /// name, aaguid, backup eligible, backed up, now, then user and the cap. A credential id
    /// already registered (to anyone) inserts nothing, and so does a user at the cap: the count
    /// and the insert are one statement, so parallel registrations cannot pass it.
    pub const INSERT: &str = "INSERT INTO passkeys (id, user_id, credential_id, public_key, alg, sign_count, transports, name, aaguid, backup_eligible, backed_up, created_at) \
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = ?) < ? \
         ON CONFLICT (credential_id) DO NOTHING RETURNING id";

    pub const COUNT_OF_USER: &str = "SELECT COUNT(*) AS n FROM passkeys WHERE user_id = ?";

    pub const OF_USER: &str = "SELECT id, credential_id, transports, name, aaguid, backup_eligible, backed_up, created_at, last_used_at \
         FROM passkeys WHERE user_id = ? ORDER BY created_at, id";

    pub const BY_CREDENTIAL: &str = "SELECT id, user_id, public_key, sign_count, backup_eligible FROM passkeys WHERE credential_id = ?";

    /// Records a use with its counter, only if the counter still allows it (both zero, or
    /// growing): of two parallel assertions with one counter value, one passes. Parameters:
    /// count, backed up, now, id, count, count.
    pub const RECORD_USE: &str =
        "UPDATE passkeys SET sign_count = ?, backed_up = ?, last_used_at = ? \
         WHERE id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))";

    /// Parameters: name, id, user.
    pub const RENAME: &str =
        "UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ? RETURNING id";

    /// Removes a passkey unless it is the last way to sign in. Parameters: id, then user five
    /// times.
    pub const DELETE_IF_NOT_LAST: &str = concat!(
        "DELETE FROM passkeys WHERE id = ? AND user_id = ? AND ",
        more_than_one_way_to_sign_in!(),
        " RETURNING id"
    );

    pub const EXISTS: &str = "SELECT id FROM passkeys WHERE id = ? AND user_id = ?";

    /// An administrator's reset of the second factors: passkeys go too (the e-mail reset flow
    /// still lets a user without a password in). Parameters: user.
    pub const DELETE_ALL: &str = "DELETE FROM passkeys WHERE user_id = ?";
}

pub mod webauthn_challenges {
    /// Parameters: hash, purpose, user (NULL for sign-in), now, expires.
    pub const INSERT: &str = "INSERT INTO webauthn_challenges (challenge_hash, purpose, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)";

    /// Single use, in one statement: a replay or a parallel use finds nothing. Parameters:
    /// hash, purpose, now.
    pub const TAKE: &str = "DELETE FROM webauthn_challenges WHERE challenge_hash = ? AND purpose = ? AND expires_at > ? RETURNING user_id";

    /// Expired challenges (the maintenance cron). Parameters: now, limit.
    pub const PURGE_EXPIRED: &str = "DELETE FROM webauthn_challenges WHERE challenge_hash IN \
         (SELECT challenge_hash FROM webauthn_challenges WHERE expires_at <= ? LIMIT ?)";
}

pub mod session_authentications {
    /// A replayed (idempotent) login names the same session again: nothing changes.
    pub const INSERT: &str =
        "INSERT INTO session_authentications (session_id, amr, authenticated_at) \
         VALUES (?, ?, ?) ON CONFLICT (session_id) DO NOTHING";

    pub const BY_SESSION: &str =
        "SELECT amr, authenticated_at FROM session_authentications WHERE session_id = ?";

    /// A reauthentication: the session's last authentication is now, and how.
    /// Parameters: session, amr, now.
    pub const RECORD: &str = "INSERT INTO session_authentications (session_id, amr, authenticated_at) \
         VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET amr = excluded.amr, authenticated_at = excluded.authenticated_at";

    /// What step-up decides on: when the session was opened, its last authentication (none
    /// recorded: its sign-in, with the password), and whether the account has a confirmed
    /// second factor. Parameters: session, user.
    pub const STEP_UP_STATE: &str = "SELECT s.created_at, a.amr, a.authenticated_at, \
         EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = s.user_id AND t.confirmed_at IS NOT NULL) AS second_factor \
         FROM sessions s LEFT JOIN session_authentications a ON a.session_id = s.id WHERE s.id = ? AND s.user_id = ?";
}

/// The guard every statement of an account's purge batch carries: the account is still due
/// (the batch's last statement deletes it), so an account restored meanwhile is left whole.
/// Parameters: user id, now, unverified cutoff.
macro_rules! still_due {
    () => {
        "EXISTS (SELECT 1 FROM users WHERE id = ? AND ((status = 'pending_deletion' AND deletion_due_at <= ?) \
         OR (status = 'pending_verification' AND created_at < ?)))"
    };
}

/// What a purged account leaves: its credit movements, tips and chat messages stay (others'
/// balances and histories depend on them) under its pseudonym; everything that identifies it
/// goes. Parameters: pseudonym (where it is set), user id, then the `still_due!` guard's.
pub mod purge {
    pub const LEDGER: &str = concat!(
        "UPDATE ledger SET user_id = ? WHERE user_id = ? AND ",
        still_due!()
    );
    pub const BALANCE: &str = concat!(
        "UPDATE balances SET user_id = ? WHERE user_id = ? AND ",
        still_due!()
    );
    pub const TIPS_SENT: &str = concat!(
        "UPDATE tips SET from_user_id = ? WHERE from_user_id = ? AND ",
        still_due!()
    );
    pub const TIPS_RECEIVED: &str = concat!(
        "UPDATE tips SET to_user_id = ? WHERE to_user_id = ? AND ",
        still_due!()
    );
    /// Others' remembered responses (a tip to the account) name it: they answer replays with
    /// the pseudonym. Parameters: user id, pseudonym, user id, then the guard's.
    pub const IDEMPOTENCY_MENTIONS: &str = concat!(
        "UPDATE idempotency_keys SET body = replace(body, ?, ?) WHERE instr(body, ?) > 0 AND ",
        still_due!()
    );
    pub const IDEMPOTENCY_KEYS: &str = concat!(
        "DELETE FROM idempotency_keys WHERE user_id = ? AND ",
        still_due!()
    );
    pub const TICKETS: &str = concat!(
        "DELETE FROM realtime_tickets WHERE user_id = ? AND ",
        still_due!()
    );
    pub const CHAT_PARTICIPATION: &str = concat!(
        "DELETE FROM chat_participants WHERE user_id = ? AND ",
        still_due!()
    );
    /// Mail to the account's address (the development mailbox, dead letters). Parameters: user
    /// id (whose address), then the guard's.
    pub const DEV_MAIL: &str = concat!(
        "DELETE FROM dev_mailbox WHERE to_email = (SELECT email FROM users WHERE id = ?) AND ",
        still_due!()
    );
    /// A workspace the account is the only admin of gets its longest-standing other member as
    /// admin, so the purge never leaves a workspace without one. Parameters: user id three
    /// times, then the guard's.
    pub const WORKSPACE_SUCCESSION: &str = concat!(
        "UPDATE workspace_members SET role = 'admin' WHERE seq IN (SELECT min(o.seq) FROM workspace_members o \
         WHERE o.user_id <> ? AND o.workspace_id IN (SELECT a.workspace_id FROM workspace_members a \
           WHERE a.user_id = ? AND a.role = 'admin' AND NOT EXISTS (SELECT 1 FROM workspace_members b \
             WHERE b.workspace_id = a.workspace_id AND b.role = 'admin' AND b.user_id <> ?)) \
         GROUP BY o.workspace_id) AND ",
        still_due!()
    );
    /// A workspace the account is the only member of is deleted with it (by the next sweep).
    /// Parameters: now, user id, user id, then the guard's.
    pub const SOLE_MEMBER_WORKSPACES: &str = concat!(
        "UPDATE workspaces SET status = 'pending_deletion', deletion_due_at = ? WHERE status = 'active' \
         AND id IN (SELECT m.workspace_id FROM workspace_members m WHERE m.user_id = ?) \
         AND NOT EXISTS (SELECT 1 FROM workspace_members o WHERE o.workspace_id = workspaces.id AND o.user_id <> ?) AND ",
        still_due!()
    );
    /// Workspace invitations to the account's address (its memberships cascade with the user
    /// row). Parameters: user id, then the guard's.
    pub const WORKSPACE_INVITATIONS: &str = concat!(
        "DELETE FROM workspace_invitations WHERE email = (SELECT email FROM users WHERE id = ?) AND ",
        still_due!()
    );
    /// An administrator's id in others' audit events, and in the keys it made, becomes the
    /// pseudonym; so does the account a referral key created (whose bound address goes).
    pub const AUDIT_ACTOR: &str = concat!(
        "UPDATE audit_events SET actor_id = ? WHERE actor_type = 'user' AND actor_id = ? AND ",
        still_due!()
    );
    pub const API_KEYS_CREATED_BY: &str = concat!(
        "UPDATE api_keys SET created_by = ? WHERE created_by = ? AND ",
        still_due!()
    );
    pub const REFERRAL_KEYS_CREATED_BY: &str = concat!(
        "UPDATE referral_keys SET created_by = ? WHERE created_by = ? AND ",
        still_due!()
    );
    pub const REFERRAL_KEYS_USED_BY: &str = concat!(
        "UPDATE referral_keys SET used_by = ?, email = NULL WHERE used_by = ? AND ",
        still_due!()
    );
    pub const DEAD_LETTERS: &str = concat!(
        "DELETE FROM dead_letters WHERE (CASE WHEN json_valid(body) THEN json_extract(body, '$.to') END) = \
         (SELECT email FROM users WHERE id = ?) AND ",
        still_due!()
    );
}

pub mod chat_participants {
    pub const INSERT: &str =
        "INSERT INTO chat_participants (user_id, stream_id, joined_at) VALUES (?, ?, ?) \
         ON CONFLICT (user_id, stream_id) DO NOTHING";

    pub const STREAMS_OF: &str = "SELECT stream_id FROM chat_participants WHERE user_id = ?";
}

/// Workspaces. A workspace pending deletion is invisible: every read and write here requires
/// `status = 'active'`, and every statement is scoped by the workspace id.
pub mod workspaces {
    pub const INSERT: &str = "INSERT INTO workspaces (id, name, timezone, locale, auto_join_domain, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)";

    /// The creator's membership, in the same batch as the insert.
    pub const ADD_CREATOR: &str =
        "INSERT INTO workspace_members (workspace_id, user_id, role, joined_at, updated_at) \
         VALUES (?, ?, 'admin', ?, ?)";

    /// The workspace with the caller's current role (no row: not a member, or no such active
    /// workspace; the two are not told apart).
    pub const MEMBERSHIP: &str = "SELECT w.id, w.name, w.timezone, w.locale, w.auto_join_domain, w.created_at, w.updated_at, m.role \
         FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id \
         WHERE w.id = ? AND m.user_id = ? AND w.status = 'active'";

    /// For the auto-join decision only (its answer is never shown to a non-member).
    pub const ACTIVE_BY_ID: &str =
        "SELECT id, name, timezone, locale, auto_join_domain, created_at, updated_at \
         FROM workspaces WHERE id = ? AND status = 'active'";

    /// The caller's workspaces below a membership position, newest membership first.
    pub const LIST_MINE: &str = "SELECT m.seq, w.id, w.name, w.timezone, w.locale, w.auto_join_domain, w.created_at, w.updated_at, m.role \
         FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
         WHERE m.user_id = ? AND w.status = 'active' AND m.seq < ? ORDER BY m.seq DESC LIMIT ?";

    /// Settings, applied only while the actor is an admin of the active workspace (checked in
    /// the statement itself). Each optional field has a "change it" flag (1/0) and its value.
    pub const PATCH: &str = "UPDATE workspaces SET \
         name = COALESCE(?, name), \
         timezone = CASE WHEN ? = 1 THEN ? ELSE timezone END, \
         locale = CASE WHEN ? = 1 THEN ? ELSE locale END, \
         auto_join_domain = CASE WHEN ? = 1 THEN ? ELSE auto_join_domain END, \
         updated_at = ? \
         WHERE id = ? AND status = 'active' AND EXISTS (SELECT 1 FROM workspace_members a \
           WHERE a.workspace_id = workspaces.id AND a.user_id = ? AND a.role = 'admin') \
         RETURNING id, name, timezone, locale, auto_join_domain, created_at, updated_at";

    /// Starts the grace period; the workspace answers 404 from now on.
    pub const REQUEST_DELETION: &str =
        "UPDATE workspaces SET status = 'pending_deletion', deletion_due_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'active' AND EXISTS (SELECT 1 FROM workspace_members a \
           WHERE a.workspace_id = workspaces.id AND a.user_id = ? AND a.role = 'admin')";

    /// Workspaces past their grace period (members and invitations cascade).
    pub const PURGE_DUE: &str = "DELETE FROM workspaces WHERE id IN (SELECT id FROM workspaces \
         WHERE status = 'pending_deletion' AND deletion_due_at <= ? LIMIT ?)";
}

/// Memberships. The last-admin guard is part of the statements that demote and remove: the
/// admin count is read by the same statement that changes the row, and D1 runs the statements
/// of a database one at a time (one SQLite writer, each statement atomic), so two admins
/// demoting each other at once are serialised; the second statement sees one admin left (and
/// its actor no longer an admin) and changes nothing. No read-then-write window exists.
pub mod workspace_members {
    /// The caller's current role in an active workspace.
    pub const ROLE_OF: &str =
        "SELECT m.role FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
         WHERE m.workspace_id = ? AND m.user_id = ? AND w.status = 'active'";

    /// A page of members below a position, with optional role and account-status filters
    /// (NULL: any). Parameters: workspace, below, role, role, status, status, limit.
    pub const LIST: &str = "SELECT m.seq, m.user_id, u.email, u.name, m.role, u.status, m.joined_at \
         FROM workspace_members m JOIN users u ON u.id = m.user_id \
         WHERE m.workspace_id = ? AND m.seq < ? AND (? IS NULL OR m.role = ?) AND (? IS NULL OR u.status = ?) \
         ORDER BY m.seq DESC LIMIT ?";

    /// One member of a workspace with their account's e-mail, name and status.
    pub const ONE: &str =
        "SELECT m.seq, m.user_id, u.email, u.name, m.role, u.status, m.joined_at \
         FROM workspace_members m JOIN users u ON u.id = m.user_id \
         WHERE m.workspace_id = ? AND m.user_id = ?";

    /// Is the account with this e-mail a member already?
    pub const HAS_EMAIL: &str =
        "SELECT 1 AS found FROM workspace_members m JOIN users u ON u.id = m.user_id \
         WHERE m.workspace_id = ? AND u.email = ?";

    /// Sets `target`'s role when the actor is (still) an admin, and a demotion only while
    /// another admin remains. Parameters: new role, now, workspace, target, actor, new role.
    pub const SET_ROLE: &str = "UPDATE workspace_members SET role = ?, updated_at = ? \
         WHERE workspace_id = ? AND user_id = ? \
         AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = workspace_members.workspace_id AND w.status = 'active') \
         AND EXISTS (SELECT 1 FROM workspace_members a WHERE a.workspace_id = workspace_members.workspace_id \
           AND a.user_id = ? AND a.role = 'admin') \
         AND (? = 'admin' OR role = 'member' OR (SELECT count(*) FROM workspace_members o \
           WHERE o.workspace_id = workspace_members.workspace_id AND o.role = 'admin') > 1)";

    /// Removes `target` when the actor is the target (leaving) or (still) an admin, and an
    /// admin only while another admin remains. Parameters: workspace, target, actor, actor.
    pub const REMOVE: &str = "DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ? \
         AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = workspace_members.workspace_id AND w.status = 'active') \
         AND (user_id = ? OR EXISTS (SELECT 1 FROM workspace_members a WHERE a.workspace_id = workspace_members.workspace_id \
           AND a.user_id = ? AND a.role = 'admin')) \
         AND (role = 'member' OR (SELECT count(*) FROM workspace_members o \
           WHERE o.workspace_id = workspace_members.workspace_id AND o.role = 'admin') > 1)";

    /// E-mail-domain auto-join, as a member, re-checking the domain in the statement.
    /// Parameters: user, now, now, workspace, domain.
    pub const AUTO_JOIN: &str = "INSERT INTO workspace_members (workspace_id, user_id, role, joined_at, updated_at) \
         SELECT id, ?, 'member', ?, ? FROM workspaces WHERE id = ? AND status = 'active' AND auto_join_domain = ? \
         ON CONFLICT (workspace_id, user_id) DO NOTHING";
}

/// Invitations: single use (`accepted_at`), revocable (`revoked_at`), expiring (`expires_at`).
pub mod workspace_invitations {
    /// Earlier pending invitations to the same address stop working once a new one was sent
    /// (run after INSERT in its batch: only when the new one exists). Parameters: now,
    /// workspace, email, new id, new id, workspace.
    pub const RETIRE_PENDING_FOR: &str = "UPDATE workspace_invitations SET revoked_at = ? \
         WHERE workspace_id = ? AND email = ? AND id <> ? AND accepted_at IS NULL AND revoked_at IS NULL \
         AND EXISTS (SELECT 1 FROM workspace_invitations n WHERE n.id = ? AND n.workspace_id = ?)";

    /// Inserted only while the inviter is an admin of the active workspace. Parameters: id,
    /// workspace, email, role, token hash, inviter, now, expires, workspace, inviter.
    pub const INSERT: &str = "INSERT INTO workspace_invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at) \
         SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM workspace_members a JOIN workspaces w ON w.id = a.workspace_id \
           WHERE a.workspace_id = ? AND a.user_id = ? AND a.role = 'admin' AND w.status = 'active') \
         RETURNING id, workspace_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at";

    /// Pending (unused, unrevoked, unexpired) invitations of a workspace below a position.
    pub const LIST_PENDING: &str = "SELECT seq, id, workspace_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at \
         FROM workspace_invitations WHERE workspace_id = ? AND accepted_at IS NULL AND revoked_at IS NULL \
         AND expires_at > ? AND seq < ? ORDER BY seq DESC LIMIT ?";

    /// Parameters: now, id, workspace.
    pub const REVOKE: &str = "UPDATE workspace_invitations SET revoked_at = ? \
         WHERE id = ? AND workspace_id = ? AND accepted_at IS NULL AND revoked_at IS NULL \
         RETURNING id, workspace_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at";

    /// An invitation of an active workspace by its token's hash.
    pub const BY_TOKEN: &str = "SELECT i.id, i.workspace_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at, i.accepted_at, i.revoked_at \
         FROM workspace_invitations i JOIN workspaces w ON w.id = i.workspace_id \
         WHERE i.token_hash = ? AND w.status = 'active'";

    /// Uses the invitation: only once, only while pending, only for its address, only for an
    /// account not yet a member. Parameters: now, user, token hash, now, email, user.
    pub const ACCEPT: &str = "UPDATE workspace_invitations SET accepted_at = ?, accepted_by = ? \
         WHERE token_hash = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ? AND email = ? \
         AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = workspace_invitations.workspace_id AND w.status = 'active') \
         AND NOT EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = workspace_invitations.workspace_id AND m.user_id = ?)";

    /// The membership of the invitation the batch's ACCEPT just used (nothing when it used
    /// none: `changes()` is that statement's). Parameters: user, now, now, token hash, user, now.
    pub const ADD_ACCEPTED: &str =
        "INSERT INTO workspace_members (workspace_id, user_id, role, joined_at, updated_at) \
         SELECT workspace_id, ?, role, ?, ? FROM workspace_invitations \
         WHERE token_hash = ? AND accepted_by = ? AND accepted_at = ? AND changes() = 1";

    /// Used, revoked or expired invitations older than the cutoff.
    pub const PURGE_DEAD: &str =
        "DELETE FROM workspace_invitations WHERE seq IN (SELECT seq FROM workspace_invitations \
         WHERE expires_at < ? OR accepted_at < ? OR revoked_at < ? LIMIT ?)";
}

pub mod external_identities {
    /// Creates a verified, active account without a password (the provider proved the address)
    /// unless the e-mail is taken; RETURNING tells which happened. An empty password hash
    /// matches no password; the reset flow can set one.
    pub const INSERT_USER: &str = "INSERT INTO users (id, email, password_hash, name, status, email_verified, created_at, updated_at, version) \
         VALUES (?, ?, '', ?, 'active', 1, ?, ?, 1) ON CONFLICT (email) DO NOTHING RETURNING id";

    /// Links an identity; nothing when (provider, subject) is linked already (RETURNING tells).
    pub const INSERT: &str = "INSERT INTO external_identities (id, user_id, provider, subject, email, created_at, last_used_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, subject) DO NOTHING RETURNING id";

    /// The identity's row, only if the user row was created by the same batch.
    pub const INSERT_FOR_NEW_USER: &str = "INSERT INTO external_identities (id, user_id, provider, subject, email, created_at, last_used_at) \
         SELECT ?, id, ?, ?, ?, ?, ? FROM users WHERE id = ?";

    pub const OWNER: &str =
        "SELECT user_id FROM external_identities WHERE provider = ? AND subject = ?";

    pub const TOUCH: &str = "UPDATE external_identities SET last_used_at = ?, email = ? WHERE provider = ? AND subject = ?";

    pub const OF_USER: &str =
        "SELECT id, provider, subject, email, created_at FROM external_identities \
         WHERE user_id = ? ORDER BY created_at, id";

    /// Unlinks one identity unless it is the last way to sign in. Parameters: id, then user
    /// five times.
    pub const DELETE_IF_NOT_LAST: &str = concat!(
        "DELETE FROM external_identities WHERE id = ? AND user_id = ? AND ",
        more_than_one_way_to_sign_in!(),
        " RETURNING id"
    );
}

pub mod wallets {
    /// Opens an account without a password for a wallet's first sign-in (like an external
    /// identity's: active and "verified", the address being an undeliverable placeholder),
    /// unless the wallet was linked meanwhile (RETURNING tells). Parameters: id, email, now,
    /// now, address.
    pub const INSERT_USER: &str = "INSERT INTO users (id, email, password_hash, name, status, email_verified, created_at, updated_at, version) \
         SELECT ?, ?, '', NULL, 'active', 1, ?, ?, 1 WHERE NOT EXISTS (SELECT 1 FROM wallets WHERE address = ?) \
         ON CONFLICT (email) DO NOTHING RETURNING id";

    /// The wallet's row, only if the user row was created by the same batch. Parameters:
    /// address, chain id, now, now, user.
    pub const INSERT_FOR_NEW_USER: &str =
        "INSERT INTO wallets (address, user_id, chain_id, created_at, last_used_at) \
         SELECT ?, id, ?, ?, ? FROM users WHERE id = ?";

    /// Links a wallet; nothing when it is linked already (to anyone: RETURNING tells).
    pub const INSERT: &str =
        "INSERT INTO wallets (address, user_id, chain_id, created_at, last_used_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (address) DO NOTHING RETURNING address";

    pub const OWNER: &str = "SELECT user_id FROM wallets WHERE address = ?";

    /// A sign-in with the wallet, on the chain its message named.
    pub const TOUCH: &str =
        "UPDATE wallets SET last_used_at = ?, chain_id = ? WHERE address = ? AND user_id = ?";

    pub const OF_USER: &str = "SELECT address, chain_id, created_at, last_used_at FROM wallets \
         WHERE user_id = ? ORDER BY created_at, address";

    /// Unlinks a wallet unless it is the last way to sign in. Parameters: address, then user
    /// five times.
    pub const DELETE_IF_NOT_LAST: &str = concat!(
        "DELETE FROM wallets WHERE address = ? AND user_id = ? AND ",
        more_than_one_way_to_sign_in!(),
        " RETURNING address"
    );
}

pub mod siwe_nonces {
    pub const INSERT: &str =
        "INSERT INTO siwe_nonces (nonce_hash, created_at, expires_at) VALUES (?, ?, ?)";

    /// Single use: the nonce is deleted as it is read, in one statement, so of N parallel
    /// verifications of one message exactly one gets the row. The caller checks the expiry.
    pub const TAKE: &str = "DELETE FROM siwe_nonces WHERE nonce_hash = ? RETURNING expires_at";

    pub const PURGE_DEAD: &str = "DELETE FROM siwe_nonces WHERE nonce_hash IN (SELECT nonce_hash FROM siwe_nonces WHERE expires_at < ? LIMIT ?)";
}

pub mod oauth_states {
    pub const INSERT: &str = "INSERT INTO oauth_states (state_hash, provider, redirect_uri, mode, nonce, code_verifier, app_code_challenge, browser_hash, link_user_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    /// Single use: the state is deleted as it is read, and only an unexpired one is returned.
    pub const TAKE: &str = "DELETE FROM oauth_states WHERE state_hash = ? AND provider = ? \
         RETURNING redirect_uri, mode, nonce, code_verifier, app_code_challenge, browser_hash, link_user_id, expires_at";

    pub const PURGE_DEAD: &str = "DELETE FROM oauth_states WHERE state_hash IN (SELECT state_hash FROM oauth_states WHERE expires_at < ? LIMIT ?)";
}

pub mod oauth_codes {
    pub const INSERT: &str = "INSERT INTO oauth_codes (code_hash, user_id, code_challenge, created_at, expires_at) VALUES (?, ?, ?, ?, ?)";

    /// Single use, like the state.
    pub const TAKE: &str =
        "DELETE FROM oauth_codes WHERE code_hash = ? RETURNING user_id, code_challenge, expires_at";

    pub const PURGE_DEAD: &str = "DELETE FROM oauth_codes WHERE code_hash IN (SELECT code_hash FROM oauth_codes WHERE expires_at < ? LIMIT ?)";
}

pub mod health {
    pub const PING: &str = "SELECT 1 AS ok";
}

/// A constraint a statement broke, read from the database's error message. Code that turns
/// one into a client answer matches the exact constraint (a named CHECK, or a UNIQUE's exact
/// column list), so an unrelated violation stays a fault of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A named `CONSTRAINT <name> CHECK (...)`.
    Check(String),
    /// A UNIQUE constraint or index, as SQLite names it: `table.col, table.col`.
    Unique(String),
}

/// The overdraft guard on `balances.balance` (migration 0011).
pub const BALANCE_NOT_NEGATIVE: &str = "balance_not_negative";
/// The idempotency key of a credit movement, `PRIMARY KEY (user_id, scope, key)`.
pub const IDEMPOTENCY_KEY_TAKEN: &str =
    "idempotency_keys.user_id, idempotency_keys.scope, idempotency_keys.key";

impl Violation {
    /// Reads SQLite's "CHECK constraint failed: <name>" / "UNIQUE constraint failed: <t.c, …>"
    /// out of a message that may wrap it (D1 prefixes `D1_ERROR: ` and may append
    /// `: SQLITE_CONSTRAINT`).
    pub fn parse(message: &str) -> Option<Self> {
        let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if let Some((_, rest)) = message.split_once("CHECK constraint failed: ") {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            return (!name.is_empty()).then_some(Self::Check(name));
        }
        let (_, rest) = message.split_once("UNIQUE constraint failed: ")?;
        let columns: String = rest
            .chars()
            .take_while(|&c| is_ident(c) || c == '.' || c == ',' || c == ' ')
            .collect();
        let columns = columns.trim_end_matches([',', ' ']);
        (!columns.is_empty()).then(|| Self::Unique(columns.to_owned()))
    }

    pub fn is_check(&self, name: &str) -> bool {
        matches!(self, Self::Check(n) if n == name)
    }

    pub fn is_unique(&self, columns: &str) -> bool {
        matches!(self, Self::Unique(c) if c == columns)
    }
}

#[cfg(test)]
mod tests {
    use super::{Violation, BALANCE_NOT_NEGATIVE, IDEMPOTENCY_KEY_TAKEN};
    use rusqlite::Connection;

    fn migrated() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        let mut files: Vec<_> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
        files.sort();
        assert!(!files.is_empty());
        for (i, f) in files.iter().enumerate() {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with(&format!("{:04}_", i + 1)),
                "migrations are numbered 0001_, 0002_, ... without gaps: {name}"
            );
            db.execute_batch(&std::fs::read_to_string(f).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        db
    }

    #[test]
    fn dead_letters_kept_before_the_retention_migration_lose_their_link_tokens() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/");
        let db = Connection::open_in_memory().unwrap();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let name = |f: &std::path::PathBuf| f.file_name().unwrap().to_string_lossy().into_owned();
        let redacting = files
            .iter()
            .map(name)
            .find(|n| n.ends_with("_dead_letter_retention.sql"))
            .expect("the dead-letter retention migration");
        let (before, after): (Vec<_>, Vec<_>) = files.iter().partition(|f| name(f) < redacting);
        for f in before {
            db.execute_batch(&std::fs::read_to_string(f).unwrap())
                .unwrap();
        }
        db.execute_batch(
            r#"INSERT INTO dead_letters VALUES
                 ('a', 'edgeward-email', '{"id":"m","to":"x@example.test","template":{"kind":"password_reset","token":"s3cr3t"}}', 1),
                 ('b', 'edgeward-email', '{"id":"n","to":"y@example.test","template":{"kind":"password_changed"}}', 1),
                 ('c', 'edgeward-jobs-dlq', 'not json', 1);"#,
        )
        .unwrap();
        for f in after {
            db.execute_batch(&std::fs::read_to_string(f).unwrap())
                .unwrap();
        }
        let body = |id: &str| -> String {
            db.query_row("SELECT body FROM dead_letters WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert!(!body("a").contains("s3cr3t"), "{}", body("a"));
        assert!(
            body("a").contains(r#""token":"[redacted]""#),
            "{}",
            body("a")
        );
        assert!(!body("b").contains("token"), "{}", body("b"));
        assert_eq!(body("c"), "not json");
    }

    /// A migrated database with user u1 (a@example.test).
    fn with_user() -> Connection {
        let db = migrated();
        db.query_row(
            super::users::INSERT,
            rusqlite::params!["u1", "a@example.test", "h", None::<String>, 1, 1],
            |_| Ok(()),
        )
        .unwrap();
        db
    }

    #[test]
    fn all_migrations_apply_and_every_statement_prepares() {
        use super::*;
        let db = migrated();
        let all = [
            totp_factors::BY_USER,
            totp_factors::START,
            totp_factors::CONFIRM,
            totp_factors::ACCEPT_STEP,
            totp_factors::DELETE,
            recovery_codes::INSERT_AFTER_CONFIRM,
            recovery_codes::USE,
            recovery_codes::DELETE_ALL,
            mfa_challenges::PURGE_EXPIRED_OF_USER,
            mfa_challenges::INSERT,
            mfa_challenges::TAKE_ATTEMPT,
            mfa_challenges::CONSUME,
            mfa_challenges::DELETE_OF_USER,
            mfa_challenges::PURGE_EXPIRED,
            passkeys::INSERT,
            passkeys::COUNT_OF_USER,
            passkeys::OF_USER,
            passkeys::BY_CREDENTIAL,
            passkeys::RECORD_USE,
            passkeys::RENAME,
            passkeys::DELETE_IF_NOT_LAST,
            passkeys::EXISTS,
            passkeys::DELETE_ALL,
            webauthn_challenges::INSERT,
            webauthn_challenges::TAKE,
            webauthn_challenges::PURGE_EXPIRED,
            session_authentications::INSERT,
            session_authentications::BY_SESSION,
            session_authentications::RECORD,
            session_authentications::STEP_UP_STATE,
            users::INSERT,
            external_identities::INSERT_USER,
            external_identities::INSERT,
            external_identities::INSERT_FOR_NEW_USER,
            external_identities::OWNER,
            external_identities::TOUCH,
            external_identities::OF_USER,
            external_identities::DELETE_IF_NOT_LAST,
            wallets::INSERT_USER,
            wallets::INSERT_FOR_NEW_USER,
            wallets::INSERT,
            wallets::OWNER,
            wallets::TOUCH,
            wallets::OF_USER,
            wallets::DELETE_IF_NOT_LAST,
            siwe_nonces::INSERT,
            siwe_nonces::TAKE,
            siwe_nonces::PURGE_DEAD,
            oauth_states::INSERT,
            oauth_states::TAKE,
            oauth_states::PURGE_DEAD,
            oauth_codes::INSERT,
            oauth_codes::TAKE,
            oauth_codes::PURGE_DEAD,
            users::BY_EMAIL,
            users::BY_ID,
            users::BY_EMAIL_FOR_SIGN_IN,
            users::VERIFY_BY_USED_TOKEN,
            users::RESET_PASSWORD_BY_USED_TOKEN,
            users::SET_PASSWORD,
            users::DEACTIVATE,
            users::REACTIVATE,
            users::REQUEST_DELETION,
            users::RESTORE,
            users::PATCH_PROFILE,
            users::PATCH_PREFERENCES,
            users::RESET_PREFERENCES,
            users::DUE_FOR_PURGE,
            users::DELETE_IF_DUE,
            users::INSERT_REFERRED,
            admin::BOOTSTRAP,
            admin::PROMOTE,
            admin::DEMOTE,
            admin::DEACTIVATE,
            admin::SEARCH,
            admin::USERS_BY_STATUS,
            admin::USERS_BY_ROLE,
            admin::ACTIVE_SESSIONS,
            admin::CREDITS,
            api_keys::INSERT,
            api_keys::BY_HASH,
            api_keys::BY_ID,
            api_keys::TOUCH,
            api_keys::LIST,
            api_keys::REVOKE,
            referral_keys::INSERT,
            referral_keys::PEEK,
            referral_keys::REDEEM,
            referral_keys::FORGET_PHANTOM,
            referral_keys::LIST,
            audit::INSERT,
            audit::PAGE,
            audit::ANONYMISE_IF_DUE,
            audit::PURGE_OLD,
            streams::INSERT,
            tickets::INSERT,
            jobs::INSERT,
            sockets::OPEN,
            sockets::CLOSE,
            sockets::OF_USER,
            streams::BY_ID,
            streams::LIST_LIVE,
            streams::UPDATE,
            streams::END,
            credits::CREDIT,
            credits::ENSURE,
            credits::DEBIT,
            credits::INSERT_ENTRY,
            credits::BALANCE,
            credits::ENTRIES,
            credits::REMEMBER,
            credits::RECALL,
            credits::PURGE_OLD_KEYS,
            tips::INSERT,
            tips::SENT,
            tips::RECEIVED,
            tickets::INSERT,
            tickets::REDEEM,
            tickets::PURGE_DEAD,
            jobs::INSERT,
            jobs::BY_KEY,
            jobs::BY_ID,
            jobs::LIST,
            jobs::CLAIM_CHARGING,
            jobs::DEBIT_IF_CLAIMED,
            jobs::CHARGE_IF_DEBITED,
            jobs::CLAIM_RETRY,
            jobs::FAIL_UNFUNDED,
            jobs::SUCCEED,
            jobs::REQUEUE,
            jobs::GIVE_UP,
            jobs::REFUND_IF_FAILED,
            jobs::REFUND_ENTRY_IF_CREDITED,
            jobs::STALE,
            jobs::TOUCH_QUEUED,
            jobs::COUNT_BY_STATUS,
            signing_keys::ALL,
            signing_keys::INSERT,
            signing_keys::RETIRE_CONFIGURED,
            signing_keys::ACTIVATE,
            signing_keys::RETIRE,
            dead_letter_stats::COUNT_FOR_QUEUE,
            email_tokens::INSERT,
            email_tokens::INSERT_FOR_NEW_USER,
            email_tokens::REDEEM,
            email_tokens::PEEK,
            email_tokens::RETIRE_UNUSED,
            email_tokens::PURGE_DEAD,
            email_changes::RETIRE_UNUSED,
            email_changes::INSERT,
            email_changes::REDEEM,
            email_changes::SWITCH_BY_USED_TOKEN,
            email_changes::PENDING_TAKEN,
            email_changes::PURGE_DEAD,
            sessions::INSERT,
            sessions::LIST_ACTIVE,
            sessions::AUTH_LOOKUP,
            sessions::TOUCH_AND_EXTEND,
            sessions::EXTEND,
            sessions::RENAME,
            sessions::REVOKE,
            sessions::PURGE_ENDED,
            dev_mailbox::INSERT,
            dev_mailbox::LIST_FOR,
            dev_mailbox::PURGE_OLD,
            dead_letters::INSERT,
            dead_letters::PURGE_OLD,
            purge::LEDGER,
            purge::BALANCE,
            purge::TIPS_SENT,
            purge::TIPS_RECEIVED,
            purge::IDEMPOTENCY_MENTIONS,
            purge::IDEMPOTENCY_KEYS,
            purge::TICKETS,
            purge::CHAT_PARTICIPATION,
            purge::DEV_MAIL,
            purge::DEAD_LETTERS,
            purge::WORKSPACE_INVITATIONS,
            purge::WORKSPACE_SUCCESSION,
            purge::SOLE_MEMBER_WORKSPACES,
            purge::AUDIT_ACTOR,
            purge::API_KEYS_CREATED_BY,
            purge::REFERRAL_KEYS_CREATED_BY,
            purge::REFERRAL_KEYS_USED_BY,
            chat_participants::INSERT,
            chat_participants::STREAMS_OF,
            queue_deliveries::COUNT_ATTEMPT,
            queue_deliveries::PURGE_OLD,
            health::PING,
            workspaces::INSERT,
            workspaces::ADD_CREATOR,
            workspaces::MEMBERSHIP,
            workspaces::ACTIVE_BY_ID,
            workspaces::LIST_MINE,
            workspaces::PATCH,
            workspaces::REQUEST_DELETION,
            workspaces::PURGE_DUE,
            workspace_members::ROLE_OF,
            workspace_members::LIST,
            workspace_members::ONE,
            workspace_members::HAS_EMAIL,
            workspace_members::SET_ROLE,
            workspace_members::REMOVE,
            workspace_members::AUTO_JOIN,
            workspace_invitations::RETIRE_PENDING_FOR,
            workspace_invitations::INSERT,
            workspace_invitations::LIST_PENDING,
            workspace_invitations::REVOKE,
            workspace_invitations::BY_TOKEN,
            workspace_invitations::ACCEPT,
            workspace_invitations::ADD_ACCEPTED,
            workspace_invitations::PURGE_DEAD,
        ];
        for sql in all {
            let st = db.prepare(sql).unwrap_or_else(|e| panic!("{e}: {sql}"));
            // A statement that returns an account returns all of it: the role is read on
            // every request (`edge::d1::users::UserRow`).
            let cols = st.column_names();
            if cols.contains(&"password_hash") && cols.contains(&"notification_prefs") {
                assert!(
                    cols.contains(&"role"),
                    "returns a user without its role: {sql}"
                );
            }
        }
    }

    /// Users `a` and `b`, both active admins, and `c`, an active plain user.
    fn two_admins() -> Connection {
        let db = migrated();
        for (id, role) in [("a", "admin"), ("b", "admin"), ("c", "user")] {
            db.execute(
                "INSERT INTO users (id, email, password_hash, status, email_verified, created_at, updated_at, role) \
                 VALUES (?, ?, 'h', 'active', 1, 1, 1, ?)",
                rusqlite::params![id, format!("{id}@example.test"), role],
            )
            .unwrap();
        }
        db
    }

    fn changed(db: &Connection, sql: &str, params: impl rusqlite::Params) -> bool {
        let mut st = db.prepare(sql).unwrap();
        let mut rows = st.query(params).unwrap();
        rows.next().unwrap().is_some()
    }

    #[test]
    fn two_admins_demoting_each_other_leave_one_admin() {
        let db = two_admins();
        assert!(changed(
            &db,
            super::admin::DEMOTE,
            rusqlite::params![2, 2, "a", "a"]
        ));
        assert!(!changed(
            &db,
            super::admin::DEMOTE,
            rusqlite::params![3, 3, "b", "b"]
        ));
        let admins: i64 = db
            .query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(admins, 1);
        // Nor can the last admin be deactivated; a plain user can.
        assert!(!changed(
            &db,
            super::admin::DEACTIVATE,
            rusqlite::params![4, "b", "b"]
        ));
        assert!(changed(
            &db,
            super::admin::DEACTIVATE,
            rusqlite::params![4, "c", "c"]
        ));
    }

    #[test]
    fn a_deactivated_admin_does_not_count_as_the_remaining_one() {
        let db = two_admins();
        db.execute("UPDATE users SET status = 'deactivated' WHERE id = 'b'", [])
            .unwrap();
        assert!(!changed(
            &db,
            super::admin::DEMOTE,
            rusqlite::params![2, 2, "a", "a"]
        ));
        assert!(changed(
            &db,
            super::admin::DEMOTE,
            rusqlite::params![2, 2, "b", "b"]
        ));
    }

    #[test]
    fn the_bootstrap_leaves_a_role_an_administrator_set() {
        let db = two_admins();
        assert!(changed(
            &db,
            super::admin::DEMOTE,
            rusqlite::params![2, 2, "a", "a"]
        ));
        let n = db
            .execute(super::admin::BOOTSTRAP, rusqlite::params![3, "a"])
            .unwrap();
        assert_eq!(n, 0, "a demoted admin stays demoted");
        let n = db
            .execute(super::admin::BOOTSTRAP, rusqlite::params![3, "c"])
            .unwrap();
        assert_eq!(n, 1, "a plain user whose role nobody set is promoted");
    }

    #[test]
    fn the_search_needle_matches_wildcards_literally() {
        let db = two_admins();
        db.execute("UPDATE users SET name = 'Ada 100%' WHERE id = 'c'", [])
            .unwrap();
        let found = |pattern: &str| -> Vec<String> {
            let mut st = db.prepare(super::admin::SEARCH).unwrap();
            st.query_map(
                rusqlite::params![
                    1i64 << 53,
                    None::<String>,
                    None::<String>,
                    pattern,
                    pattern,
                    pattern,
                    None::<String>,
                    None::<String>,
                    None::<String>,
                    None::<String>,
                    None::<String>,
                    10
                ],
                |r| r.get::<_, String>(1),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        assert_eq!(found("100%"), ["c"]);
        assert_eq!(found("b@"), ["b"]);
        assert!(found("1000").is_empty());
        assert!(found("%").len() == 1 && found("_").is_empty());
        assert!(
            found(&"x".repeat(254)).is_empty(),
            "a long needle is just not found"
        );
    }

    /// The registration batch of invite-only signup: redeem, then insert the referred user.
    /// Returns (key redeemed, account created).
    fn register_with_key(db: &Connection, user: &str, email: &str, key: &str) -> (bool, bool) {
        let redeemed = changed(
            db,
            super::referral_keys::REDEEM,
            rusqlite::params![5, user, key, email],
        );
        let inserted = changed(
            db,
            super::users::INSERT_REFERRED,
            rusqlite::params![user, email, "h", None::<String>, 5, 5, key, user],
        );
        db.execute(
            super::referral_keys::FORGET_PHANTOM,
            rusqlite::params![key, user, user],
        )
        .unwrap();
        assert!(!inserted || redeemed, "no account without its key");
        (redeemed, inserted)
    }

    #[test]
    fn a_referral_key_creates_one_account_and_a_bound_key_only_its_address() {
        let db = migrated();
        db.execute(
            super::referral_keys::INSERT,
            rusqlite::params!["r1", "k1", "ewr_", None::<String>, None::<String>, "a", 1],
        )
        .unwrap();
        db.execute(
            super::referral_keys::INSERT,
            rusqlite::params![
                "r2",
                "k2",
                "ewr_",
                "bound@example.test",
                None::<String>,
                "a",
                1
            ],
        )
        .unwrap();
        assert_eq!(
            register_with_key(&db, "u1", "one@example.test", "k1"),
            (true, true)
        );
        assert_eq!(
            register_with_key(&db, "u2", "two@example.test", "k1"),
            (false, false),
            "used"
        );
        assert_eq!(
            register_with_key(&db, "u3", "one@example.test", "k2"),
            (false, false),
            "another address"
        );
        assert_eq!(
            register_with_key(&db, "u5", "bound@example.test", "k2"),
            (true, true)
        );
        // A taken address spends the key (no oracle), and the key names no account.
        db.execute(
            super::referral_keys::INSERT,
            rusqlite::params!["r3", "k3", "ewr_", None::<String>, None::<String>, "a", 1],
        )
        .unwrap();
        assert_eq!(
            register_with_key(&db, "u4", "one@example.test", "k3"),
            (true, false)
        );
        let (used_at, used_by): (Option<i64>, Option<String>) = db
            .query_row(
                "SELECT used_at, used_by FROM referral_keys WHERE id = 'r3'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((used_at, used_by), (Some(5), None));
        assert_eq!(
            register_with_key(&db, "u6", "six@example.test", "k3"),
            (false, false)
        );
    }

    #[test]
    fn a_duplicate_email_inserts_nothing_and_returns_no_row() {
        let db = migrated();
        let insert = |id: &str| -> Option<String> {
            db.query_row(
                super::users::INSERT,
                rusqlite::params![id, "a@example.test", "h", None::<String>, 1, 1],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(insert("u1").as_deref(), Some("u1"));
        assert_eq!(insert("u2"), None);
    }

    #[test]
    fn an_identity_links_once_and_the_last_way_to_sign_in_is_never_unlinked() {
        use super::external_identities as x;
        let db = migrated();
        let new_user = |id: &str, email: &str| -> Option<String> {
            db.query_row(
                x::INSERT_USER,
                rusqlite::params![id, email, None::<String>, 1, 1],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(new_user("u1", "a@example.test").as_deref(), Some("u1"));
        assert_eq!(new_user("u2", "a@example.test"), None);
        let link = |id: &str, subject: &str| -> Option<String> {
            db.query_row(
                x::INSERT,
                rusqlite::params![id, "u1", "corp", subject, None::<String>, 1, 1],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(link("i1", "s1").as_deref(), Some("i1"));
        assert_eq!(link("i2", "s1"), None, "(provider, subject) is unique");
        assert_eq!(link("i2", "s2").as_deref(), Some("i2"));
        let unlink = |id: &str| -> Option<String> {
            db.query_row(
                x::DELETE_IF_NOT_LAST,
                rusqlite::params![id, "u1", "u1", "u1", "u1", "u1"],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(unlink("i1").as_deref(), Some("i1"));
        assert_eq!(unlink("i2"), None, "no password: the last identity stays");
        db.query_row(
            super::wallets::INSERT,
            rusqlite::params![WALLET_A, "u1", 1, 1, 1],
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(
            unlink("i2").as_deref(),
            Some("i2"),
            "a wallet is another way to sign in"
        );
        db.execute("DELETE FROM wallets", []).unwrap();
        assert_eq!(link("i3", "s3").as_deref(), Some("i3"));
        db.execute("UPDATE users SET password_hash = 'h' WHERE id = 'u1'", [])
            .unwrap();
        assert_eq!(unlink("i3").as_deref(), Some("i3"));
    }

    const WALLET_A: &str = "0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a";
    const WALLET_B: &str = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";

    #[test]
    fn a_wallet_belongs_to_one_account_and_the_last_way_to_sign_in_is_never_unlinked() {
        use super::wallets as w;
        let db = migrated();
        let new_user = |id: &str, address: &str| -> Option<String> {
            let email = format!("{id}@external-identity.invalid");
            db.query_row(
                w::INSERT_USER,
                rusqlite::params![id, email, 1, 1, address],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(new_user("u1", WALLET_A).as_deref(), Some("u1"));
        db.execute(
            w::INSERT_FOR_NEW_USER,
            rusqlite::params![WALLET_A, 1, 1, 1, "u1"],
        )
        .unwrap();
        assert_eq!(
            new_user("u2", WALLET_A),
            None,
            "a wallet linked meanwhile opens no second account"
        );
        let link = |user: &str, address: &str| -> Option<String> {
            db.query_row(w::INSERT, rusqlite::params![address, user, 1, 2, 2], |r| {
                r.get(0)
            })
            .ok()
        };
        assert_eq!(new_user("u2", WALLET_B).as_deref(), Some("u2"));
        db.execute(
            w::INSERT_FOR_NEW_USER,
            rusqlite::params![WALLET_B, 1, 1, 1, "u2"],
        )
        .unwrap();
        assert_eq!(link("u2", WALLET_A), None, "the address is unique");
        assert!(
            db.execute(w::INSERT, rusqlite::params!["0x19E7", "u2", 1, 2, 2])
                .is_err(),
            "only the canonical form is stored"
        );
        assert_eq!(link("u1", WALLET_B).as_deref(), None);
        let unlink = |user: &str, address: &str| -> Option<String> {
            db.query_row(
                w::DELETE_IF_NOT_LAST,
                rusqlite::params![address, user, user, user, user, user],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(
            unlink("u1", WALLET_A),
            None,
            "the last way to sign in stays"
        );
        assert_eq!(unlink("u2", WALLET_A), None, "not the owner");
        db.query_row(
            super::external_identities::INSERT,
            rusqlite::params!["i1", "u1", "corp", "s1", None::<String>, 1, 1],
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(
            unlink("u1", WALLET_A).as_deref(),
            Some(WALLET_A),
            "an identity is another way to sign in"
        );
    }

    #[test]
    fn a_siwe_nonce_is_taken_once() {
        let db = migrated();
        db.execute(super::siwe_nonces::INSERT, rusqlite::params!["h", 1, 301])
            .unwrap();
        let take = || -> Option<i64> {
            db.query_row(super::siwe_nonces::TAKE, rusqlite::params!["h"], |r| {
                r.get(0)
            })
            .ok()
        };
        assert_eq!(take(), Some(301));
        assert_eq!(take(), None);
    }

    #[test]
    fn a_webauthn_challenge_is_taken_once_for_its_purpose_and_only_while_fresh() {
        let db = with_user();
        let c = super::webauthn_challenges::INSERT;
        db.execute(c, rusqlite::params!["h1", "register", "u1", 1, 100])
            .unwrap();
        db.execute(
            c,
            rusqlite::params!["h2", "authenticate", None::<String>, 1, 100],
        )
        .unwrap();
        let take = |h: &str, purpose: &str, now: i64| -> Option<Option<String>> {
            db.query_row(
                super::webauthn_challenges::TAKE,
                rusqlite::params![h, purpose, now],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(
            take("h1", "authenticate", 10),
            None,
            "a registration challenge cannot sign in"
        );
        assert_eq!(take("h1", "register", 10), Some(Some("u1".into())));
        assert_eq!(take("h1", "register", 10), None, "single use");
        assert_eq!(take("h2", "authenticate", 100), None, "expired");
    }

    #[test]
    fn a_passkey_counter_only_grows_and_the_last_way_to_sign_in_stays() {
        let db = with_user();
        let add_capped = |id: &str, cred: &str, cap: i64| -> Option<String> {
            db.query_row(
                super::passkeys::INSERT,
                rusqlite::params![id, "u1", cred, "k", -7, 5, "[]", "n", "a", 0, 0, 1, "u1", cap],
                |r| r.get(0),
            )
            .ok()
        };
        let add = |id: &str, cred: &str| add_capped(id, cred, 20);
        assert_eq!(add("p1", "c1").as_deref(), Some("p1"));
        assert_eq!(add("p2", "c1"), None, "a credential id is registered once");
        assert_eq!(
            add_capped("p2", "c2", 1),
            None,
            "a user at the cap adds none"
        );
        let count: i64 = db
            .query_row(super::passkeys::COUNT_OF_USER, ["u1"], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1);
        let used = |count: i64| {
            db.execute(
                super::passkeys::RECORD_USE,
                rusqlite::params![count, 0, 2, "p1", count, count],
            )
            .unwrap()
        };
        assert_eq!(used(5), 0, "the same count again");
        assert_eq!(used(4), 0);
        assert_eq!(used(6), 1);
        assert_eq!(used(0), 0);
        let delete = |id: &str| -> Option<String> {
            db.query_row(
                super::passkeys::DELETE_IF_NOT_LAST,
                rusqlite::params![id, "u1", "u1", "u1", "u1", "u1"],
                |r| r.get(0),
            )
            .ok()
        };
        db.execute("UPDATE users SET password_hash = '' WHERE id = 'u1'", [])
            .unwrap();
        assert_eq!(add("p2", "c2").as_deref(), Some("p2"));
        assert_eq!(delete("p1").as_deref(), Some("p1"));
        assert_eq!(
            delete("p2"),
            None,
            "no password, no identity: the last passkey stays"
        );
        db.execute("UPDATE users SET password_hash = 'h' WHERE id = 'u1'", [])
            .unwrap();
        assert_eq!(delete("p2").as_deref(), Some("p2"));
    }

    #[test]
    fn an_oauth_state_is_taken_once() {
        let db = migrated();
        db.execute(
            super::oauth_states::INSERT,
            rusqlite::params![
                "h",
                "corp",
                "https://a/cb",
                "bearer",
                "n",
                "v",
                None::<String>,
                None::<String>,
                None::<String>,
                1,
                600
            ],
        )
        .unwrap();
        let take = |provider: &str| -> Option<String> {
            db.query_row(
                super::oauth_states::TAKE,
                rusqlite::params!["h", provider],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(take("other"), None, "bound to its provider");
        assert_eq!(take("corp").as_deref(), Some("https://a/cb"));
        assert_eq!(take("corp"), None);
    }

    #[test]
    fn a_verification_token_redeems_once() {
        let db = with_user();
        db.execute(
            super::email_tokens::INSERT_FOR_NEW_USER,
            rusqlite::params!["t1", 1, 100, "u1"],
        )
        .unwrap();
        let redeem = |now: i64| -> Option<String> {
            db.query_row(
                super::email_tokens::REDEEM,
                rusqlite::params![now, "t1", "verify_email", now],
                |r| r.get(0),
            )
            .ok()
        };
        let verify = || -> Option<String> {
            db.query_row(
                super::users::VERIFY_BY_USED_TOKEN,
                rusqlite::params![5, "t1", 5],
                |r| r.get(3),
            )
            .ok()
        };
        assert_eq!(redeem(5).as_deref(), Some("u1"));
        assert_eq!(verify().as_deref(), Some("active"));
        // A second redemption in the same second changes nothing, so the user is not touched
        // again (the batch's second statement is guarded by changes()).
        assert_eq!(redeem(5), None, "second use");
        assert_eq!(verify(), None);
    }

    #[test]
    fn a_stale_version_patches_nothing() {
        let db = with_user();
        let patch = |version: i64| -> Option<i64> {
            db.query_row(
                super::users::PATCH_PROFILE,
                rusqlite::params![
                    1,
                    "Ada",
                    0,
                    None::<String>,
                    0,
                    None::<String>,
                    0,
                    None::<String>,
                    2,
                    "u1",
                    version
                ],
                |r| r.get(6),
            )
            .ok()
        };
        assert_eq!(patch(1), Some(2));
        assert_eq!(
            patch(1),
            None,
            "the same expected version loses the second time"
        );
    }

    #[test]
    fn preference_patches_merge() {
        let db = with_user();
        let patch = |p: &str| -> String {
            db.query_row(
                super::users::PATCH_PREFERENCES,
                rusqlite::params![p, 2, "u1"],
                |r| r.get(0),
            )
            .unwrap()
        };
        patch(r#"{"email":{"weekly_digest":true}}"#);
        let merged = patch(r#"{"push":{"job_updates":false}}"#);
        assert_eq!(
            merged,
            r#"{"email":{"weekly_digest":true},"push":{"job_updates":false}}"#
        );
    }

    #[test]
    fn an_overdraft_fails_the_batch_and_moves_nothing() {
        let mut db = migrated();
        let tx = db.transaction().unwrap();
        tx.execute(super::credits::CREDIT, rusqlite::params!["a", 5, 1])
            .unwrap();
        tx.commit().unwrap();
        let tip = |db: &mut Connection, from: &str, amount: i64| -> rusqlite::Result<()> {
            let tx = db.transaction()?;
            tx.execute(super::credits::ENSURE, rusqlite::params![from, 2])?;
            tx.execute(super::credits::DEBIT, rusqlite::params![amount, 2, from])?;
            tx.execute(super::credits::CREDIT, rusqlite::params!["b", amount, 2])?;
            tx.commit()
        };
        assert!(tip(&mut db, "a", 3).is_ok());
        let overdraft = tip(&mut db, "a", 3).expect_err("2 left, 3 asked");
        let violation = Violation::parse(&overdraft.to_string());
        assert!(
            violation
                .as_ref()
                .is_some_and(|v| v.is_check(BALANCE_NOT_NEGATIVE)),
            "{overdraft} read as {violation:?}"
        );
        assert!(
            tip(&mut db, "c", 1).is_err(),
            "a user without credits cannot go negative either"
        );
        let balance = |u: &str| -> i64 {
            db.query_row(super::credits::BALANCE, [u], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((balance("a"), balance("b")), (2, 3));
    }

    #[test]
    fn a_violation_is_read_exactly_from_the_message_sqlite_and_d1_give() {
        let d1 = "D1_ERROR: CHECK constraint failed: balance_not_negative: SQLITE_CONSTRAINT";
        assert_eq!(
            Violation::parse(d1),
            Some(Violation::Check(BALANCE_NOT_NEGATIVE.into()))
        );
        // An unnamed CHECK elsewhere (SQLite quotes its expression) is not the overdraft guard.
        let other = Violation::parse("CHECK constraint failed: amount > 0").unwrap();
        assert!(!other.is_check(BALANCE_NOT_NEGATIVE));
        let unique = "D1_ERROR: UNIQUE constraint failed: idempotency_keys.user_id, idempotency_keys.scope, idempotency_keys.key: SQLITE_CONSTRAINT";
        assert!(Violation::parse(unique)
            .unwrap()
            .is_unique(IDEMPOTENCY_KEY_TAKEN));
        let ledger = Violation::parse("UNIQUE constraint failed: ledger.ref_id, ledger.kind");
        assert!(!ledger.unwrap().is_unique(IDEMPOTENCY_KEY_TAKEN));
        assert_eq!(Violation::parse("D1_ERROR: database is locked"), None);
    }

    #[test]
    fn a_duplicate_idempotency_key_is_reported_by_its_exact_columns() {
        let db = migrated();
        let remember = |key: &str| {
            db.execute(
                "INSERT INTO idempotency_keys (user_id, scope, key, fingerprint, status, body, created_at) VALUES ('u', 'tip', ?, 'f', 201, '{}', 1)",
                [key],
            )
        };
        remember("k").unwrap();
        let taken = remember("k").unwrap_err().to_string();
        assert!(
            Violation::parse(&taken).is_some_and(|v| v.is_unique(IDEMPOTENCY_KEY_TAKEN)),
            "{taken}"
        );
    }

    #[test]
    fn the_remembered_body_embeds_the_balance_after() {
        let db = migrated();
        db.execute(super::credits::CREDIT, rusqlite::params!["a", 7, 1])
            .unwrap();
        let (status, body): (i64, String) = db
            .query_row(
                super::credits::REMEMBER,
                rusqlite::params!["a", "grant", "k1", "fp", 201, r#"{"granted":7}"#, "a", 1],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(status, 201);
        assert_eq!(body, r#"{"granted":7,"balance":7}"#);
        let again = db.query_row(
            super::credits::REMEMBER,
            rusqlite::params!["a", "grant", "k1", "fp", 201, "{}", "a", 1],
            |r| r.get::<_, i64>(0),
        );
        assert!(again.is_err(), "a key is remembered once");
    }

    fn job_db(balance: i64) -> Connection {
        let db = with_user();
        if balance > 0 {
            db.execute(super::credits::CREDIT, rusqlite::params!["u1", balance, 1])
                .unwrap();
        }
        db.query_row(
            super::jobs::INSERT,
            rusqlite::params![
                "j1",
                "u1",
                "render_svg",
                "{}",
                3,
                1,
                "k1",
                "h",
                1,
                1,
                "u1",
                10
            ],
            |_| Ok(()),
        )
        .unwrap();
        db
    }

    /// The claim batch as the consumer sends it; returns whether it claimed.
    fn claim(db: &mut Connection) -> rusqlite::Result<bool> {
        let tx = db.transaction()?;
        tx.execute(super::credits::ENSURE, rusqlite::params!["u1", 2])?;
        let claimed = tx.execute(super::jobs::CLAIM_CHARGING, rusqlite::params![2, "j1"])?;
        tx.execute(super::jobs::DEBIT_IF_CLAIMED, rusqlite::params![1, 2, "u1"])?;
        tx.execute(
            super::jobs::CHARGE_IF_DEBITED,
            rusqlite::params!["e1", "u1", -1, "j1", 2],
        )?;
        tx.commit()?;
        Ok(claimed == 1)
    }

    fn ledger(db: &Connection, kind: &str) -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM ledger WHERE ref_id = 'j1' AND kind = ?",
            [kind],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_job_is_claimed_and_charged_once_however_often_it_is_delivered() {
        let mut db = job_db(5);
        assert!(claim(&mut db).unwrap());
        assert!(!claim(&mut db).unwrap(), "a redelivery claims nothing");
        assert_eq!(ledger(&db, "job_charge"), 1);
        let balance: i64 = db
            .query_row(super::credits::BALANCE, ["u1"], |r| r.get(0))
            .unwrap();
        assert_eq!(balance, 4);
    }

    #[test]
    fn an_unfunded_claim_rolls_back_whole() {
        let mut db = job_db(0);
        assert!(claim(&mut db).is_err(), "the overdraft aborts the batch");
        let status: String = db
            .query_row("SELECT status FROM jobs WHERE id = 'j1'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "queued");
        assert_eq!(ledger(&db, "job_charge"), 0);
    }

    #[test]
    fn giving_up_refunds_once() {
        let mut db = job_db(5);
        claim(&mut db).unwrap();
        let give_up = |db: &mut Connection| -> usize {
            let tx = db.transaction().unwrap();
            let n = tx
                .execute(
                    super::jobs::GIVE_UP,
                    rusqlite::params!["boom", 3, 3, "j1", 1],
                )
                .unwrap();
            tx.execute(super::jobs::REFUND_IF_FAILED, rusqlite::params!["u1", 1, 3])
                .unwrap();
            tx.execute(
                super::jobs::REFUND_ENTRY_IF_CREDITED,
                rusqlite::params!["r1", "u1", 1, "j1", 3],
            )
            .unwrap();
            tx.commit().unwrap();
            n
        };
        assert_eq!(give_up(&mut db), 1);
        assert_eq!(give_up(&mut db), 0);
        assert_eq!(ledger(&db, "job_refund"), 1);
        let balance: i64 = db
            .query_row(super::credits::BALANCE, ["u1"], |r| r.get(0))
            .unwrap();
        assert_eq!(balance, 5);
    }

    /// The purge batch as the cron sends it for u1 (pending deletion, due at 10) at `now`.
    fn purge(db: &mut Connection, now: i64) -> usize {
        use super::purge::*;
        let alias = crate::core::audit::pseudonym("u1");
        let tx = db.transaction().unwrap();
        tx.execute(
            IDEMPOTENCY_MENTIONS,
            rusqlite::params!["u1", alias, "u1", "u1", now, 0],
        )
        .unwrap();
        for sql in [LEDGER, BALANCE, TIPS_SENT, TIPS_RECEIVED] {
            tx.execute(sql, rusqlite::params![alias, "u1", "u1", now, 0])
                .unwrap();
        }
        for sql in [
            IDEMPOTENCY_KEYS,
            TICKETS,
            CHAT_PARTICIPATION,
            DEV_MAIL,
            DEAD_LETTERS,
            WORKSPACE_INVITATIONS,
        ] {
            tx.execute(sql, rusqlite::params!["u1", "u1", now, 0])
                .unwrap();
        }
        tx.execute(
            WORKSPACE_SUCCESSION,
            rusqlite::params!["u1", "u1", "u1", "u1", now, 0],
        )
        .unwrap();
        tx.execute(
            SOLE_MEMBER_WORKSPACES,
            rusqlite::params![now, "u1", "u1", "u1", now, 0],
        )
        .unwrap();
        let deleted = tx
            .execute(super::users::DELETE_IF_DUE, rusqlite::params!["u1", now, 0])
            .unwrap();
        tx.commit().unwrap();
        deleted
    }

    fn count(db: &Connection, sql: &str) -> i64 {
        db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn purgeable_user() -> Connection {
        let db = with_user();
        db.execute_batch(
            "UPDATE users SET status = 'pending_deletion', deletion_due_at = 10 WHERE id = 'u1';
             INSERT INTO balances VALUES ('u1', 3, 1), ('u2', 2, 1);
             INSERT INTO ledger (id, user_id, kind, amount, ref_id, created_at) VALUES
               ('l1', 'u1', 'grant', 5, NULL, 1), ('l2', 'u1', 'tip_sent', -2, 't1', 2),
               ('l3', 'u2', 'tip_received', 2, 't1', 2);
             INSERT INTO tips VALUES ('t1', 's1', 'u1', 'u2', 2, 'gg', 2), ('t2', 's1', 'u2', 'u1', 1, NULL, 3);
             INSERT INTO idempotency_keys VALUES ('u1', 'tip', 'k', 'f', 201, '{}', 1),
               ('u2', 'tip', 'k', 'f', 201, '{\"tip\":{\"to_user_id\":\"u1\"}}', 1);
             INSERT INTO realtime_tickets VALUES ('h', 'u1', 's', 100, NULL);
             INSERT INTO chat_participants VALUES ('u1', 's1', 1);
             INSERT INTO dev_mailbox VALUES ('m1', 'a@example.test', 's', 't', 'h', 1);
             INSERT INTO dead_letters VALUES ('d1', 'edgeward-email', '{\"to\":\"a@example.test\"}', 1),
               ('d2', 'edgeward-jobs-dlq', 'not json', 1);
             INSERT INTO users (id, email, password_hash, status, email_verified, created_at, updated_at, version)
               VALUES ('u3', 'c@example.test', 'h', 'active', 1, 1, 1, 1), ('u4', 'd@example.test', 'h', 'active', 1, 1, 1, 1);
             INSERT INTO workspaces (id, name, created_at, updated_at) VALUES ('w1', 'W', 1, 1), ('w2', 'Shared', 1, 1),
               ('w3', 'Co-admined', 1, 1);
             INSERT INTO workspace_members (workspace_id, user_id, role, joined_at, updated_at)
               VALUES ('w1', 'u1', 'admin', 1, 1), ('w2', 'u1', 'admin', 1, 1), ('w2', 'u3', 'member', 2, 2),
                      ('w2', 'u4', 'member', 3, 3), ('w3', 'u1', 'admin', 1, 1), ('w3', 'u4', 'admin', 1, 1),
                      ('w3', 'u3', 'member', 2, 2);
             INSERT INTO workspace_invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at)
               VALUES ('i1', 'w1', 'a@example.test', 'member', 'th1', 'u1', 1, 100),
                      ('i2', 'w1', 'b@example.test', 'member', 'th2', 'u1', 1, 100);",
        )
        .unwrap();
        db
    }

    #[test]
    fn a_purge_keeps_ledger_and_tips_under_the_pseudonym_and_nothing_that_names_the_user() {
        let mut db = purgeable_user();

        assert_eq!(purge(&mut db, 10), 1);

        let alias = crate::core::audit::pseudonym("u1");
        let renamed = |sql: &str| -> i64 { db.query_row(sql, [&alias], |r| r.get(0)).unwrap() };
        assert_eq!(renamed("SELECT COUNT(*) FROM ledger WHERE user_id = ?"), 2);
        assert_eq!(renamed("SELECT balance FROM balances WHERE user_id = ?"), 3);
        assert_eq!(
            renamed("SELECT COUNT(*) FROM tips WHERE from_user_id = ?1 OR to_user_id = ?1"),
            2
        );
        for sql in [
            "SELECT COUNT(*) FROM ledger WHERE user_id = 'u1'",
            "SELECT COUNT(*) FROM balances WHERE user_id = 'u1'",
            "SELECT COUNT(*) FROM tips WHERE from_user_id = 'u1' OR to_user_id = 'u1'",
            "SELECT COUNT(*) FROM idempotency_keys WHERE user_id = 'u1' OR body LIKE '%u1%'",
            "SELECT COUNT(*) FROM realtime_tickets",
            "SELECT COUNT(*) FROM chat_participants",
            "SELECT COUNT(*) FROM dev_mailbox",
            "SELECT COUNT(*) FROM dead_letters WHERE id = 'd1'",
            "SELECT COUNT(*) FROM users WHERE id = 'u1'",
            "SELECT COUNT(*) FROM workspace_members WHERE user_id = 'u1'",
            "SELECT COUNT(*) FROM workspace_invitations WHERE email = 'a@example.test' OR invited_by = 'u1'",
        ] {
            assert_eq!(count(&db, sql), 0, "{sql}");
        }
        // Others' rows are untouched, a dead letter that is not JSON included.
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM ledger WHERE user_id = 'u2'"),
            1
        );
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM dead_letters WHERE id = 'd2'"),
            1
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM workspace_invitations WHERE id = 'i2'"
            ),
            1,
            "an invitation it sent to someone else stays, without its name"
        );
        // Its workspaces keep an admin: the longest-standing member where it was the only one.
        let admins = |ws: &str| -> Vec<String> {
            let mut stmt = db
                .prepare("SELECT user_id FROM workspace_members WHERE workspace_id = ? AND role = 'admin' ORDER BY user_id")
                .unwrap();
            stmt.query_map([ws], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(admins("w2"), ["u3"]);
        assert_eq!(
            admins("w3"),
            ["u4"],
            "another admin was there: nobody promoted"
        );
        // The workspace it was alone in goes with it.
        let status = |ws: &str| -> String {
            db.query_row("SELECT status FROM workspaces WHERE id = ?", [ws], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(
            (status("w1"), status("w2"), status("w3")),
            ("pending_deletion".into(), "active".into(), "active".into())
        );
    }

    #[test]
    fn a_purge_of_an_account_no_longer_due_changes_nothing() {
        let mut db = purgeable_user();

        assert_eq!(purge(&mut db, 9), 0, "not due before its date");

        for sql in [
            "SELECT COUNT(*) FROM ledger WHERE user_id = 'u1'",
            "SELECT COUNT(*) FROM tips WHERE from_user_id = 'u1'",
            "SELECT COUNT(*) FROM idempotency_keys WHERE body LIKE '%u1%'",
            "SELECT COUNT(*) FROM chat_participants",
            "SELECT COUNT(*) FROM dev_mailbox",
            "SELECT COUNT(*) FROM users",
        ] {
            assert_ne!(count(&db, sql), 0, "{sql}");
        }
    }

    #[test]
    fn a_totp_step_is_accepted_once_and_only_above_the_last_used_one() {
        let db = with_user();
        let start = |sealed: &str| -> bool {
            db.query_row(
                super::totp_factors::START,
                rusqlite::params!["u1", sealed, 10],
                |_| Ok(()),
            )
            .is_ok()
        };
        assert!(start("s1"));
        assert!(start("s2"), "a pending enrolment restarts");
        let accept = |step: i64| {
            db.execute(
                super::totp_factors::ACCEPT_STEP,
                rusqlite::params![step, "u1", step],
            )
            .unwrap()
        };
        assert_eq!(accept(5), 0, "a pending factor accepts nothing");
        let confirm = |step: i64| {
            db.execute(
                super::totp_factors::CONFIRM,
                rusqlite::params![20, step, "u1", step],
            )
            .unwrap()
        };
        assert_eq!(confirm(100), 1);
        assert_eq!(confirm(101), 0, "confirmed once");
        assert!(
            !start("s3"),
            "a confirmed factor is not replaced by a new enrolment"
        );
        assert_eq!(accept(100), 0, "the confirming code's step is used");
        assert_eq!(accept(101), 1);
        assert_eq!(accept(101), 0, "replay");
        assert_eq!(accept(100), 0, "older");
        let sealed: String = db
            .query_row(super::totp_factors::BY_USER, ["u1"], |r| r.get(0))
            .unwrap();
        assert_eq!(sealed, "s2");
    }

    #[test]
    fn recovery_codes_come_only_with_the_confirmation_that_won_and_are_single_use() {
        let db = with_user();
        db.query_row(
            super::totp_factors::START,
            rusqlite::params!["u1", "s", 10],
            |_| Ok(()),
        )
        .unwrap();
        let confirm_with_codes = |codes: &str| -> usize {
            db.execute(
                super::totp_factors::CONFIRM,
                rusqlite::params![20, 7, "u1", 7],
            )
            .unwrap();
            db.execute(
                super::recovery_codes::INSERT_AFTER_CONFIRM,
                rusqlite::params!["u1", codes],
            )
            .unwrap()
        };
        assert_eq!(confirm_with_codes(r#"["h1","h2"]"#), 2);
        assert_eq!(
            confirm_with_codes(r#"["h3","h4"]"#),
            0,
            "the losing confirmation adds none"
        );
        let use_code = |h: &str| {
            db.execute(super::recovery_codes::USE, rusqlite::params![30, "u1", h])
                .unwrap()
        };
        assert_eq!(use_code("h1"), 1);
        assert_eq!(use_code("h1"), 0, "single use");
        assert_eq!(use_code("h3"), 0);
    }

    #[test]
    fn an_mfa_challenge_survives_its_attempts_and_no_more_and_is_consumed_once() {
        let db = with_user();
        db.execute(
            super::mfa_challenges::INSERT,
            rusqlite::params!["c1", "u1", "bearer", None::<String>, 2, 0, 100],
        )
        .unwrap();
        let take = |now: i64| -> bool {
            db.query_row(
                super::mfa_challenges::TAKE_ATTEMPT,
                rusqlite::params!["c1", now],
                |_| Ok(()),
            )
            .is_ok()
        };
        assert!(!take(100), "expired");
        assert!(take(10));
        assert!(take(10));
        assert!(!take(10), "attempts spent");
        db.execute(
            super::mfa_challenges::INSERT,
            rusqlite::params!["c2", "u1", "cookie", "laptop", 3, 0, 100],
        )
        .unwrap();
        let consume = || {
            db.query_row(super::mfa_challenges::CONSUME, ["c2"], |_| Ok(()))
                .is_ok()
        };
        assert!(consume());
        assert!(!consume(), "single use");
        assert_eq!(
            db.execute(
                super::mfa_challenges::PURGE_EXPIRED,
                rusqlite::params![100, 10]
            )
            .unwrap(),
            1
        );
    }

    #[test]
    fn an_expired_token_does_not_redeem() {
        let db = with_user();
        db.execute(
            super::email_tokens::INSERT_FOR_NEW_USER,
            rusqlite::params!["t1", 1, 100, "u1"],
        )
        .unwrap();
        let redeemed: Result<String, _> = db.query_row(
            super::email_tokens::REDEEM,
            rusqlite::params![100, "t1", "verify_email", 100],
            |r| r.get(0),
        );
        assert_eq!(redeemed, Err(rusqlite::Error::QueryReturnedNoRows));
    }

    #[test]
    fn a_ticket_over_the_cap_inserts_nothing() {
        let db = with_user();
        let ticket = |hash: &str, now: i64| -> bool {
            db.query_row(
                super::tickets::INSERT,
                rusqlite::params![hash, "u1", "s1", now + 30, "u1", now, 2],
                |_| Ok(()),
            )
            .is_ok()
        };
        assert!(ticket("t1", 0));
        assert!(ticket("t2", 0));
        assert!(!ticket("t3", 0), "two open tickets is the cap");
        db.query_row(
            super::tickets::REDEEM,
            rusqlite::params![1, "t1", 1],
            |_| Ok(()),
        )
        .unwrap();
        assert!(ticket("t3", 1), "a used ticket frees its slot");
        assert!(!ticket("t4", 1));
        assert!(ticket("t4", 31), "so do expired ones");
    }

    #[test]
    fn a_job_over_the_cap_of_unfinished_jobs_inserts_nothing_but_a_replay_is_found() {
        let db = with_user();
        let submit = |id: &str, key: &str| -> Option<String> {
            db.query_row(
                super::jobs::INSERT,
                rusqlite::params![id, "u1", "render_svg", "{}", 3, 1, key, "h", 1, 1, "u1", 2],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(submit("j1", "k1").as_deref(), Some("j1"));
        assert_eq!(submit("j2", "k2").as_deref(), Some("j2"));
        assert_eq!(submit("j3", "k3"), None, "two unfinished jobs is the cap");
        assert_eq!(
            submit("j9", "k1"),
            None,
            "a repeated key inserts nothing either"
        );
        let by_key: String = db
            .query_row(super::jobs::BY_KEY, ["u1", "k1"], |r| r.get(0))
            .unwrap();
        assert_eq!(by_key, "j1");
        db.execute("UPDATE jobs SET status = 'succeeded' WHERE id = 'j1'", [])
            .unwrap();
        assert_eq!(
            submit("j3", "k3").as_deref(),
            Some("j3"),
            "a finished job frees its slot"
        );
    }

    #[test]
    fn a_live_stream_over_the_cap_inserts_nothing_until_one_ends() {
        let db = with_user();
        let create = |id: &str| -> Option<String> {
            db.query_row(
                super::streams::INSERT,
                rusqlite::params![id, "u1", "t", None::<String>, 1, 1, "u1", 2],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(create("s1").as_deref(), Some("s1"));
        assert_eq!(create("s2").as_deref(), Some("s2"));
        assert_eq!(create("s3"), None, "two live streams is the cap");
        db.query_row(
            super::streams::END,
            rusqlite::params![2, 2, "s1", "u1"],
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(create("s3").as_deref(), Some("s3"));
    }

    #[test]
    fn a_socket_over_the_cap_gets_no_row_until_one_closes() {
        let db = migrated();
        let open = |id: &str| -> usize {
            db.execute(
                super::sockets::OPEN,
                rusqlite::params![id, "u1", "room:s1", 1, "u1", 2],
            )
            .unwrap()
        };
        assert_eq!(open("w1"), 1);
        assert_eq!(open("w2"), 1);
        assert_eq!(open("w3"), 0, "two open sockets is the cap");
        db.execute(super::sockets::CLOSE, ["w1"]).unwrap();
        assert_eq!(open("w3"), 1);
    }

    /// A migrated database with users u1..u3 and workspace w1 whose admins are u1 and u2 and
    /// whose member is u3.
    fn workspace_db() -> Connection {
        let db = migrated();
        for (id, email) in [
            ("u1", "a@x.test"),
            ("u2", "b@x.test"),
            ("u3", "c@x.test"),
            ("u4", "d@y.test"),
        ] {
            db.query_row(
                super::users::INSERT,
                rusqlite::params![id, email, "h", None::<String>, 1, 1],
                |_| Ok(()),
            )
            .unwrap();
        }
        db.execute(
            super::workspaces::INSERT,
            rusqlite::params!["w1", "Acme", None::<String>, None::<String>, "x.test", 1, 1],
        )
        .unwrap();
        db.execute(
            super::workspaces::ADD_CREATOR,
            rusqlite::params!["w1", "u1", 1, 1],
        )
        .unwrap();
        db.execute(
            super::workspaces::ADD_CREATOR,
            rusqlite::params!["w1", "u2", 1, 1],
        )
        .unwrap();
        db.execute(
            super::workspace_members::AUTO_JOIN,
            rusqlite::params!["u3", 1, 1, "w1", "x.test"],
        )
        .unwrap();
        db
    }

    fn set_role(db: &Connection, actor: &str, target: &str, role: &str) -> usize {
        db.execute(
            super::workspace_members::SET_ROLE,
            rusqlite::params![role, 2, "w1", target, actor, role],
        )
        .unwrap()
    }

    fn remove(db: &Connection, actor: &str, target: &str) -> usize {
        db.execute(
            super::workspace_members::REMOVE,
            rusqlite::params!["w1", target, actor, actor],
        )
        .unwrap()
    }

    fn admins(db: &Connection) -> i64 {
        count(
            db,
            "SELECT COUNT(*) FROM workspace_members WHERE workspace_id = 'w1' AND role = 'admin'",
        )
    }

    #[test]
    fn two_admins_demoting_each_other_leave_one_admin_in_either_order() {
        for (first, second) in [("u1", "u2"), ("u2", "u1")] {
            let db = workspace_db();
            assert_eq!(set_role(&db, first, second, "member"), 1);
            // The other's demotion comes second: its actor is no admin and one admin is left.
            assert_eq!(set_role(&db, second, first, "member"), 0);
            assert_eq!(admins(&db), 1);
        }
    }

    #[test]
    fn the_last_admin_can_neither_be_demoted_nor_removed_nor_leave() {
        let db = workspace_db();
        assert_eq!(remove(&db, "u1", "u2"), 1, "an admin removes another admin");
        assert_eq!(set_role(&db, "u1", "u1", "member"), 0);
        assert_eq!(remove(&db, "u1", "u1"), 0, "the last admin cannot leave");
        assert_eq!(admins(&db), 1);
        // A member cannot change roles or remove others, but can leave.
        assert_eq!(set_role(&db, "u3", "u3", "admin"), 0);
        assert_eq!(remove(&db, "u3", "u1"), 0);
        assert_eq!(remove(&db, "u3", "u3"), 1);
        // Promoting is never limited by the guard.
        db.execute(
            super::workspace_members::AUTO_JOIN,
            rusqlite::params!["u3", 3, 3, "w1", "x.test"],
        )
        .unwrap();
        assert_eq!(set_role(&db, "u1", "u3", "admin"), 1);
        assert_eq!(
            set_role(&db, "u1", "u1", "member"),
            1,
            "another admin remains"
        );
        assert_eq!(admins(&db), 1);
    }

    #[test]
    fn a_workspace_pending_deletion_takes_no_changes_and_is_purged_when_due() {
        let db = workspace_db();
        assert_eq!(
            db.execute(
                super::workspaces::REQUEST_DELETION,
                rusqlite::params![100, 2, "w1", "u3"]
            )
            .unwrap(),
            0,
            "a member cannot delete it"
        );
        assert_eq!(
            db.execute(
                super::workspaces::REQUEST_DELETION,
                rusqlite::params![100, 2, "w1", "u1"]
            )
            .unwrap(),
            1
        );
        assert_eq!(set_role(&db, "u1", "u3", "admin"), 0);
        let role: Option<String> = db
            .query_row(super::workspace_members::ROLE_OF, ["w1", "u1"], |r| {
                r.get(0)
            })
            .ok();
        assert_eq!(role, None, "invisible to its own admin");
        let purge = |now: i64| {
            db.execute(super::workspaces::PURGE_DUE, rusqlite::params![now, 10])
                .unwrap()
        };
        assert_eq!(purge(99), 0);
        assert_eq!(purge(100), 1);
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM workspace_members"),
            0,
            "members cascade"
        );
    }

    #[test]
    fn auto_join_needs_the_domain_and_joins_once() {
        let db = workspace_db();
        let join = |user: &str, domain: &str| {
            db.execute(
                super::workspace_members::AUTO_JOIN,
                rusqlite::params![user, 5, 5, "w1", domain],
            )
            .unwrap()
        };
        assert_eq!(join("u4", "y.test"), 0, "not the workspace's domain");
        assert_eq!(join("u3", "x.test"), 0, "already a member");
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM workspace_members WHERE user_id = 'u3'"
            ),
            1
        );
    }

    fn invite(
        db: &Connection,
        id: &str,
        inviter: &str,
        email: &str,
        hash: &str,
        expires: i64,
    ) -> bool {
        let mut stmt = db.prepare(super::workspace_invitations::INSERT).unwrap();
        let mut rows = stmt
            .query(rusqlite::params![
                id, "w1", email, "member", hash, inviter, 1, expires, "w1", inviter
            ])
            .unwrap();
        rows.next().unwrap().is_some()
    }

    /// ACCEPT and ADD_ACCEPTED in one transaction, as D1 runs a batch.
    fn accept(db: &mut Connection, user: &str, hash: &str, email: &str, now: i64) -> usize {
        let tx = db.transaction().unwrap();
        let used = tx
            .execute(
                super::workspace_invitations::ACCEPT,
                rusqlite::params![now, user, hash, now, email, user],
            )
            .unwrap();
        tx.execute(
            super::workspace_invitations::ADD_ACCEPTED,
            rusqlite::params![user, now, now, hash, user, now],
        )
        .unwrap();
        tx.commit().unwrap();
        used
    }

    #[test]
    fn an_invitation_is_sent_by_admins_only_and_used_once_by_its_address_only() {
        let mut db = workspace_db();
        assert!(
            !invite(&db, "i0", "u3", "d@y.test", "h0", 100),
            "a member cannot invite"
        );
        assert!(invite(&db, "i1", "u1", "d@y.test", "h1", 100));
        assert_eq!(
            accept(&mut db, "u3", "h1", "c@x.test", 10),
            0,
            "another address"
        );
        assert_eq!(accept(&mut db, "u4", "h1", "d@y.test", 100), 0, "expired");
        assert_eq!(accept(&mut db, "u4", "h1", "d@y.test", 10), 1);
        assert_eq!(accept(&mut db, "u4", "h1", "d@y.test", 10), 0, "used");
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM workspace_members WHERE user_id = 'u4' AND role = 'member'"
            ),
            1
        );
        assert!(invite(&db, "i2", "u1", "e@y.test", "h2", 100));
        let revoked: String = db
            .query_row(
                super::workspace_invitations::REVOKE,
                rusqlite::params![5, "i2", "w1"],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(revoked, "i2");
        assert_eq!(accept(&mut db, "u4", "h2", "e@y.test", 10), 0, "revoked");
        // Sweeping: used and revoked ones older than the cutoff go.
        let purged = db
            .execute(
                super::workspace_invitations::PURGE_DEAD,
                rusqlite::params![50, 50, 50, 10],
            )
            .unwrap();
        assert_eq!(purged, 2);
    }
}
