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

mod storage;

use crate::core::bindings;
use crate::core::config::Config;
use crate::core::crypto::{b64url, b64url_decode, derive_token, token_hash};
use crate::core::domain::{SessionId, UserId};
use crate::core::error::{AppError, Faulty};
use crate::core::lockout::{self, Attempt};
use crate::core::login_key;
use crate::core::realtime::Event;
use crate::core::session::{
    rotate, slide_expiry, AccessStamp, RevokeReason, Rotation, RotationPolicy,
};
use crate::edge::ctx::{config, now_s};
use crate::edge::objects::rpc::{self, Call, Done, Stub};
use crate::edge::{d1, rand};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashSet;
use storage::{SessionRow, Storage};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

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

/// Opens a session.
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
    /// The right password of this login clears the lockout count here, whatever the outcome
    /// (`passwords::OnRight::Deferred`): one round trip instead of two.
    #[serde(default)]
    pub clears_lockout: bool,
}

/// An idempotent login (`core::login_key`): the key's digest and the request's fingerprint.
#[derive(Serialize, Deserialize, Clone)]
pub struct LoginKey {
    pub key: String,
    pub fingerprint: String,
}

impl Call for CreateReq {
    const PATH: &'static str = "/create";
    type Reply = CreateResp;
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
    /// A login with the same key is opening its session right now: retry and get its answer.
    KeyInUse,
}

/// A digest of a stored password hash: what a login proves it checked.
pub fn password_fp(password_hash: &str) -> String {
    crate::core::crypto::token_hash(password_hash)
}

/// Stamps a new password, lifts any lock and revokes the sessions (all but `except`).
#[derive(Serialize, Deserialize)]
pub struct PasswordChangedReq {
    /// `password_fp` of the new hash.
    pub password_fp: String,
    /// The session that changed it keeps going (a change); `None` for a reset.
    pub except: Option<String>,
    pub reason: RevokeReason,
}

impl Call for PasswordChangedReq {
    const PATH: &'static str = "/password";
    type Reply = RevokeResp;
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

impl Call for RotateReq {
    const PATH: &'static str = "/rotate";
    type Reply = RotateResp;
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
pub struct AttemptReq {}

impl Call for AttemptReq {
    const PATH: &'static str = "/attempt";
    type Reply = AttemptResp;
}

#[derive(Serialize, Deserialize)]
pub struct AttemptResp {
    /// Check the password; `false`: locked, answer as a wrong password.
    pub proceed: bool,
    /// A failure of this attempt locks the account.
    pub locks: bool,
}

/// A correct password: the failure count starts over.
#[derive(Serialize, Deserialize)]
pub struct AttemptOkReq {}

impl Call for AttemptOkReq {
    const PATH: &'static str = "/attempt_ok";
    type Reply = Done;
}

/// A correct password of an account with a second factor: the attempt is refunded, the
/// count not cleared (`core::lockout::refund`).
#[derive(Serialize, Deserialize)]
pub struct AttemptRefundReq {}

impl Call for AttemptRefundReq {
    const PATH: &'static str = "/attempt_refund";
    type Reply = Done;
}

/// The read of `AttemptReq` without its write: what an unknown address costs.
#[derive(Serialize, Deserialize)]
pub struct ProbeReq {}

impl Call for ProbeReq {
    const PATH: &'static str = "/probe";
    type Reply = AttemptResp;
}

#[derive(Serialize, Deserialize)]
pub struct RevokeReq {
    /// One session, or every session but `except` when `None`.
    pub session_id: Option<String>,
    pub except: Option<String>,
    pub reason: RevokeReason,
}

impl Call for RevokeReq {
    const PATH: &'static str = "/revoke";
    type Reply = RevokeResp;
}

#[derive(Serialize, Deserialize)]
pub struct RevokeResp {
    pub revoked: usize,
    pub found: bool,
    /// D1 has every revocation (the per-request check refuses them); `false`: the object has
    /// them (refresh is refused) and retries the mirror by alarm.
    pub mirrored: bool,
}

/// Forgets everything of a purged user (sessions, tokens, lockout).
#[derive(Serialize, Deserialize)]
pub struct PurgeReq {}

impl Call for PurgeReq {
    const PATH: &'static str = "/purge";
    type Reply = Done;
}

/// The worker's handle on one user's object.
pub struct Client {
    stub: Stub,
}

impl Client {
    /// The object named `user_id`, created (when new) where `ACCOUNT_OBJECTS_LOCATION_HINT`
    /// says. Logins with an unknown address probe `probe-<n>` objects through here too, so that
    /// with the hint both kinds of login travel to the same region.
    pub fn for_user(env: &Env, user_id: &str) -> std::result::Result<Self, AppError> {
        let hint = crate::edge::ctx::config(env)?.account_objects_location_hint;
        Ok(Self {
            stub: Stub::named_near(env, bindings::USER_SESSIONS, user_id, hint)?,
        })
    }

