//! Login, refresh and logout: where sessions begin, rotate and end.

use crate::core::account::User;
use crate::core::api::TokenResponse;
use crate::core::audit::Event;
use crate::core::browser::cookies::{Mode, Source};
use crate::core::config::Limit;
use crate::core::credits::IdempotencyKey;
use crate::core::domain::{DeviceName, Email, Password};
use crate::core::error::{AppError, Faulty};
use crate::core::login_key;
use crate::core::mfa::{login_step, Authentication, LoginStep};
use crate::core::session::RevokeReason;
use crate::core::token::{sign, AccessClaims};
use crate::edge::auth::authenticate;
use crate::edge::browser;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{no_content, read_json};
use crate::edge::objects::user_sessions::{
    password_fp, split_refresh_token, Client, CreateReq, CreateResp, Grant, LoginKey, RevokeReq,
    RevokeResp, RotateResp,
};
use crate::edge::passwords::{self, OnRight};
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::routes::mfa;
use futures_util::future::join;
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub device_name: Option<String>,
    /// `bearer` (default) or `cookie`: how the session is handed over.
    #[serde(default)]
    pub mode: Option<String>,
}

impl CredentialsBody {
    pub fn mode(&self) -> Result<Mode, AppError> {
        Mode::parse(self.mode.as_deref())
    }
}

/// Rate limits and the user (side by side), then a lockout-counted password check, and whether
/// the account has a confirmed second factor. Unknown e-mails cost the same hashing and storage
/// round trips (the same single lookup) and get the same answer as a wrong password. For an
/// account with a second factor a right password leaves the lockout count as it is: the second
/// factor clears it.
pub async fn authenticate_first_factor(
    ctx: &Ctx,
    email: &str,
    password: String,
) -> Result<(User, bool), AppError> {
    first_factor(ctx, email, password, false).await
}

/// `authenticate_first_factor`; with `defer_clear`, a correct password of an account without
/// a second factor leaves clearing the lockout count to the caller (`OnRight::Deferred`).
async fn first_factor(
    ctx: &Ctx,
    email: &str,
    password: String,
    defer_clear: bool,
) -> Result<(User, bool), AppError> {
    let email = Email::parse(email)?;
    let password = Password::parse_presented(password)?;
    let db = ctx.db()?;
    // The limits and the account lookup are independent: side by side, they cost one round
    // trip instead of two. The limits still run in order (a refusal by the address's limit
    // charges nothing to the e-mail's), and a refused attempt gets its 429 before any
    // password work.
    let limits = async {
        enforce(ctx, Limit::LoginIp, Key::Client).await?;
        enforce(ctx, Limit::LoginEmail, Key::Email(&email)).await
    };
    let (limited, found) = join(limits, d1::users::for_sign_in(&db, email.as_str())).await;
    limited?;
    match found? {
        None => Err(passwords::check_unknown(ctx, &email, &password).await),
        Some((user, second_factor)) => {
            let on_right = match (second_factor, defer_clear) {
                (true, _) => OnRight::Refund,
                (false, true) => OnRight::Deferred,
                (false, false) => OnRight::Clear,
            };
            passwords::check_counted(ctx, &user, &password, on_right).await?;
            Ok((user, second_factor))
        }
    }
}

/// Signs the access token of a grant and builds the response.
async fn token_response(
    ctx: &Ctx,
    user: &User,
    grant: Grant,
    how: Authentication,
) -> Result<TokenResponse, AppError> {
    let cfg = &ctx.cfg;
    let keys = crate::edge::keys::current(&ctx.env, cfg).await?;
    let claims = AccessClaims {
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone(),
        sub: user.id.to_string(),
        sid: grant.session_id.clone(),
        jti: grant.stamp.jti.clone(),
        amr: how.amr(),
        acr: how.acr(),
        iat: grant.stamp.iat,
        exp: grant.stamp.iat + cfg.access_ttl_s,
    };
    let access_token =
        sign(&keys, Some(&grant.stamp.kid), &claims).fault("routes.tokens.token_response")?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        // The token's lifetime, as issued (a replayed pair reports it unchanged).
        expires_in: claims.exp - claims.iat,
        refresh_token: grant.refresh_token,
        session_id: grant.session_id,
        user: user.view(),
    })
}

/// Opens a session for an authenticated, usable user: its tokens, and whether an earlier
/// login with the same `Idempotency-Key` opened it.
pub async fn open_session(
    ctx: &Ctx,
    user: &User,
    device_name: Option<&str>,
    login_key: Option<LoginKey>,
) -> Result<(TokenResponse, bool), AppError> {
    open_authenticated_session(
        ctx,
        user,
        device_name,
        login_key,
        Authentication::Password,
        false,
    )
    .await
}

