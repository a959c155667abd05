//! `UserSessions`: one object per user, the serializer of that user's sessions and refresh
//! token families. Its SQLite storage is the source of truth for rotation; D1 `sessions` is a
//! mirror for listing and the per-request "still active" check.
//!
//! Why rotation cannot race: a Durable Object runs one event at a time and its SQLite calls are
//! synchronous. Each operation reads the token and writes its new state with no `.await` in
//! between, so two refreshes of one token are decided one after the other: the second sees the
//! first one's `used_at` and its successor stamp. Only after the decision is committed does the
//! object await anything (the D1 mirror write).
//!
//! Revocations and extensions are written locally with `mirrored = 0`, then pushed to D1; a
//! failed push is retried on the next event and by an alarm, so D1 converges on what the object
//! decided. Callers learn whether D1 has it (`mirrored`): a logout only answers 2xx once the
//! per-request check in D1 refuses the session.
//!
//! A password change or reset is stamped here (`password_fp`, a digest of the new hash) in the
//! same synchronous step that revokes the sessions. A login that checked the old password and
//! reaches `create` after that step carries the old digest and is refused, so no session opened
//! with the old password outlives the change.

use crate::core::config::Config;
use crate::core::crypto::{b64url, b64url_decode, derive_token, token_hash};
use crate::core::domain::{SessionId, UserId};
use crate::core::error::{AppError, Faulty};
use crate::core::lockout::{self, Attempt};
use crate::core::login_key;
use crate::core::session::{
    rotate, slide_expiry, AccessStamp, RevokeReason, Rotation, RotationPolicy, SessionState,
    TokenState,
};
use crate::edge::ctx::{config, now_s};
use crate::edge::{d1, rand};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

const SCHEMA: &str = "
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

/// What an earlier login with the same key left.
enum Replay {
    Granted(Grant),
    Mismatch,
    Fresh,
}

/// The first refresh token of a session, derived from its secret (successors are derived from
/// the secret and their predecessor).
fn first_refresh_token(user_id: &str, secret: &[u8]) -> String {
    format!("{user_id}.{}", derive_token(secret, "first refresh token"))
}

/// Retry delay for a D1 mirror write that failed.
const MIRROR_RETRY_MS: u64 = 30_000;

// ---- the internal protocol (worker <-> object) ----

#[derive(Serialize, Deserialize)]
pub struct CreateReq {
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `password_fp` of the hash the caller checked the password against.
    pub password_fp: String,
    /// The login's `Idempotency-Key`, if it has one.
    #[serde(default)]
    pub login_key: Option<LoginKey>,
}

/// An idempotent login (`core::login_key`): the key's digest and the request's fingerprint.
#[derive(Serialize, Deserialize, Clone)]
pub struct LoginKey {
    pub key: String,
    pub fingerprint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CreateResp {
    Granted(Grant),
    /// The login key was used within its lifetime with another request.
    KeyMismatch,
    /// The password was changed after the caller checked it, or the user's sessions were all
    /// revoked while this one was being opened.
    Refused,
}

/// A digest of a stored password hash: what a login proves it checked.
pub fn password_fp(password_hash: &str) -> String {
    crate::core::crypto::token_hash(password_hash)
}

#[derive(Serialize, Deserialize)]
pub struct PasswordChangedReq {
    /// `password_fp` of the new hash.
    pub password_fp: String,
    /// The session that changed it keeps going (a change); `None` for a reset.
    pub except: Option<String>,
    pub reason: RevokeReason,
}

#[derive(Serialize, Deserialize)]
pub struct Grant {
    pub session_id: String,
    pub refresh_token: String,
    pub stamp: AccessStamp,
    /// The session an earlier login with the same key opened, handed over again.
    #[serde(default)]
    pub replayed: bool,
}

#[derive(Serialize, Deserialize)]
pub struct RotateReq {
    pub refresh_token: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RotateResp {
    Granted(Grant),
    Reused { session_id: String },
    Invalid,
}

/// The start of a login attempt, counted before the password is checked.
#[derive(Serialize, Deserialize)]
pub struct AttemptResp {
    /// Check the password; `false`: locked, answer as a wrong password.
    pub proceed: bool,
    /// A failure of this attempt locks the account.
    pub locks: bool,
}

#[derive(Serialize, Deserialize)]
pub struct RevokeReq {
    /// One session, or every session but `except` when `None`.
    pub session_id: Option<String>,
    pub except: Option<String>,
    pub reason: RevokeReason,
}

#[derive(Serialize, Deserialize)]
pub struct RevokeResp {
    pub revoked: usize,
    pub found: bool,
    /// D1 has every revocation (the per-request check refuses them); `false`: the object has
    /// them (refresh is refused) and retries the mirror by alarm.
    pub mirrored: bool,
}

/// The worker's handle on one user's object.
pub struct Client {
    stub: worker::Stub,
}

impl Client {
    pub fn for_user(env: &Env, user_id: &str) -> std::result::Result<Self, AppError> {
        let ns = env
            .durable_object("USER_SESSIONS")
            .fault("objects.user_sessions.for_user")?;
        let stub = ns
            .id_from_name(user_id)
            .and_then(|id| id.get_stub())
            .fault("objects.user_sessions.for_user")?;
        Ok(Self { stub })
    }

