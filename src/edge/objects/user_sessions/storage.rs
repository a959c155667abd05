//! The object's storage: the only code of `UserSessions` that runs SQL
//! (`core::sql::objects::user_sessions`). Every call is synchronous, so a handler's reads and
//! writes between two awaits are one atomic step (see the object's module docs).

use crate::core::error::{AppError, Faulty};
use crate::core::lockout;
use crate::core::session::{AccessStamp, RevokeReason, SessionState, TokenState};
use crate::core::sql::objects::user_sessions as q;
use serde::{de::DeserializeOwned, Deserialize};
use worker::{SqlStorage, SqlStorageValue};

type Result<T> = std::result::Result<T, AppError>;

pub struct Storage(pub SqlStorage);

#[derive(Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub secret: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl SessionRow {
    pub fn state(&self) -> SessionState {
        SessionState {
            id: self.id.clone(),
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }
}

#[derive(Deserialize)]
struct TokenRow {
    session_id: String,
    issued_at: i64,
    used_at: Option<i64>,
    next_iat: Option<i64>,
    next_jti: Option<String>,
    next_kid: Option<String>,
}

/// A session whose revocation or extension D1 has not seen yet.
#[derive(Deserialize)]
pub struct PendingRow {
    pub id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

/// A login key within its lifetime, and the state of the session it opened (`None`s once
/// that session is forgotten).
#[derive(Deserialize)]
pub struct LoginKeyRow {
    pub fingerprint: String,
    pub session_id: String,
    pub iat: i64,
    pub jti: String,
    pub kid: String,
    pub secret: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

impl Storage {
    pub fn create(&self) -> Result<()> {
        self.exec("create", q::SCHEMA, vec![])
    }

    fn exec(&self, op: &'static str, sql: &str, args: Vec<SqlStorageValue>) -> Result<()> {
        let args = (!args.is_empty()).then_some(args);
        self.0.exec(sql, args).map(|_| ()).fault(op)
    }