    pub async fn create(&self, req: &CreateReq) -> std::result::Result<CreateResp, AppError> {
        self.stub.call(req).await
    }

    /// Stamps a new password, lifts any lock and revokes the sessions (all but `except`).
    pub async fn password_changed(
        &self,
        req: &PasswordChangedReq,
    ) -> std::result::Result<RevokeResp, AppError> {
        self.stub.call(req).await
    }

    /// A correct password: the failure count starts over.
    pub async fn login_succeeded(&self) -> std::result::Result<(), AppError> {
        self.stub.call(&AttemptOkReq {}).await.map(|_| ())
    }

    pub async fn rotate(&self, refresh_token: &str) -> std::result::Result<RotateResp, AppError> {
        let req = RotateReq {
            refresh_token: refresh_token.to_owned(),
        };
        self.stub.call(&req).await
    }

    pub async fn revoke(&self, req: &RevokeReq) -> std::result::Result<RevokeResp, AppError> {
        self.stub.call(req).await
    }

    /// A correct password of an account with a second factor: `core::lockout::refund`.
    pub async fn first_factor_passed(&self) -> std::result::Result<(), AppError> {
        self.stub.call(&AttemptRefundReq {}).await.map(|_| ())
    }

    pub async fn login_attempt(&self) -> std::result::Result<AttemptResp, AppError> {
        self.stub.call(&AttemptReq {}).await
    }

    /// The read of `login_attempt` without its write: what an unknown address costs.
    pub async fn probe(&self) -> std::result::Result<AttemptResp, AppError> {
        self.stub.call(&ProbeReq {}).await
    }