    async fn call<Q: Serialize, R: for<'de> Deserialize<'de>>(
        &self,
        op: &str,
        user_id: &str,
        body: &Q,
    ) -> std::result::Result<R, AppError> {
        let text = serde_json::to_string(body).fault("objects.user_sessions.call")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&text)));
        let req =
            Request::new_with_init(&format!("https://user-sessions/{op}?user={user_id}"), &init)
                .fault("objects.user_sessions.call")?;
        let mut resp = self
            .stub
            .fetch_with_request(req)
            .await
            .fault("objects.user_sessions.call")?;
        if resp.status_code() != 200 {
            let detail = resp.text().await.unwrap_or_default();
            return Err(AppError::fault(
                "objects.user_sessions.call",
                format!("user-sessions {op}: {detail}"),
            ));
        }
        resp.json::<R>().await.fault("objects.user_sessions.call")
    }

    pub async fn create(
        &self,
        user_id: &str,
        req: &CreateReq,
    ) -> std::result::Result<CreateResp, AppError> {
        self.call("create", user_id, req).await
    }

    /// Stamps a new password, lifts any lock and revokes the sessions (all but `except`).
    pub async fn password_changed(
        &self,
        user_id: &str,
        req: &PasswordChangedReq,
    ) -> std::result::Result<RevokeResp, AppError> {
        self.call("password", user_id, req).await
    }

    /// A correct password: the failure count starts over.
    pub async fn login_succeeded(&self, user_id: &str) -> std::result::Result<(), AppError> {
        self.call::<(), serde_json::Value>("attempt_ok", user_id, &())
            .await
            .map(|_| ())
    }

    pub async fn rotate(
        &self,
        user_id: &str,
        refresh_token: &str,
    ) -> std::result::Result<RotateResp, AppError> {
        self.call(
            "rotate",
            user_id,
            &RotateReq {
                refresh_token: refresh_token.to_owned(),
            },
        )
        .await
    }

    pub async fn revoke(
        &self,
        user_id: &str,
        req: &RevokeReq,
    ) -> std::result::Result<RevokeResp, AppError> {
        self.call("revoke", user_id, req).await
    }

    pub async fn login_attempt(&self, user_id: &str) -> std::result::Result<AttemptResp, AppError> {
        self.call("attempt", user_id, &()).await
    }

    /// The read of `login_attempt` without its write: what an unknown address costs.
    pub async fn probe(&self) -> std::result::Result<AttemptResp, AppError> {
        self.call("probe", "probe", &()).await
    }

    /// Forgets everything of a purged user (sessions, tokens, lockout).
    pub async fn purge(&self, user_id: &str) -> std::result::Result<(), AppError> {
        self.call::<(), serde_json::Value>("purge", user_id, &())
            .await
            .map(|_| ())
    }
}

/// Refresh tokens are `<user id>.<43 base64url chars>`: the prefix routes the request to the
/// user's object; only the SHA-256 of the whole token is stored.
pub fn split_refresh_token(token: &str) -> Option<UserId> {
    let (user, secret) = token.split_once('.')?;
    if !crate::core::crypto::looks_like_opaque_token(secret) {
        return None;
    }
    UserId::parse(user).ok()
}