    fn rows<T: DeserializeOwned>(
        &self,
        op: &'static str,
        sql: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>> {
        let args = (!args.is_empty()).then_some(args);
        self.0.exec(sql, args).and_then(|c| c.to_array()).fault(op)
    }

    fn first<T: DeserializeOwned>(
        &self,
        op: &'static str,
        sql: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Option<T>> {
        Ok(self.rows(op, sql, args)?.into_iter().next())
    }

    /// A new session and its first refresh token (by hash).
    pub fn insert_session(
        &self,
        id: &str,
        secret: &str,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let op = "user_sessions.storage.insert_session";
        self.exec(
            op,
            q::INSERT_SESSION,
            vec![id.into(), secret.into(), now.into(), expires_at.into()],
        )?;
        self.insert_token(token_hash, id, now)
    }

    pub fn insert_token(&self, hash: &str, session_id: &str, now: i64) -> Result<()> {
        self.exec(
            "user_sessions.storage.insert_token",
            q::INSERT_TOKEN,
            vec![hash.into(), session_id.into(), now.into()],
        )
    }

    pub fn session(&self, id: &str) -> Result<Option<SessionRow>> {
        self.first(
            "user_sessions.storage.session",
            q::SESSION_BY_ID,
            vec![id.into()],
        )
    }

    pub fn exists(&self, id: &str) -> Result<bool> {
        let found: Option<IdRow> = self.first(
            "user_sessions.storage.exists",
            q::SESSION_EXISTS,
            vec![id.into()],
        )?;
        Ok(found.is_some())
    }

    pub fn revoked_at(&self, id: &str) -> Result<Option<i64>> {
        #[derive(Deserialize)]
        struct R {
            revoked_at: Option<i64>,
        }
        let row: Option<R> = self.first(
            "user_sessions.storage.revoked_at",
            q::REVOKED_AT,
            vec![id.into()],
        )?;
        Ok(row.and_then(|r| r.revoked_at))
    }

    /// The refresh token with this hash, as `core::session::rotate` sees it.
    pub fn token(&self, hash: &str) -> Result<Option<TokenState>> {
        let row: Option<TokenRow> = self.first(
            "user_sessions.storage.token",
            q::TOKEN_BY_HASH,
            vec![hash.into()],
        )?;
        Ok(row.map(|t| TokenState {
            session_id: t.session_id,
            issued_at: t.issued_at,
            used_at: t.used_at,
            successor: match (t.next_iat, t.next_jti, t.next_kid) {
                (Some(iat), Some(jti), Some(kid)) => Some(AccessStamp { iat, jti, kid }),
                _ => None,
            },
        }))
    }

    pub fn extend(&self, id: &str, expires_at: i64) -> Result<()> {
        self.exec(
            "user_sessions.storage.extend",
            q::EXTEND,
            vec![expires_at.into(), id.into()],
        )
    }

    /// Marks the token used at `now`, keeping the stamp its successor was issued with.
    pub fn use_token(&self, hash: &str, now: i64, successor: &AccessStamp) -> Result<()> {
        self.exec(
            "user_sessions.storage.use_token",
            q::USE_TOKEN,
            vec![
                now.into(),
                successor.iat.into(),
                successor.jti.as_str().into(),
                successor.kid.as_str().into(),
                hash.into(),
            ],
        )
    }

    pub fn mark_unmirrored(&self, id: &str) -> Result<()> {
        self.exec(
            "user_sessions.storage.mark_unmirrored",
            q::MARK_UNMIRRORED,
            vec![id.into()],
        )
    }

    pub fn mark_mirrored(&self, id: &str) -> Result<()> {
        self.exec(
            "user_sessions.storage.mark_mirrored",
            q::MARK_MIRRORED,
            vec![id.into()],
        )
    }

    pub fn unmirrored(&self) -> Result<Vec<PendingRow>> {
        self.rows("user_sessions.storage.unmirrored", q::UNMIRRORED, vec![])
    }

    /// Revokes one session (`only`) or all but `except` that are active; returns their ids.
    pub fn revoke(
        &self,
        only: Option<&str>,
        except: Option<&str>,
        reason: RevokeReason,
        now: i64,
    ) -> Result<Vec<String>> {
        let op = "user_sessions.storage.revoke";
        let (active, revoke, arg) = match only {
            Some(id) => (q::ACTIVE_ONE, q::REVOKE_ONE, SqlStorageValue::from(id)),
            None => (
                q::ACTIVE_ALL_BUT,
                q::REVOKE_ALL_BUT,
                except
                    .map(SqlStorageValue::from)
                    .unwrap_or(SqlStorageValue::Null),
            ),
        };
        let ids: Vec<IdRow> = self.rows(op, active, vec![arg.clone()])?;
        self.exec(op, revoke, vec![now.into(), reason.as_str().into(), arg])?;
        Ok(ids.into_iter().map(|r| r.id).collect())
    }

    /// Drops a session that never reached D1, and its tokens.
    pub fn forget(&self, id: &str) -> Result<()> {
        let op = "user_sessions.storage.forget";
        self.exec(op, q::FORGET_TOKENS_OF, vec![id.into()])?;
        self.exec(op, q::FORGET_SESSION, vec![id.into()])
    }

    /// The login key `key` if it was remembered after `since`.
    pub fn login_key(&self, key: &str, since: i64) -> Result<Option<LoginKeyRow>> {
        self.first(
            "user_sessions.storage.login_key",
            q::LOGIN_KEY,
            vec![key.into(), since.into()],
        )
    }

    /// Remembers that the login with `key` (and `fingerprint`) opened `session_id`, whose first
    /// access token carries `stamp`.
    pub fn remember_login_key(
        &self,
        key: &str,
        fingerprint: &str,
        session_id: &str,
        stamp: &AccessStamp,
        now: i64,
    ) -> Result<()> {
        self.exec(
            "user_sessions.storage.remember_login_key",
            q::REMEMBER_LOGIN_KEY,
            vec![
                key.into(),
                fingerprint.into(),
                session_id.into(),
                stamp.iat.into(),
                stamp.jti.as_str().into(),
                stamp.kid.as_str().into(),
                now.into(),
            ],
        )
    }

    /// Forgets login keys remembered at or before `cutoff`, and (a bounded number of)
    /// sessions D1 has seen end before `horizon` with their tokens.
    pub fn prune(&self, cutoff: i64, horizon: i64) -> Result<()> {
        let op = "user_sessions.storage.prune";
        self.exec(op, q::PRUNE_LOGIN_KEYS, vec![cutoff.into()])?;
        self.exec(op, q::PRUNE_TOKENS, vec![horizon.into(), horizon.into()])?;
        self.exec(op, q::PRUNE_SESSIONS, vec![horizon.into(), horizon.into()])
    }

    pub fn lockout(&self) -> Result<lockout::State> {
        #[derive(Deserialize)]
        struct Row {
            failures: u32,
            locked_until: i64,
        }
        let row: Option<Row> = self.first("user_sessions.storage.lockout", q::LOCKOUT, vec![])?;
        Ok(row
            .map(|r| lockout::State {
                failures: r.failures,
                locked_until: r.locked_until,
            })
            .unwrap_or_default())
    }

    /// Stores the state `core::lockout` decided; the clean slate is stored as no row.
    pub fn save_lockout(&self, state: lockout::State) -> Result<()> {
        let op = "user_sessions.storage.save_lockout";
        if state == lockout::State::default() {
            return self.exec(op, q::CLEAR_LOCKOUT, vec![]);
        }
        self.exec(
            op,
            q::SAVE_LOCKOUT,
            vec![i64::from(state.failures).into(), state.locked_until.into()],
        )
    }

    /// The digest of the password set by the last change or reset, if any.
    pub fn password_stamp(&self) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Fp {
            fp: String,
        }
        let row: Option<Fp> = self.first(
            "user_sessions.storage.password_stamp",
            q::PASSWORD_STAMP,
            vec![],
        )?;
        Ok(row.map(|r| r.fp))
    }

    pub fn set_password_stamp(&self, fp: &str) -> Result<()> {
        self.exec(
            "user_sessions.storage.set_password_stamp",
            q::SET_PASSWORD_STAMP,
            vec![fp.into()],
        )
    }
}