    /// Forgets everything of a purged user (sessions, tokens, lockout).
    pub async fn purge(&self) -> std::result::Result<(), AppError> {
        self.stub.call(&PurgeReq {}).await.map(|_| ())
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
    /// Login keys whose session is being opened (between the local write and the D1 mirror,
    /// where other events run). In memory: it only has to outlive one `create`.
    logins_in_flight: RefCell<HashSet<String>>,
}

/// Holds a login key in `logins_in_flight` until dropped, on every way out of `create`.
struct InFlight<'a> {
    set: &'a RefCell<HashSet<String>>,
    key: String,
}

impl<'a> InFlight<'a> {
    /// `None` when the key is already held by a concurrent login.
    fn take(set: &'a RefCell<HashSet<String>>, key: &str) -> Option<Self> {
        set.borrow_mut().insert(key.to_owned()).then(|| Self {
            set,
            key: key.to_owned(),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set.borrow_mut().remove(&self.key);
    }
}

impl DurableObject for UserSessions {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = Storage(state.storage().sql()).create() {
            worker::console_error!("user-sessions schema: {e}");
        }
        Self {
            state,
            env,
            logins_in_flight: RefCell::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // The object's name is the user id (`Client::for_user`).
        let user_id = rpc::name(&req)?;
        let path = req.path();
        let result = match path.as_str() {
            CreateReq::PATH => {
                let r = rpc::decode(&mut req).await?;
                self.create(&user_id, r)
                    .await
                    .map(|v| rpc::reply::<CreateReq>(&v))
            }
            RotateReq::PATH => {
                let r = rpc::decode(&mut req).await?;
                self.rotate(&user_id, r)
                    .await
                    .map(|v| rpc::reply::<RotateReq>(&v))
            }
            RevokeReq::PATH => {
                let r = rpc::decode(&mut req).await?;
                self.revoke(&user_id, r)
                    .await
                    .map(|v| rpc::reply::<RevokeReq>(&v))
            }
            AttemptReq::PATH => self.attempt().map(|v| rpc::reply::<AttemptReq>(&v)),
            AttemptOkReq::PATH => self.attempt_ok().map(|v| rpc::reply::<AttemptOkReq>(&v)),
            AttemptRefundReq::PATH => self
                .attempt_refund()
                .map(|v| rpc::reply::<AttemptRefundReq>(&v)),
            ProbeReq::PATH => self.probe().map(|v| rpc::reply::<ProbeReq>(&v)),
            PasswordChangedReq::PATH => {
                let r = rpc::decode(&mut req).await?;
                self.password_changed(&user_id, r)
                    .await
                    .map(|v| rpc::reply::<PasswordChangedReq>(&v))
            }
            PurgeReq::PATH => self.purge().await.map(|v| rpc::reply::<PurgeReq>(&v)),
            _ => Err(AppError::NotFound),
        };
        match result {
            Ok(resp) => resp,
            Err(e) => {
                worker::console_error!("user-sessions {path}: {}", e.log_json());
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
    fn storage(&self) -> Storage {
        Storage(self.state.storage().sql())
    }

    fn cfg(&self) -> std::result::Result<std::rc::Rc<Config>, AppError> {
        config(&self.env)
    }

    fn db(&self) -> std::result::Result<worker::D1Database, AppError> {
        self.env.d1(bindings::DB).fault("objects.user_sessions.db")
    }

    /// The kid new access tokens are signed with (stamped so a replay re-signs alike).
    async fn active_kid(&self, cfg: &Config) -> std::result::Result<String, AppError> {
        Ok(crate::edge::keys::current(&self.env, cfg)
            .await?
            .active()
            .kid
            .clone())
    }

    async fn create(
        &self,
        user_id: &str,
        req: CreateReq,
    ) -> std::result::Result<CreateResp, AppError> {
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

        // ---- decision and local write: synchronous, no await ----
        let storage = self.storage();
        if req.clears_lockout {
            storage.save_lockout(lockout::succeed())?;
        }
        if storage
            .password_stamp()?
            .is_some_and(|fp| fp != req.password_fp)
        {
            return Ok(CreateResp::Refused);
        }
        // A key's first login holds it until its session is in D1 and the key remembered; an
        // identical login arriving meanwhile is told to retry rather than open a second one.
        let mut _in_flight = None;
        if let Some(key) = &req.login_key {
            match self.replay_login(user_id, key, now)? {
                Replay::Granted(grant) => return Ok(CreateResp::Granted(grant)),
                Replay::Mismatch => return Ok(CreateResp::KeyMismatch),
                Replay::Fresh => {}
            }
            match InFlight::take(&self.logins_in_flight, &key.key) {
                Some(held) => _in_flight = Some(held),
                None => return Ok(CreateResp::KeyInUse),
            }
        }
        storage.insert_session(&session_id, &secret, &token_hash(&token), now, expires_at)?;
        // Bounded housekeeping; a failure leaves the rows for the next session to prune.
        let _ = storage.prune(now - login_key::LOGIN_KEY_TTL_S, now - 86_400);

        // ---- the mirror row, before any token leaves: the per-request check reads it ----
        let inserted = d1::sessions::insert(
            &self.db()?,
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
            let _ = self.storage().forget(&session_id);
            return Err(e);
        }
        // Other events ran during that await. A revocation of all sessions (a password change,
        // a deactivation) may have marked this one; its D1 update then found no row yet, so
        // the row just inserted must be revoked too, and no token handed out.
        let storage = self.storage();
        if storage.revoked_at(&session_id)?.is_some() {
            storage.mark_unmirrored(&session_id)?;
            if self.flush_mirror().await.is_err() {
                self.schedule_retry().await;
            }
            return Ok(CreateResp::Refused);
        }
        let stamp = AccessStamp {
            iat: now,
            jti,
            kid: active_kid.clone(),
        };
        // Remembered only once the session is in D1: a replay never hands over a session the
        // per-request check does not know yet (until then the key is held in flight).
        if let Some(key) = &req.login_key {
            storage.remember_login_key(&key.key, &key.fingerprint, &session_id, &stamp, now)?;
        }

        Ok(CreateResp::Granted(Grant {
            session_id,
            refresh_token: token,
            stamp,
            replayed: false,
        }))
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
        let since = now - login_key::LOGIN_KEY_TTL_S;
        let Some(row) = self.storage().login_key(&key.key, since)? else {
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

    /// A new password: stamped, any lock lifted and the sessions revoked in one synchronous
    /// step (see the module docs), then mirrored and announced.
    async fn password_changed(
        &self,
        user_id: &str,
        req: PasswordChangedReq,
    ) -> std::result::Result<RevokeResp, AppError> {
        let now = now_s();
        let storage = self.storage();
        storage.set_password_stamp(&req.password_fp)?;
        storage.save_lockout(lockout::succeed())?;
        let revoked = storage.revoke(None, req.except.as_deref(), req.reason, now)?;
        let mirrored = self.flush_or_schedule().await;
        self.announce(user_id, &revoked).await;
        Ok(RevokeResp {
            revoked: revoked.len(),
            found: true,
            mirrored,
        })
    }

    async fn rotate(
        &self,
        user_id: &str,
        req: RotateReq,
    ) -> std::result::Result<RotateResp, AppError> {
        let cfg = self.cfg()?;
        // Looked up before the decision block, which must not await.
        let active_kid = self.active_kid(&cfg).await?;
        let now = now_s();
        let presented = req.refresh_token;
        let hash = token_hash(&presented);
        // Fresh randomness is drawn before the decision so nothing below awaits.
        let next_jti = rand::uuid()?;

        // ---- decision and write: synchronous, no await (see module docs) ----
        let storage = self.storage();
        let token = storage.token(&hash)?;
        let session: Option<SessionRow> = match &token {
            Some(t) => storage.session(&t.session_id)?,
            None => None,
        };
        let session_state = session.as_ref().map(SessionRow::state);
        let policy = RotationPolicy {
            reuse_window_s: cfg.refresh_reuse_window_s,
        };
        let successor = |s: &SessionRow| -> std::result::Result<String, AppError> {
            let key = b64url_decode(&s.secret)
                .ok_or_else(|| AppError::fault("objects.user_sessions.rotate", "bad secret"))?;
            Ok(format!("{user_id}.{}", derive_token(&key, &presented)))
        };
        let mut extended_to = None;
        let response = match rotate(session_state.as_ref(), token.as_ref(), now, policy) {
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
                    storage.extend(&s.id, expires_at)?;
                }
                extended_to = Some(expires_at);
                let stamp = AccessStamp {
                    iat: now,
                    jti: next_jti,
                    kid: active_kid.clone(),
                };
                storage.use_token(&hash, now, &stamp)?;
                storage.insert_token(&token_hash(&next), &s.id, now)?;
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
                storage.revoke(Some(&s.id), None, RevokeReason::RefreshReuse, now)?;
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
                    let touched =
                        d1::sessions::touch_and_extend(&self.db()?, &g.session_id, now, expires_at)
                            .await;
                    if let Err(e) = touched {
                        // The rotation is committed; the mirror catches up on the extension.
                        worker::console_warn!("user-sessions touch: {e}");
                        self.storage().mark_unmirrored(&g.session_id)?;
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
        Ok(response)
    }

    async fn revoke(
        &self,
        user_id: &str,
        req: RevokeReq,
    ) -> std::result::Result<RevokeResp, AppError> {
        let now = now_s();
        let storage = self.storage();
        let found = match &req.session_id {
            Some(id) => storage.exists(id)?,
            None => true,
        };
        let revoked = storage.revoke(
            req.session_id.as_deref(),
            req.except.as_deref(),
            req.reason,
            now,
        )?;
        let mirrored = self.flush_or_schedule().await;
        self.announce(user_id, &revoked).await;
        Ok(RevokeResp {
            revoked: revoked.len(),
            found,
            mirrored,
        })
    }

    /// Counts a login attempt before the password is checked: `core::lockout::begin` decides,
    /// storage keeps its state. Read and write without an await, so N parallel attempts count
    /// exactly N.
    fn attempt(&self) -> std::result::Result<AttemptResp, AppError> {
        let cfg = self.cfg()?;
        let storage = self.storage();
        let state = storage.lockout()?;
        let (next, attempt) = lockout::begin(state, now_s(), cfg.lockout);
        if next != state {
            storage.save_lockout(next)?;
        }
        Ok(match attempt {
            Attempt::Proceed { locks } => AttemptResp {
                proceed: true,
                locks,
            },
            Attempt::Locked => AttemptResp {
                proceed: false,
                locks: false,
            },
        })
    }

    /// The same storage read as `attempt` (an unknown address costs alike), nothing written.
    fn probe(&self) -> std::result::Result<AttemptResp, AppError> {
        let _ = self.storage().lockout()?;
        Ok(AttemptResp {
            proceed: true,
            locks: false,
        })
    }

    /// A correct password: `core::lockout::succeed` decides the new state.
    fn attempt_ok(&self) -> std::result::Result<Done, AppError> {
        self.storage().save_lockout(lockout::succeed())?;
        Ok(Done {})
    }

    /// A correct password of an account with a second factor: `core::lockout::refund`.
    fn attempt_refund(&self) -> std::result::Result<Done, AppError> {
        let storage = self.storage();
        let state = storage.lockout()?;
        storage.save_lockout(lockout::refund(state, now_s()))?;
        Ok(Done {})
    }

    async fn purge(&self) -> std::result::Result<Done, AppError> {
        self.state
            .storage()
            .delete_all()
            .await
            .fault("objects.user_sessions.purge")?;
        Ok(Done {})
    }

    /// Tells the user's devices, and closes the revoked sessions' sockets.
    async fn announce(&self, user_id: &str, revoked: &[String]) {
        for sid in revoked {
            let event = Event::SessionRevoked {
                session_id: sid.clone(),
            };
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
        let pending = self.storage().unmirrored()?;
        if pending.is_empty() {
            return Ok(());
        }
        if self.cfg()?.dev_fault("session_mirror") {
            return Err(AppError::fault(
                "objects.user_sessions.flush_mirror",
                "injected fault: session_mirror",
            ));
        }
        let changes: Vec<_> = pending
            .iter()
            .map(|p| match p.revoked_at {
                Some(at) => d1::sessions::Mirrored::Revoked {
                    id: &p.id,
                    reason: p.revoked_reason.as_deref().unwrap_or("revoked"),
                    at,
                },
                None => d1::sessions::Mirrored::Extended {
                    id: &p.id,
                    expires_at: p.expires_at,
                },
            })
            .collect();
        d1::sessions::mirror(&self.db()?, &changes).await?;
        let storage = self.storage();
        for p in &pending {
            storage.mark_mirrored(&p.id)?;
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
}