// ---- the object ----

#[durable_object]
pub struct UserSessions {
    state: State,
    env: Env,
}

#[derive(Deserialize)]
struct SessionRow {
    id: String,
    secret: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
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

#[derive(Deserialize)]
struct PendingRow {
    id: String,
    expires_at: i64,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
}

fn opt_val(v: Option<&str>) -> SqlStorageValue {
    v.map(SqlStorageValue::from)
        .unwrap_or(SqlStorageValue::Null)
}

impl DurableObject for UserSessions {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(SCHEMA, None) {
            worker::console_error!("user-sessions schema: {e}");
        }
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let op = url.path().trim_start_matches('/').to_owned();
        let user_id = url
            .query_pairs()
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let body = req.text().await?;
        let result = match op.as_str() {
            "create" => self.create(&user_id, &body).await,
            "rotate" => self.rotate(&user_id, &body).await,
            "revoke" => self.revoke(&user_id, &body).await,
            "attempt" => self.attempt(),
            "attempt_ok" => self.attempt_ok(),
            "probe" => self.probe(),
            "password" => self.password_changed(&user_id, &body).await,
            "purge" => self.purge().await,
            _ => Err(AppError::NotFound),
        };
        match result {
            Ok(json) => Response::ok(json),
            Err(e) => {
                worker::console_error!("user-sessions {op}: {e}");
                Response::error(e.to_string(), 500)
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.flush_mirror().await {
            worker::console_error!("user-sessions mirror retry: {e}");
            self.schedule_retry().await;
        }
        Response::ok("")
    }
}

impl UserSessions {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn cfg(&self) -> std::result::Result<std::rc::Rc<Config>, AppError> {
        config(&self.env)
    }

    /// The kid new access tokens are signed with (stamped so a replay re-signs alike).
    async fn active_kid(&self, cfg: &Config) -> std::result::Result<String, AppError> {
        Ok(crate::edge::keys::current(&self.env, cfg)
            .await?
            .active()
            .kid
            .clone())
    }