/// `open_session` for a user authenticated `how`: a session opened with more than a password
/// has it recorded, so its refreshed access tokens keep saying so. `clears_lockout`: the
/// lockout count is cleared in the same call (`OnRight::Deferred`), whatever its outcome.
pub async fn open_authenticated_session(
    ctx: &Ctx,
    user: &User,
    device_name: Option<&str>,
    login_key: Option<LoginKey>,
    how: Authentication,
    clears_lockout: bool,
) -> Result<(TokenResponse, bool), AppError> {
    let device_name = match device_name {
        Some(d) => DeviceName::parse(d)?,
        None => None,
    };
    let created = Client::for_user(&ctx.env, &user.id)?
        .create(&CreateReq {
            device_name: device_name.map(|d| d.as_str().to_owned()),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            password_fp: password_fp(&user.password_hash),
            login_key,
            clears_lockout,
        })
        .await?;
    let grant = match created {
        CreateResp::Granted(g) => g,
        // The password checked a moment ago has just been changed or reset.
        CreateResp::Refused => return Err(AppError::InvalidCredentials),
        CreateResp::KeyMismatch => {
            return Err(AppError::Unprocessable {
                code: "idempotency_key_mismatch",
                detail: "this Idempotency-Key was used with another request body".into(),
            })
        }
        CreateResp::KeyInUse => {
            return Err(AppError::Conflict {
                code: "idempotency_key_in_use",
                detail: "a login with this Idempotency-Key is still being processed; retry it"
                    .into(),
            })
        }
    };
    let replayed = grant.replayed;
    if how != Authentication::Password {
        d1::mfa::record_authentication(&ctx.db()?, &grant.session_id, how, ctx.now).await?;
    }
    if !replayed {
        // After the response: nothing the caller gets depends on the audit row (a failed
        // write is logged either way), and the session it names already exists.
        let (c, user_id, session_id) = (ctx.clone(), user.id.to_string(), grant.session_id.clone());
        ctx.background("login audit", async move {
            audit::record(&c, &user_id, Event::LoginSucceeded, Some(&session_id)).await;
            Ok(())
        });
    }
    Ok((token_response(ctx, user, grant, how).await?, replayed))
}

/// Opens a session for an authenticated, usable user and answers with its tokens (or, in
/// cookie mode, sets them as cookies).
pub async fn start_session(
    ctx: &Ctx,
    user: &User,
    device_name: Option<&str>,
    mode: Mode,
    login_key: Option<LoginKey>,
) -> Result<Response, AppError> {
    start_authenticated_session(
        ctx,
        user,
        device_name,
        mode,
        login_key,
        Authentication::Password,
        false,
    )
    .await
}

/// `start_session` for a user authenticated `how` (`clears_lockout`: see
/// `open_authenticated_session`).
pub async fn start_authenticated_session(
    ctx: &Ctx,
    user: &User,
    device_name: Option<&str>,
    mode: Mode,
    login_key: Option<LoginKey>,
    how: Authentication,
    clears_lockout: bool,
) -> Result<Response, AppError> {
    let (tokens, replayed) =
        open_authenticated_session(ctx, user, device_name, login_key, how, clears_lockout).await?;
    let mut response = browser::session_response(ctx, mode, &tokens)?;
    if replayed {
        let _ = response.headers_mut().set("idempotent-replayed", "true");
    }
    Ok(response)
}

pub async fn login(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: CredentialsBody = read_json(req).await?;
    if let Some(d) = body.device_name.as_deref() {
        DeviceName::parse(d)?;
    }
    let mode = body.mode()?;
    // Idempotent login: a retry with the same key and body gets the same session.
    let login_key = match req.headers().get("idempotency-key").ok().flatten() {
        None => None,
        Some(k) => Some(LoginKey {
            key: login_key::key_digest(IdempotencyKey::parse(Some(&k))?.as_str()),
            fingerprint: login_key::fingerprint(
                Email::parse(&body.email)?.as_str(),
                body.device_name.as_deref(),
                mode,
            ),
        }),
    };
    let (user, second_factor) = first_factor(ctx, &body.email, body.password, true).await?;
    // Without a second factor, clearing the lockout count after the right password was
    // deferred (`OnRight::Deferred`): the session's creation does it in the same call to the
    // user's object, one round trip less. A login that opens no session clears it on its own.
    let clears = !second_factor;
    let clear_now = || async {
        if clears {
            Client::for_user(&ctx.env, &user.id)?
                .login_succeeded()
                .await?;
        }
        Ok::<_, AppError>(())
    };
    let usable = async {
        user.sign_in().into_result()?;
        super::admin::bootstrap(ctx, &user).await
    };
    if let Err(e) = usable.await {
        clear_now().await?;
        return Err(e);
    }
    match login_step(second_factor) {
        LoginStep::Session => {
            start_authenticated_session(
                ctx,
                &user,
                body.device_name.as_deref(),
                mode,
                login_key,
                Authentication::Password,
                clears,
            )
            .await
        }
        LoginStep::SecondFactor { methods } => {
            clear_now().await?;
            mfa::challenge(ctx, &user, body.device_name, mode, methods).await
        }
    }
}

