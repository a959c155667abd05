//! Every SQLite statement of the Durable Objects, and each object's schema. An object's own
//! storage module (`edge/objects/<object>/storage.rs`) is the only code that runs them; the
//! tests below apply each schema to an in-memory SQLite and prepare every statement, as the
//! D1 test does for the migrations.
//!
//! A Durable Object's schema is applied by the object itself when it starts (`CREATE … IF NOT
//! EXISTS`), so a change here must stay additive for objects that already hold data.

/// `UserSessions`: a user's sessions, refresh token families, lockout and password stamp.
pub mod user_sessions {
    pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT,
    mirrored INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    used_at INTEGER,
    next_iat INTEGER,
    next_jti TEXT,
    next_kid TEXT
);
CREATE INDEX IF NOT EXISTS refresh_tokens_session ON refresh_tokens (session_id);
CREATE TABLE IF NOT EXISTS lockout (
    k INTEGER PRIMARY KEY CHECK (k = 1),
    failures INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS password_stamp (
    k INTEGER PRIMARY KEY CHECK (k = 1),
    fp TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    session_id TEXT NOT NULL,
    iat INTEGER NOT NULL,
    jti TEXT NOT NULL,
    kid TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
";

    pub const INSERT_SESSION: &str =
        "INSERT INTO sessions (id, secret, created_at, expires_at) VALUES (?, ?, ?, ?)";

    pub const INSERT_TOKEN: &str =
        "INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)";

    pub const SESSION_BY_ID: &str =
        "SELECT id, secret, created_at, expires_at, revoked_at FROM sessions WHERE id = ?";

    pub const SESSION_EXISTS: &str = "SELECT id FROM sessions WHERE id = ?";

    pub const REVOKED_AT: &str = "SELECT revoked_at FROM sessions WHERE id = ?";

    pub const TOKEN_BY_HASH: &str = "SELECT session_id, issued_at, used_at, next_iat, next_jti, next_kid FROM refresh_tokens WHERE hash = ?";

    /// A rotation slid the session's expiry.
    pub const EXTEND: &str = "UPDATE sessions SET expires_at = ? WHERE id = ?";

    /// The presented token is used, and the access stamp its successor was issued with kept (a
    /// replay within the reuse window is answered alike). Only an unused token is marked.
    pub const USE_TOKEN: &str = "UPDATE refresh_tokens SET used_at = ?, next_iat = ?, next_jti = ?, next_kid = ? WHERE hash = ? AND used_at IS NULL";

    /// D1 lacks this session's latest state: pushed by the next flush.
    pub const MARK_UNMIRRORED: &str = "UPDATE sessions SET mirrored = 0 WHERE id = ?";

    pub const MARK_MIRRORED: &str = "UPDATE sessions SET mirrored = 1 WHERE id = ?";

    /// What the next flush pushes to D1.
    pub const UNMIRRORED: &str =
        "SELECT id, expires_at, revoked_at, revoked_reason FROM sessions WHERE mirrored = 0";

    /// Active sessions `REVOKE_ONE` is about to revoke. Parameter: the session id.
    pub const ACTIVE_ONE: &str = "SELECT id FROM sessions WHERE revoked_at IS NULL AND id = ?";

    /// Active sessions `REVOKE_ALL_BUT` is about to revoke. Parameter: the session kept, or
    /// NULL for none (`IS NOT NULL` holds for every id).
    pub const ACTIVE_ALL_BUT: &str =
        "SELECT id FROM sessions WHERE revoked_at IS NULL AND id IS NOT ?";

    /// Parameters: now, reason, session id.
    pub const REVOKE_ONE: &str = "UPDATE sessions SET revoked_at = ?, revoked_reason = ?, mirrored = 0 WHERE revoked_at IS NULL AND id = ?";

    /// Parameters: now, reason, the session kept (or NULL).
    pub const REVOKE_ALL_BUT: &str = "UPDATE sessions SET revoked_at = ?, revoked_reason = ?, mirrored = 0 WHERE revoked_at IS NULL AND id IS NOT ?";

    /// A session that never reached D1 (its token was never handed out).
    pub const FORGET_TOKENS_OF: &str = "DELETE FROM refresh_tokens WHERE session_id = ?";
    pub const FORGET_SESSION: &str = "DELETE FROM sessions WHERE id = ?";

    /// Sessions D1 has seen end before the horizon (parameters: horizon, horizon), at most 50
    /// per call; tokens first, while their sessions still name them.
    pub const PRUNE_TOKENS: &str = "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE mirrored = 1 AND (expires_at < ? OR revoked_at < ?) LIMIT 50)";
    pub const PRUNE_SESSIONS: &str = "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE mirrored = 1 AND (expires_at < ? OR revoked_at < ?) LIMIT 50)";

    pub const LOCKOUT: &str = "SELECT failures, locked_until FROM lockout WHERE k = 1";

    pub const SAVE_LOCKOUT: &str = "INSERT INTO lockout (k, failures, locked_until) VALUES (1, ?, ?) \
         ON CONFLICT (k) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until";

    /// The clean slate (`core::lockout::State::default()`) is stored as no row.
    pub const CLEAR_LOCKOUT: &str = "DELETE FROM lockout";

    pub const PASSWORD_STAMP: &str = "SELECT fp FROM password_stamp WHERE k = 1";

    pub const SET_PASSWORD_STAMP: &str =
        "INSERT INTO password_stamp (k, fp) VALUES (1, ?) ON CONFLICT (k) DO UPDATE SET fp = excluded.fp";

    /// An idempotent login's key, the session it opened and that session's first access
    /// stamp (a replay hands both over again). A key reused after its lifetime starts over.
    /// Parameters: key, fingerprint, session id, iat, jti, kid, now.
    pub const REMEMBER_LOGIN_KEY: &str = "INSERT INTO login_keys (key, fingerprint, session_id, iat, jti, kid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, session_id = excluded.session_id, \
         iat = excluded.iat, jti = excluded.jti, kid = excluded.kid, created_at = excluded.created_at";

    /// A login key remembered after the parameter (its lifetime's start), with the state of its
    /// session (NULLs once the session is forgotten). Parameters: key, lifetime start.
    pub const LOGIN_KEY: &str = "SELECT k.fingerprint, k.session_id, k.iat, k.jti, k.kid, s.secret, s.expires_at, s.revoked_at \
         FROM login_keys k LEFT JOIN sessions s ON s.id = k.session_id WHERE k.key = ? AND k.created_at > ?";

    /// Forgets login keys remembered at or before the parameter.
    pub const PRUNE_LOGIN_KEYS: &str = "DELETE FROM login_keys WHERE created_at <= ?";

    /// Every statement above, for the test that prepares them.
    #[cfg(test)]
    pub const ALL: &[&str] = &[
        INSERT_SESSION,
        INSERT_TOKEN,
        SESSION_BY_ID,
        SESSION_EXISTS,
        REVOKED_AT,
        TOKEN_BY_HASH,
        EXTEND,
        USE_TOKEN,
        MARK_UNMIRRORED,
        MARK_MIRRORED,
        UNMIRRORED,
        ACTIVE_ONE,
        ACTIVE_ALL_BUT,
        REVOKE_ONE,
        REVOKE_ALL_BUT,
        FORGET_TOKENS_OF,
        FORGET_SESSION,
        PRUNE_TOKENS,
        PRUNE_SESSIONS,
        LOCKOUT,
        SAVE_LOCKOUT,
        CLEAR_LOCKOUT,
        PASSWORD_STAMP,
        SET_PASSWORD_STAMP,
        REMEMBER_LOGIN_KEY,
        LOGIN_KEY,
        PRUNE_LOGIN_KEYS,
    ];
}

/// `Room`: a stream's chat history, mutes, bans, ended flag and revoked sessions.
pub mod room {
    pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    author_name TEXT,
    text TEXT NOT NULL,
    time_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS muted (user_id TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS banned (user_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (k INTEGER PRIMARY KEY CHECK (k = 1), ended INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_sessions (session_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
";

    pub const INSERT_MESSAGE: &str =
        "INSERT INTO messages (id, author_id, author_name, text, time_ms) VALUES (?, ?, ?, ?, ?)";

    /// Keeps the newest N messages (parameter: N).
    pub const TRIM_MESSAGES: &str =
        "DELETE FROM messages WHERE seq <= (SELECT MAX(seq) FROM messages) - ?";

    /// The newest N messages (parameter: N), oldest first.
    pub const HISTORY: &str = "SELECT id, author_id, author_name, text, time_ms FROM (SELECT * FROM messages ORDER BY seq DESC LIMIT ?) ORDER BY seq";

    /// A purged account: its messages stay under a pseudonym (parameters: pseudonym, user id).
    pub const PSEUDONYMISE_AUTHOR: &str =
        "UPDATE messages SET author_id = ?, author_name = NULL WHERE author_id = ?";

    pub const MUTE: &str = "INSERT INTO muted (user_id, until_ms) VALUES (?, ?) \
         ON CONFLICT (user_id) DO UPDATE SET until_ms = excluded.until_ms";

    pub const UNMUTE: &str = "DELETE FROM muted WHERE user_id = ?";

    pub const MUTED_UNTIL: &str = "SELECT until_ms FROM muted WHERE user_id = ?";

    pub const BAN: &str = "INSERT INTO banned (user_id) VALUES (?) ON CONFLICT DO NOTHING";

    pub const UNBAN: &str = "DELETE FROM banned WHERE user_id = ?";

    pub const IS_BANNED: &str = "SELECT user_id FROM banned WHERE user_id = ?";

    pub const SET_ENDED: &str =
        "INSERT INTO meta (k, ended) VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET ended = 1";

    pub const REMEMBER_REVOKED: &str =
        "INSERT INTO revoked_sessions (session_id, at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING";

    /// Forgets revoked sessions remembered before the parameter (ms).
    pub const FORGET_REVOKED_BEFORE: &str = "DELETE FROM revoked_sessions WHERE at_ms < ?";

    pub const IS_REVOKED: &str = "SELECT session_id FROM revoked_sessions WHERE session_id = ?";

    /// Everything a chat frame's sender is checked against, in one statement instead of four
    /// (the room pays it on every frame): parameters session id, user id, user id.
    pub const SENDER_STANDING: &str = "SELECT \
         EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = ?) AS revoked, \
         EXISTS (SELECT 1 FROM banned WHERE user_id = ?) AS banned, \
         COALESCE((SELECT ended FROM meta WHERE k = 1), 0) AS ended, \
         (SELECT until_ms FROM muted WHERE user_id = ?) AS muted_until_ms";

    #[cfg(test)]
    pub const ALL: &[&str] = &[
        INSERT_MESSAGE,
        TRIM_MESSAGES,
        HISTORY,
        PSEUDONYMISE_AUTHOR,
        MUTE,
        UNMUTE,
        MUTED_UNTIL,
        BAN,
        UNBAN,
        IS_BANNED,
        SET_ENDED,
        REMEMBER_REVOKED,
        FORGET_REVOKED_BEFORE,
        IS_REVOKED,
        SENDER_STANDING,
    ];
}

/// `UserChannel`: the chat rooms a user joined (so a revocation reaches their sockets there).
pub mod user_channel {
    pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rooms (stream_id TEXT PRIMARY KEY, joined_at_ms INTEGER NOT NULL);";

    pub const JOINED: &str = "INSERT INTO rooms (stream_id, joined_at_ms) VALUES (?, ?) \
         ON CONFLICT (stream_id) DO UPDATE SET joined_at_ms = excluded.joined_at_ms";

    /// Keeps the N most recently joined rooms (parameter: N).
    pub const TRIM: &str = "DELETE FROM rooms WHERE stream_id NOT IN \
         (SELECT stream_id FROM rooms ORDER BY joined_at_ms DESC LIMIT ?)";

    pub const ROOMS: &str = "SELECT stream_id FROM rooms";

    pub const FORGET_ALL: &str = "DELETE FROM rooms";

    #[cfg(test)]
    pub const ALL: &[&str] = &[JOINED, TRIM, ROOMS, FORGET_ALL];
}

/// `RateLimiter`: one GCRA arrival time. The table is made on demand (`SCHEMA` before every
/// read), since the object's expiry deletes all of its storage.
pub mod rate_limiter {
    pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS bucket (k INTEGER PRIMARY KEY CHECK (k = 1), tat INTEGER NOT NULL)";

    pub const TAT: &str = "SELECT tat FROM bucket WHERE k = 1";

    pub const SET_TAT: &str =
        "INSERT INTO bucket (k, tat) VALUES (1, ?) ON CONFLICT (k) DO UPDATE SET tat = excluded.tat";

    #[cfg(test)]
    pub const ALL: &[&str] = &[TAT, SET_TAT];
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{params, Connection};

    /// The objects, each with its schema and its statements.
    const OBJECTS: &[(&str, &str, &[&str])] = &[
        ("user_sessions", user_sessions::SCHEMA, user_sessions::ALL),
        ("room", room::SCHEMA, room::ALL),
        ("user_channel", user_channel::SCHEMA, user_channel::ALL),
        ("rate_limiter", rate_limiter::SCHEMA, rate_limiter::ALL),
    ];

    fn with_schema(schema: &str) -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(schema).unwrap();
        db
    }

    #[test]
    fn each_object_schema_applies_twice_and_every_statement_prepares() {
        for (object, schema, statements) in OBJECTS {
            let db = with_schema(schema);
            // Objects apply their schema at every start.
            db.execute_batch(schema)
                .unwrap_or_else(|e| panic!("{object}: schema is not re-runnable: {e}"));
            for sql in *statements {
                db.prepare(sql)
                    .unwrap_or_else(|e| panic!("{object}: {e}\n{sql}"));
            }
        }
    }

    #[test]
    fn every_statement_constant_is_in_its_objects_list() {
        // A constant left out of `ALL` would never be prepared: count the constants in the
        // source and compare (SCHEMA and ALL itself are not statements).
        let src = include_str!("objects.rs");
        for (object, _, statements) in OBJECTS {
            let start = src.find(&format!("pub mod {object} {{")).unwrap();
            let body = &src[start..];
            let end = body.find("\n}\n").unwrap();
            let declared = body[..end]
                .matches("    pub const ")
                .count()
                .saturating_sub(2);
            assert_eq!(declared, statements.len(), "{object}: ALL is incomplete");
        }
    }

    fn standing(db: &Connection, session_id: &str, user_id: &str) -> (i64, i64, i64, Option<i64>) {
        db.query_row(
            room::SENDER_STANDING,
            params![session_id, user_id, user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    #[test]
    fn a_senders_standing_is_one_row_of_revocation_ban_end_and_mute() {
        let db = with_schema(room::SCHEMA);
        assert_eq!(standing(&db, "s1", "u1"), (0, 0, 0, None), "a fresh room");
        db.execute(room::REMEMBER_REVOKED, params!["s1", 5])
            .unwrap();
        db.execute(room::BAN, params!["u2"]).unwrap();
        db.execute(room::MUTE, params!["u1", 900]).unwrap();
        assert_eq!(standing(&db, "s1", "u1"), (1, 0, 0, Some(900)));
        assert_eq!(
            standing(&db, "s2", "u2"),
            (0, 1, 0, None),
            "another's mute is not theirs"
        );
        db.execute(room::SET_ENDED, []).unwrap();
        assert_eq!(standing(&db, "s3", "u3"), (0, 0, 1, None));
    }

    fn session(db: &Connection, id: &str) {
        db.execute(user_sessions::INSERT_SESSION, params![id, "s", 0, 100])
            .unwrap();
    }

    fn revoked(db: &Connection) -> Vec<String> {
        let mut st = db
            .prepare("SELECT id FROM sessions WHERE revoked_at IS NOT NULL ORDER BY id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn ids(db: &Connection, sql: &str, arg: Option<&str>) -> Vec<String> {
        let mut st = db.prepare(sql).unwrap();
        let args: &[Option<&str>] = if st.parameter_count() == 0 {
            &[]
        } else {
            &[arg]
        };
        let mut v: Vec<String> = st
            .query_map(rusqlite::params_from_iter(args), |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn revoking_all_but_none_revokes_every_active_session_and_keeps_earlier_reasons() {
        let db = with_schema(user_sessions::SCHEMA);
        for id in ["a", "b", "c"] {
            session(&db, id);
        }
        db.execute(user_sessions::REVOKE_ONE, params![5, "logout", "b"])
            .unwrap();
        assert_eq!(
            ids(&db, user_sessions::ACTIVE_ALL_BUT, None),
            ["a", "c"],
            "NULL keeps no session, and the revoked one is not counted again"
        );
        let n = db
            .execute(
                user_sessions::REVOKE_ALL_BUT,
                params![9, "password_changed", None::<String>],
            )
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(revoked(&db), ["a", "b", "c"]);
        let reason: String = db
            .query_row(
                "SELECT revoked_reason FROM sessions WHERE id = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(reason, "logout", "an earlier revocation is left as it was");
    }

    #[test]
    fn revoking_all_but_one_keeps_that_one_and_marks_the_others_for_the_mirror() {
        let db = with_schema(user_sessions::SCHEMA);
        for id in ["a", "b", "c"] {
            session(&db, id);
        }
        assert_eq!(
            ids(&db, user_sessions::ACTIVE_ALL_BUT, Some("b")),
            ["a", "c"]
        );
        db.execute(user_sessions::REVOKE_ALL_BUT, params![9, "x", "b"])
            .unwrap();
        assert_eq!(revoked(&db), ["a", "c"]);
        assert_eq!(
            ids(
                &db,
                "SELECT id FROM sessions WHERE mirrored = 0",
                None::<&str>
            )
            .len(),
            2
        );
        assert_eq!(
            ids(&db, user_sessions::ACTIVE_ONE, Some("a")),
            Vec::<String>::new()
        );
        assert_eq!(ids(&db, user_sessions::ACTIVE_ONE, Some("b")), ["b"]);
    }

    #[test]
    fn a_token_is_used_once_and_its_successor_stamp_kept() {
        let db = with_schema(user_sessions::SCHEMA);
        session(&db, "a");
        db.execute(user_sessions::INSERT_TOKEN, params!["h", "a", 1])
            .unwrap();
        let first = db
            .execute(user_sessions::USE_TOKEN, params![2, 2, "j1", "k1", "h"])
            .unwrap();
        let second = db
            .execute(user_sessions::USE_TOKEN, params![3, 3, "j2", "k1", "h"])
            .unwrap();
        assert_eq!((first, second), (1, 0));
        let jti: String = db
            .query_row(user_sessions::TOKEN_BY_HASH, ["h"], |r| r.get(4))
            .unwrap();
        assert_eq!(jti, "j1");
    }

    #[test]
    fn pruning_forgets_only_mirrored_sessions_that_ended_before_the_horizon() {
        let db = with_schema(user_sessions::SCHEMA);
        // expired long ago / revoked long ago but not yet mirrored / revoked long ago / live
        db.execute(user_sessions::INSERT_SESSION, params!["old", "s", 0, 10])
            .unwrap();
        db.execute(
            user_sessions::INSERT_SESSION,
            params!["pending", "s", 0, 999],
        )
        .unwrap();
        db.execute(user_sessions::REVOKE_ONE, params![10, "x", "pending"])
            .unwrap();
        db.execute(user_sessions::INSERT_SESSION, params!["gone", "s", 0, 999])
            .unwrap();
        db.execute(user_sessions::REVOKE_ONE, params![10, "x", "gone"])
            .unwrap();
        db.execute(user_sessions::MARK_MIRRORED, ["gone"]).unwrap();
        db.execute(user_sessions::INSERT_SESSION, params!["live", "s", 0, 999])
            .unwrap();
        for (hash, sid) in [
            ("h1", "old"),
            ("h2", "pending"),
            ("h3", "gone"),
            ("h4", "live"),
        ] {
            db.execute(user_sessions::INSERT_TOKEN, params![hash, sid, 0])
                .unwrap();
        }
        db.execute(user_sessions::PRUNE_TOKENS, params![100, 100])
            .unwrap();
        db.execute(user_sessions::PRUNE_SESSIONS, params![100, 100])
            .unwrap();
        assert_eq!(
            ids(&db, "SELECT id FROM sessions", None::<&str>),
            ["live", "pending"]
        );
        assert_eq!(
            ids(&db, "SELECT hash FROM refresh_tokens", None::<&str>),
            ["h2", "h4"]
        );
    }

    #[test]
    fn the_lockout_row_is_one_row_that_is_replaced() {
        let db = with_schema(user_sessions::SCHEMA);
        db.execute(user_sessions::SAVE_LOCKOUT, params![1, 0])
            .unwrap();
        db.execute(user_sessions::SAVE_LOCKOUT, params![5, 160])
            .unwrap();
        let row: (u32, i64) = db
            .query_row(user_sessions::LOCKOUT, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(row, (5, 160));
        db.execute(user_sessions::CLEAR_LOCKOUT, []).unwrap();
        assert!(db
            .query_row(user_sessions::LOCKOUT, [], |_| Ok(()))
            .is_err());
    }

    #[test]
    fn a_login_key_is_found_only_within_its_lifetime_and_with_its_sessions_state() {
        let db = with_schema(user_sessions::SCHEMA);
        session(&db, "a");
        let remember = |created_at: i64| {
            db.execute(
                user_sessions::REMEMBER_LOGIN_KEY,
                params!["k", "fp", "a", 1, "j", "kid", created_at],
            )
            .unwrap();
        };
        remember(10);
        remember(20); // the same key again: one row, the newer
        let found = |since: i64| -> Option<(String, Option<String>)> {
            db.query_row(user_sessions::LOGIN_KEY, params!["k", since], |r| {
                Ok((r.get(1)?, r.get(5)?))
            })
            .ok()
        };
        assert_eq!(found(19), Some(("a".into(), Some("s".into()))));
        assert_eq!(
            found(20),
            None,
            "a key remembered at the lifetime's start is over"
        );
        db.execute(user_sessions::FORGET_SESSION, ["a"]).unwrap();
        assert_eq!(
            found(0),
            Some(("a".into(), None)),
            "a forgotten session reads as NULLs"
        );
        db.execute(user_sessions::PRUNE_LOGIN_KEYS, [20]).unwrap();
        assert_eq!(found(0), None);
    }

    #[test]
    fn the_room_keeps_and_replays_its_newest_messages_oldest_first() {
        let db = with_schema(room::SCHEMA);
        for i in 0..5 {
            db.execute(
                room::INSERT_MESSAGE,
                params![format!("m{i}"), "u", None::<String>, "hi", i],
            )
            .unwrap();
            db.execute(room::TRIM_MESSAGES, [3]).unwrap();
        }
        let mut st = db.prepare(room::HISTORY).unwrap();
        let history: Vec<String> = st
            .query_map([2], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(history, ["m3", "m4"]);
        let kept: i64 = db
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 3);
    }

    #[test]
    fn the_channel_remembers_only_its_most_recent_rooms() {
        let db = with_schema(user_channel::SCHEMA);
        for (stream, at) in [("s1", 1), ("s2", 2), ("s3", 3), ("s1", 4)] {
            db.execute(user_channel::JOINED, params![stream, at])
                .unwrap();
            db.execute(user_channel::TRIM, [2]).unwrap();
        }
        assert_eq!(ids(&db, user_channel::ROOMS, None::<&str>), ["s1", "s3"]);
    }
}