    async fn create(&self, user_id: &str, body: &str) -> std::result::Result<String, AppError> {
        let req: CreateReq = serde_json::from_str(body).fault("objects.user_sessions.create")?;
        let cfg = self.cfg()?;
        let active_kid = self.active_kid(&cfg).await?;
        let now = now_s();
        let session_id = SessionId::new(rand::bytes()?).to_string();
        let secret_key = rand::bytes::<32>()?;
        let secret = b64url(&secret_key);
        // Derived, like its successors, so a replayed login can hand the same one over again.
        let token = first_refresh_token(user_id, &secret_key);
        let jti = rand::uuid()?;
        let expires_at = slide_expiry(now, now, now, cfg.refresh_ttl_s, cfg.session_absolute_s);
        let refused =
            || serde_json::to_string(&CreateResp::Refused).fault("objects.user_sessions.create");

        // ---- decision and local write: synchronous, no await ----
        if self
            .password_stamp()?
            .is_some_and(|fp| fp != req.password_fp)
        {
            return refused();
        }
        if let Some(key) = &req.login_key {
            match self.replay_login(user_id, key, now)? {
                Replay::Granted(grant) => {
                    return serde_json::to_string(&CreateResp::Granted(grant))
                        .fault("objects.user_sessions.create");
                }
                Replay::Mismatch => {
                    return serde_json::to_string(&CreateResp::KeyMismatch)
                        .fault("objects.user_sessions.create");
                }
                Replay::Fresh => {}
            }
        }
        let sql = self.sql();
        sql.exec(
            "INSERT INTO sessions (id, secret, created_at, expires_at) VALUES (?, ?, ?, ?)",
            vec![
                session_id.as_str().into(),
                secret.into(),
                now.into(),
                expires_at.into(),
            ],
        )
        .fault("objects.user_sessions.create")?;
        sql.exec(
            "INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)",
            vec![
                token_hash(&token).into(),
                session_id.as_str().into(),
                now.into(),
            ],
        )
        .fault("objects.user_sessions.create")?;
        self.prune(now);

        // ---- the mirror row, before any token leaves: the per-request check reads it ----
        let db = self.env.d1("DB").fault("objects.user_sessions.create")?;
        let inserted = d1::sessions::insert(
            &db,
            &d1::sessions::NewSession {
                id: &session_id,
                user_id,
                device_name: req.device_name.as_deref(),
                ip: req.ip.as_deref(),
                user_agent: req.user_agent.as_deref(),
                now,
                expires_at,
            },
        )
        .await;
        if let Err(e) = inserted {
            self.forget(&session_id);
            return Err(e);
        }
        // Other events ran during that await. A revocation of all sessions (a password change,
        // a deactivation) may have marked this one; its D1 update then found no row yet, so
        // the row just inserted must be revoked too, and no token handed out.
        if self.revoked_at(&session_id)?.is_some() {
            sql.exec(
                "UPDATE sessions SET mirrored = 0 WHERE id = ?",
                vec![session_id.as_str().into()],
            )
            .fault("objects.user_sessions.create")?;
            if self.flush_mirror().await.is_err() {
                self.schedule_retry().await;
            }
            return refused();
        }
        // Remembered only once the session is in D1: a replay never hands over a session the
        // per-request check does not know yet. (Two identical logins in flight at the same
        // moment may still open two sessions; a retry after an answer, or a lost one, cannot.)
        if let Some(key) = &req.login_key {
            sql.exec(
                "INSERT INTO login_keys (key, fingerprint, session_id, iat, jti, kid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, session_id = excluded.session_id, \
                 iat = excluded.iat, jti = excluded.jti, kid = excluded.kid, created_at = excluded.created_at",
                vec![
                    key.key.as_str().into(),
                    key.fingerprint.as_str().into(),
                    session_id.as_str().into(),
                    now.into(),
                    jti.as_str().into(),
                    active_kid.as_str().into(),
                    now.into(),
                ],
            )
            .fault("objects.user_sessions.create")?;
        }

        let grant = Grant {
            session_id,
            refresh_token: token,
            stamp: AccessStamp {
                iat: now,
                jti,
                kid: active_kid.clone(),
            },
            replayed: false,
        };
        serde_json::to_string(&CreateResp::Granted(grant)).fault("objects.user_sessions.create")
    }

    /// A login key seen within its lifetime: the same request gets the session it opened while
    /// that session is still active (the same refresh token and the same access token, both
    /// derived); another request under the key is a mismatch. An ended session is replaced.
    fn replay_login(
        &self,
        user_id: &str,
        key: &LoginKey,
        now: i64,
    ) -> std::result::Result<Replay, AppError> {
        #[derive(Deserialize)]
        struct Row {
            fingerprint: String,
            session_id: String,
            iat: i64,
            jti: String,
            kid: String,
            secret: Option<String>,
            expires_at: Option<i64>,
            revoked_at: Option<i64>,
        }
        let row: Option<Row> = self
            .sql()
            .exec(
                "SELECT k.fingerprint, k.session_id, k.iat, k.jti, k.kid, s.secret, s.expires_at, s.revoked_at \
                 FROM login_keys k LEFT JOIN sessions s ON s.id = k.session_id WHERE k.key = ? AND k.created_at > ?",
                vec![
                    key.key.as_str().into(),
                    (now - login_key::LOGIN_KEY_TTL_S).into(),
                ],
            )
            .and_then(|c| c.to_array())
            .fault("objects.user_sessions.replay_login")?
            .into_iter()
            .next();
        let Some(row) = row else {
            return Ok(Replay::Fresh);
        };
        if row.fingerprint != key.fingerprint {
            return Ok(Replay::Mismatch);
        }
        let active = row.revoked_at.is_none() && row.expires_at.is_some_and(|e| e > now);
        let secret = row.secret.as_deref().and_then(b64url_decode);
        match (active, secret) {
            (true, Some(secret)) => Ok(Replay::Granted(Grant {
                refresh_token: first_refresh_token(user_id, &secret),
                session_id: row.session_id,
                stamp: AccessStamp {
                    iat: row.iat,
                    jti: row.jti,
                    kid: row.kid,
                },
                replayed: true,
            })),
            _ => Ok(Replay::Fresh),
        }
    }