/// Does the account have a confirmed second factor?
pub async fn has_second_factor(ctx: &Ctx, user: &User) -> Result<bool, AppError> {
    Ok(d1::mfa::totp(&ctx.db()?, &user.id)
        .await?
        .is_some_and(|f| f.confirmed))
}

/// After a first factor other than the password (an external identity, an exchanged token):
/// the session, or the second-factor challenge when the account has one. An external sign-in
/// never skips the factor the account owner set up.
pub async fn first_factor_signed_in(
    ctx: &Ctx,
    user: &User,
    device_name: Option<String>,
    mode: Mode,
) -> Result<Response, AppError> {
    let second_factor = has_second_factor(ctx, user).await?;
    password_signed_in(ctx, user, second_factor, device_name, mode, None).await
}

/// After a right password for a usable account: the session, or, when the account has a
/// second factor, the challenge for it (no session yet).
pub async fn password_signed_in(
    ctx: &Ctx,
    user: &User,
    second_factor: bool,
    device_name: Option<String>,
    mode: Mode,
    login_key: Option<LoginKey>,
) -> Result<Response, AppError> {
    match login_step(second_factor) {
        LoginStep::Session => {
            start_session(ctx, user, device_name.as_deref(), mode, login_key).await
        }
        LoginStep::SecondFactor { methods } => {
            mfa::challenge(ctx, user, device_name, mode, methods).await
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    /// Absent in cookie mode: the refresh cookie carries it.
    #[serde(default)]
    refresh_token: Option<String>,
}

pub async fn refresh(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: RefreshBody = read_json(req).await?;
    let (refresh_token, mode) = match body.refresh_token {
        Some(t) => (t, Mode::Bearer),
        None => match browser::refresh_cookie(req, ctx)? {
            Some(t) => (t, Mode::Cookie),
            None => {
                return Err(AppError::InvalidRequest(
                    "invalid body: missing field `refresh_token` (or the refresh cookie)".into(),
                ))
            }
        },
    };
    enforce(ctx, Limit::RefreshIp, Key::Client).await?;
    let user_id = split_refresh_token(&refresh_token)
        .ok_or(AppError::InvalidRefreshToken)?
        .to_string();
    let outcome = Client::for_user(&ctx.env, &user_id)?
        .rotate(&refresh_token)
        .await?;
    let grant = match outcome {
        RotateResp::Granted(g) => g,
        RotateResp::Reused { session_id } => {
            audit::record(ctx, &user_id, Event::RefreshTokenReused, Some(&session_id)).await;
            return Err(AppError::RefreshTokenReused);
        }
        RotateResp::Invalid => return Err(AppError::InvalidRefreshToken),
    };
    let user = d1::users::by_id(&ctx.db()?, &user_id)
        .await?
        .ok_or(AppError::InvalidRefreshToken)?;
    // The account must still hold sessions; why not is for a password holder to learn.
    if !user.holds_sessions() {
        return Err(AppError::InvalidRefreshToken);
    }
    let how = d1::mfa::authentication(&ctx.db()?, &grant.session_id).await?;
    browser::session_response(ctx, mode, &token_response(ctx, &user, grant, how).await?)
}

pub async fn logout(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let done = revoke_sessions(
        ctx,
        &authed.user.id,
        Some(&authed.session_id),
        None,
        RevokeReason::Logout,
    )
    .await?;
    require_mirrored(&done)?;
    audit::record(
        ctx,
        &authed.user.id,
        Event::Logout,
        Some(&authed.session_id),
    )
    .await;
    let mut response = no_content()?;
    if authed.source == Source::Cookie {
        browser::clear_cookies(&mut response)?;
    }
    Ok(response)
}

/// A 2xx for a revocation promises that the access tokens of the revoked sessions are refused
/// from then on, which the per-request check learns from D1. When the object could not write
/// D1 (it retries by alarm; refresh is already refused), the answer is 503, never 2xx.
pub fn require_mirrored(done: &RevokeResp) -> Result<(), AppError> {
    if done.mirrored {
        Ok(())
    } else {
        Err(AppError::Unavailable(
            "the sign-out is recorded but not yet effective everywhere; try again".into(),
        ))
    }
}

/// Revokes one session (`only`) or all of a user's sessions but `except`; `found` is `false`
/// when `only` names a session the user does not have.
pub async fn revoke_sessions(
    ctx: &Ctx,
    user_id: &str,
    only: Option<&str>,
    except: Option<&str>,
    reason: RevokeReason,
) -> Result<RevokeResp, AppError> {
    let resp = Client::for_user(&ctx.env, user_id)?
        .revoke(&RevokeReq {
            session_id: only.map(str::to_owned),
            except: except.map(str::to_owned),
            reason,
        })
        .await?;
    Ok(resp)
}