    /// The digest of the password set by the last change or reset, if any.
    fn password_stamp(&self) -> std::result::Result<Option<String>, AppError> {
        #[derive(Deserialize)]
        struct Fp {
            fp: String,
        }
        Ok(self
            .sql()
            .exec("SELECT fp FROM password_stamp WHERE k = 1", None)
            .and_then(|c| c.to_array::<Fp>())
            .fault("objects.user_sessions.password_stamp")?
            .into_iter()
            .next()
            .map(|r| r.fp))
    }

    fn revoked_at(&self, session_id: &str) -> std::result::Result<Option<i64>, AppError> {
        #[derive(Deserialize)]
        struct R {
            revoked_at: Option<i64>,
        }
        Ok(self
            .sql()
            .exec(
                "SELECT revoked_at FROM sessions WHERE id = ?",
                vec![session_id.into()],
            )
            .and_then(|c| c.to_array::<R>())
            .fault("objects.user_sessions.revoked_at")?
            .into_iter()
            .next()
            .and_then(|r| r.revoked_at))
    }

    /// Drops a session that never reached D1 (its token was never handed out).
    fn forget(&self, session_id: &str) {
        let sql = self.sql();
        let _ = sql.exec(
            "DELETE FROM refresh_tokens WHERE session_id = ?",
            vec![session_id.into()],
        );
        let _ = sql.exec("DELETE FROM sessions WHERE id = ?", vec![session_id.into()]);
    }

    /// A new password: stamped, any lock lifted and the sessions revoked in one synchronous
    /// step (see the module docs), then mirrored and announced.
    async fn password_changed(
        &self,
        user_id: &str,
        body: &str,
    ) -> std::result::Result<String, AppError> {
        let req: PasswordChangedReq =
            serde_json::from_str(body).fault("objects.user_sessions.password_changed")?;
        let now = now_s();
        let sql = self.sql();
        sql.exec(
            "INSERT INTO password_stamp (k, fp) VALUES (1, ?) ON CONFLICT (k) DO UPDATE SET fp = excluded.fp",
            vec![req.password_fp.as_str().into()],
        )
        .fault("objects.user_sessions.password_changed")?;
        self.write_lockout(lockout::succeed())?;
        let revoked = self.mark_revoked(None, req.except.as_deref(), req.reason, now)?;
        let mirrored = self.flush_or_schedule().await;
        self.announce(user_id, &revoked).await;
        serde_json::to_string(&RevokeResp {
            revoked: revoked.len(),
            found: true,
            mirrored,
        })
        .fault("objects.user_sessions.password_changed")
    }

    async fn rotate(&self, user_id: &str, body: &str) -> std::result::Result<String, AppError> {
        let req: RotateReq = serde_json::from_str(body).fault("objects.user_sessions.rotate")?;
        let cfg = self.cfg()?;
        // Looked up before the decision block, which must not await.
        let active_kid = self.active_kid(&cfg).await?;
        let now = now_s();
        let presented = req.refresh_token;
        let hash = token_hash(&presented);
        // Fresh randomness is drawn before the decision so nothing below awaits.
        let next_jti = rand::uuid()?;

        // ---- decision and write: synchronous, no await (see module docs) ----
        let sql = self.sql();
        let token: Option<TokenRow> = sql
            .exec(
                "SELECT session_id, issued_at, used_at, next_iat, next_jti, next_kid FROM refresh_tokens WHERE hash = ?",
                vec![hash.as_str().into()],
            )
            .and_then(|c| c.to_array())
            .fault("objects.user_sessions.rotate")?
            .into_iter()
            .next();
        let session: Option<SessionRow> = match &token {
            Some(t) => sql
                .exec(
                    "SELECT id, secret, created_at, expires_at, revoked_at FROM sessions WHERE id = ?",
                    vec![t.session_id.as_str().into()],
                )
                .and_then(|c| c.to_array())
                .fault("objects.user_sessions.rotate")?
                .into_iter()
                .next(),
            None => None,
        };
        let token_state = token.as_ref().map(|t| TokenState {
            session_id: t.session_id.clone(),
            issued_at: t.issued_at,
            used_at: t.used_at,
            successor: match (t.next_iat, &t.next_jti, &t.next_kid) {
                (Some(iat), Some(jti), Some(kid)) => Some(AccessStamp {
                    iat,
                    jti: jti.clone(),
                    kid: kid.clone(),
                }),
                _ => None,
            },
        });
        let session_state = session.as_ref().map(|s| SessionState {
            id: s.id.clone(),
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
        });
        let policy = RotationPolicy {
            reuse_window_s: cfg.refresh_reuse_window_s,
        };
        let successor = |s: &SessionRow| -> std::result::Result<String, AppError> {
            let key = b64url_decode(&s.secret)
                .ok_or_else(|| AppError::fault("objects.user_sessions.rotate", "bad secret"))?;
            Ok(format!("{user_id}.{}", derive_token(&key, &presented)))
        };
        let mut extended_to = None;
        let response = match rotate(session_state.as_ref(), token_state.as_ref(), now, policy) {
            Rotation::Rotate => {
                let s = session.as_ref().expect("rotate implies a session");
                let next = successor(s)?;
                // Use slides the idle timeout, up to the absolute cap.
                let expires_at = slide_expiry(
                    s.created_at,
                    s.expires_at,
                    now,
                    cfg.refresh_ttl_s,
                    cfg.session_absolute_s,
                );
                if expires_at != s.expires_at {
                    sql.exec(
                        "UPDATE sessions SET expires_at = ? WHERE id = ?",
                        vec![expires_at.into(), s.id.as_str().into()],
                    )
                    .fault("objects.user_sessions.rotate")?;
                }
                extended_to = Some(expires_at);
                let stamp = AccessStamp {
                    iat: now,
                    jti: next_jti,
                    kid: active_kid.clone(),
                };
                sql.exec(
                    "UPDATE refresh_tokens SET used_at = ?, next_iat = ?, next_jti = ?, next_kid = ? WHERE hash = ? AND used_at IS NULL",
                    vec![now.into(), stamp.iat.into(), stamp.jti.as_str().into(), stamp.kid.as_str().into(), hash.as_str().into()],
                )
                .fault("objects.user_sessions.rotate")?;
                sql.exec(
                    "INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)",
                    vec![token_hash(&next).into(), s.id.as_str().into(), now.into()],
                )
                .fault("objects.user_sessions.rotate")?;
                RotateResp::Granted(Grant {
                    session_id: s.id.clone(),
                    refresh_token: next,
                    stamp,
                    replayed: false,
                })
            }
            Rotation::Replay(stamp) => {
                let s = session.as_ref().expect("replay implies a session");
                RotateResp::Granted(Grant {
                    session_id: s.id.clone(),
                    refresh_token: successor(s)?,
                    stamp,
                    replayed: false,
                })
            }
            Rotation::Reused => {
                let s = session.as_ref().expect("reuse implies a session");
                self.mark_revoked(Some(&s.id), None, RevokeReason::RefreshReuse, now)?;
                RotateResp::Reused {
                    session_id: s.id.clone(),
                }
            }
            Rotation::Invalid => RotateResp::Invalid,
        };
        // ---- effects (may await) ----
        match &response {
            RotateResp::Granted(g) => {
                if let Some(expires_at) = extended_to {
                    let db = self.env.d1("DB").fault("objects.user_sessions.rotate")?;
                    let touched =
                        d1::sessions::touch_and_extend(&db, &g.session_id, now, expires_at).await;
                    if let Err(e) = touched {
                        // The rotation is committed; the mirror catches up on the extension.
                        worker::console_warn!("user-sessions touch: {e}");
                        self.sql()
                            .exec(
                                "UPDATE sessions SET mirrored = 0 WHERE id = ?",
                                vec![g.session_id.as_str().into()],
                            )
                            .fault("objects.user_sessions.rotate")?;
                        self.schedule_retry().await;
                    }
                }
            }
            RotateResp::Reused { session_id } => {
                self.flush_or_schedule().await;
                self.announce(user_id, std::slice::from_ref(session_id))
                    .await;
            }
            RotateResp::Invalid => {}
        }
        serde_json::to_string(&response).fault("objects.user_sessions.rotate")
    }

    async fn revoke(&self, user_id: &str, body: &str) -> std::result::Result<String, AppError> {
        let req: RevokeReq = serde_json::from_str(body).fault("objects.user_sessions.revoke")?;
        let now = now_s();
        let found = match &req.session_id {
            Some(id) => self.exists(id)?,
            None => true,
        };
        let revoked = self.mark_revoked(
            req.session_id.as_deref(),
            req.except.as_deref(),
            req.reason,
            now,
        )?;
        let mirrored = self.flush_or_schedule().await;
        self.announce(user_id, &revoked).await;
        serde_json::to_string(&RevokeResp {
            revoked: revoked.len(),
            found,
            mirrored,
        })
        .fault("objects.user_sessions.revoke")
    }

    /// Counts a login attempt before the password is checked (see `core::lockout`): read and
    /// write without an await, so N parallel attempts count exactly N.
    fn attempt(&self) -> std::result::Result<String, AppError> {
        let cfg = self.cfg()?;
        let state = self.lockout_state()?;
        let (next, attempt) = lockout::begin(state, now_s(), cfg.lockout);
        if next != state {
            self.write_lockout(next)?;
        }
        let resp = match attempt {
            Attempt::Proceed { locks } => AttemptResp {
                proceed: true,
                locks,
            },
            Attempt::Locked => AttemptResp {
                proceed: false,
                locks: false,
            },
        };
        serde_json::to_string(&resp).fault("objects.user_sessions.attempt")
    }

    fn probe(&self) -> std::result::Result<String, AppError> {
        let _ = self.lockout_state()?;
        serde_json::to_string(&AttemptResp {
            proceed: true,
            locks: false,
        })
        .fault("objects.user_sessions.probe")
    }

    /// A correct password: `core::lockout::succeed`.
    fn attempt_ok(&self) -> std::result::Result<String, AppError> {
        self.write_lockout(lockout::succeed())?;
        Ok("{}".into())
    }

    fn lockout_state(&self) -> std::result::Result<lockout::State, AppError> {
        #[derive(Deserialize)]
        struct Row {
            failures: u32,
            locked_until: i64,
        }
        Ok(self
            .sql()
            .exec(
                "SELECT failures, locked_until FROM lockout WHERE k = 1",
                None,
            )
            .and_then(|c| c.to_array::<Row>())
            .fault("objects.user_sessions.lockout_state")?
            .into_iter()
            .next()
            .map(|r| lockout::State {
                failures: r.failures,
                locked_until: r.locked_until,
            })
            .unwrap_or_default())
    }

    fn write_lockout(&self, state: lockout::State) -> std::result::Result<(), AppError> {
        if state == lockout::State::default() {
            self.sql()
                .exec("DELETE FROM lockout", None)
                .fault("objects.user_sessions.write_lockout")?;
            return Ok(());
        }
        self.sql()
            .exec(
                "INSERT INTO lockout (k, failures, locked_until) VALUES (1, ?, ?) \
                 ON CONFLICT (k) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until",
                vec![i64::from(state.failures).into(), state.locked_until.into()],
            )
            .fault("objects.user_sessions.write_lockout")?;
        Ok(())
    }

    async fn purge(&self) -> std::result::Result<String, AppError> {
        self.state
            .storage()
            .delete_all()
            .await
            .fault("objects.user_sessions.purge")?;
        Ok("{}".into())
    }

    fn exists(&self, session_id: &str) -> std::result::Result<bool, AppError> {
        #[derive(Deserialize)]
        struct One {
            #[allow(dead_code)]
            id: String,
        }
        let rows: Vec<One> = self
            .sql()
            .exec(
                "SELECT id FROM sessions WHERE id = ?",
                vec![session_id.into()],
            )
            .and_then(|c| c.to_array())
            .fault("objects.user_sessions.exists")?;
        Ok(!rows.is_empty())
    }

    /// Revokes one session (`only`) or all but `except`; returns how many were active.
    fn mark_revoked(
        &self,
        only: Option<&str>,
        except: Option<&str>,
        reason: RevokeReason,
        now: i64,
    ) -> std::result::Result<Vec<String>, AppError> {
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let sql = self.sql();
        let (filter, arg) = match only {
            Some(id) => ("id = ?", SqlStorageValue::from(id)),
            None => ("id IS NOT ?", opt_val(except)),
        };
        let ids: Vec<Id> = sql
            .exec(
                &format!("SELECT id FROM sessions WHERE revoked_at IS NULL AND {filter}"),
                vec![arg.clone()],
            )
            .and_then(|c| c.to_array())
            .fault("objects.user_sessions.mark_revoked")?;
        sql.exec(
            &format!("UPDATE sessions SET revoked_at = ?, revoked_reason = ?, mirrored = 0 WHERE revoked_at IS NULL AND {filter}"),
            vec![now.into(), reason.as_str().into(), arg],
        )
        .fault("objects.user_sessions.mark_revoked")?;
        Ok(ids.into_iter().map(|r| r.id).collect())
    }

    /// Tells the user's devices, and closes the revoked sessions' sockets.
    async fn announce(&self, user_id: &str, revoked: &[String]) {
        for sid in revoked {
            let event = serde_json::json!({"type": "session.revoked", "session_id": sid});
            crate::edge::realtime::to_user(&self.env, user_id, event, Some(sid)).await;
        }
    }

    /// Pushes what D1 lacks; `false` (logged, retried by alarm) when it could not.
    async fn flush_or_schedule(&self) -> bool {
        if let Err(e) = self.flush_mirror().await {
            worker::console_error!("user-sessions mirror: {e}");
            self.schedule_retry().await;
            return false;
        }
        true
    }

    /// Pushes every revocation and extension D1 has not seen yet, in one batch.
    async fn flush_mirror(&self) -> std::result::Result<(), AppError> {
        let pending: Vec<PendingRow> = self
            .sql()
            .exec(
                "SELECT id, expires_at, revoked_at, revoked_reason FROM sessions WHERE mirrored = 0",
                None,
            )
            .and_then(|c| c.to_array())
            .fault("objects.user_sessions.flush_mirror")?;
        if pending.is_empty() {
            return Ok(());
        }
        if self.cfg()?.dev_fault("session_mirror") {
            return Err(AppError::fault(
                "objects.user_sessions.flush_mirror",
                "injected fault: session_mirror",
            ));
        }
        let db = self
            .env
            .d1("DB")
            .fault("objects.user_sessions.flush_mirror")?;
        let statements = pending
            .iter()
            .map(|p| match p.revoked_at {
                Some(at) => d1::sessions::revoke_stmt(
                    &db,
                    &p.id,
                    p.revoked_reason.as_deref().unwrap_or("revoked"),
                    at,
                ),
                None => d1::sessions::extend_stmt(&db, &p.id, p.expires_at),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        d1::batch(&db, statements).await?;
        for p in &pending {
            self.sql()
                .exec(
                    "UPDATE sessions SET mirrored = 1 WHERE id = ?",
                    vec![p.id.as_str().into()],
                )
                .fault("objects.user_sessions.flush_mirror")?;
        }
        Ok(())
    }

    async fn schedule_retry(&self) {
        // worker 0.8.7 reads a bare number as an offset from now (not a time): say so plainly.
        let after = std::time::Duration::from_millis(MIRROR_RETRY_MS);
        if let Err(e) = self.state.storage().set_alarm(after).await {
            worker::console_error!("user-sessions set_alarm: {e}");
        }
    }

    /// Forgets sessions that ended more than a day ago, and their tokens (bounded).
    fn prune(&self, now: i64) {
        let horizon = now - 86_400;
        let sql = self.sql();
        let _ = sql.exec(
            "DELETE FROM login_keys WHERE created_at <= ?",
            vec![(now - login_key::LOGIN_KEY_TTL_S).into()],
        );
        let _ = sql.exec(
            "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE mirrored = 1 AND (expires_at < ? OR revoked_at < ?) LIMIT 50)",
            vec![horizon.into(), horizon.into()],
        );
        let _ = sql.exec(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE mirrored = 1 AND (expires_at < ? OR revoked_at < ?) LIMIT 50)",
            vec![horizon.into(), horizon.into()],
        );
    }
}
