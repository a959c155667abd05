//! Second factors: TOTP enrolment (start, confirm with recovery codes, remove) and the second
//! step of a sign-in (`mfa_token` + code → session).

use super::tokens::start_authenticated_session;
use crate::core::account::User;
use crate::core::audit::Event;
use crate::core::browser::cookies::Mode;
use crate::core::config::Limit;
use crate::core::crypto::{looks_like_opaque_token, opaque_token, token_hash};
use crate::core::domain::{DeviceName, Password};
use crate::core::error::AppError;
use crate::core::mfa::{
    base32, check_totp, otpauth_uri, recovery_code, recovery_code_hash, seal_aad, step_up,
    Authentication, Challenge, Code, StepUp, TotpCheck, TotpFactor, CHALLENGE_ATTEMPTS,
    CHALLENGE_TTL_S, RECOVERY_CODES, SECRET_LEN,
};
use crate::edge::auth::{authenticate, Authed};
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{json, no_content, read_json};
use crate::edge::objects::user_sessions::Client;
use crate::edge::passwords;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use serde::{Deserialize, Serialize};
use worker::{D1Database, Request, Response};

/// The answer to a right password when a second factor is due: no session yet.
#[derive(Serialize)]
struct MfaRequired {
    mfa_required: bool,
    mfa_token: String,
    methods: Vec<&'static str>,
    expires_in: i64,
}

/// Opens the challenge of a sign-in whose password was right and answers with its token.
pub async fn challenge(
    ctx: &Ctx,
    user: &User,
    device_name: Option<String>,
    mode: Mode,
    methods: Vec<&'static str>,
) -> Result<Response, AppError> {
    if let Some(d) = device_name.as_deref() {
        DeviceName::parse(d)?;
    }
    let token = opaque_token(rand::bytes()?);
    d1::mfa::open_challenge(
        &ctx.db()?,
        &token_hash(&token),
        &Challenge {
            user_id: user.id.to_string(),
            cookie_mode: mode == Mode::Cookie,
            device_name,
        },
        CHALLENGE_ATTEMPTS,
        ctx.now,
        ctx.now + CHALLENGE_TTL_S,
    )
    .await?;
    json(
        200,
        &MfaRequired {
            mfa_required: true,
            mfa_token: token,
            methods,
            expires_in: CHALLENGE_TTL_S,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    mfa_token: String,
    code: String,
}

/// `POST /v1/auth/mfa/verify`: the second step of a sign-in.
pub async fn verify(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: VerifyBody = read_json(req).await?;
    let code = Code::parse(&body.code)?;
    enforce(ctx, Limit::LoginIp, Key::Client).await?;
    if !looks_like_opaque_token(&body.mfa_token) {
        return Err(AppError::InvalidMfaToken);
    }
    let hash = token_hash(&body.mfa_token);
    let db = ctx.db()?;
    // The attempt is spent before the code is looked at: parallel guesses on one token cannot
    // exceed its attempts.
    let challenge = d1::mfa::take_attempt(&db, &hash, ctx.now)
        .await?
        .ok_or(AppError::InvalidMfaToken)?;
    let user = d1::users::by_id(&db, &challenge.user_id)
        .await?
        .ok_or(AppError::InvalidMfaToken)?;
    user.sign_in().into_result()?;
    // A factor removed since the password step: that sign-in is void, start again.
    let factor = d1::mfa::totp(&db, &user.id)
        .await?
        .filter(|f| f.confirmed)
        .ok_or(AppError::InvalidMfaToken)?;
    let how = check_code(ctx, &user, &factor, &code).await?;
    // Single use: of two parallel right answers (a TOTP code and a recovery code), one wins.
    if !d1::mfa::consume_challenge(&db, &hash).await? {
        return Err(AppError::InvalidMfaToken);
    }
    let mode = if challenge.cookie_mode {
        Mode::Cookie
    } else {
        Mode::Bearer
    };
    start_authenticated_session(
        ctx,
        &user,
        challenge.device_name.as_deref(),
        mode,
        None,
        how,
        false,
    )
    .await
}

/// Checks a second-factor code of `user`, counted in the account lockout like a password
/// guess: a wrong, replayed or spent code is a failure (audited, may lock), a locked account
/// has every code refused unchecked, a right one clears the count. A right TOTP code burns
/// its time step; a right recovery code is spent (and audited).
async fn check_code(
    ctx: &Ctx,
    user: &User,
    factor: &TotpFactor,
    code: &Code,
) -> Result<Authentication, AppError> {
    let client = Client::for_user(&ctx.env, &user.id)?;
    let attempt = client.login_attempt().await?;
    let db = ctx.db()?;
    let accepted = if !attempt.proceed {
        None
    } else {
        match code {
            Code::Totp(digits) => {
                let secret = ctx
                    .cfg
                    .factor_key
                    .open(&seal_aad(&user.id), &factor.sealed_secret)
                    .ok_or_else(|| {
                        AppError::fault("mfa.check_code", "a TOTP seed does not open")
                    })?;
                match check_totp(&secret, digits, ctx.now, factor.last_step) {
                    TotpCheck::Accepted { step } => {
                        if d1::mfa::accept_step(&db, &user.id, step).await? {
                            Some(Authentication::PasswordAndTotp)
                        } else {
                            // A parallel request used this step (or a later one) first.
                            None
                        }
                    }
                    TotpCheck::Replayed | TotpCheck::Wrong => None,
                }
            }
            Code::Recovery(normalised) => {
                let spent = d1::mfa::use_recovery_code(
                    &db,
                    &user.id,
                    &recovery_code_hash(normalised),
                    ctx.now,
                )
                .await?;
                if spent {
                    audit::record(ctx, &user.id, Event::RecoveryCodeUsed, None).await;
                    Some(Authentication::PasswordAndRecoveryCode)
                } else {
                    None
                }
            }
        }
    };
    match accepted {
        Some(how) => {
            client.login_succeeded().await?;
            Ok(how)
        }
        None => {
            passwords::record_failure(ctx, user, Event::MfaFailed, attempt.locks);
            Err(AppError::InvalidMfaCode)
        }
    }
}

#[derive(Serialize)]
struct Enrolment {
    secret: String,
    otpauth_uri: String,
}

/// Step-up: a sensitive action needs the session's last authentication to be recent (within
/// `REAUTH_WINDOW_SECONDS`) and to include the second factor when the account has one; else
/// 401 `reauthentication_required` (`POST /v1/auth/reauthenticate` refreshes it).
pub async fn require_recent_authentication(ctx: &Ctx, authed: &Authed) -> Result<(), AppError> {
    let (last, second_factor) =
        d1::mfa::step_up_state(&ctx.db()?, &authed.session_id, &authed.user.id)
            .await?
            .ok_or(AppError::SessionRevoked)?;
    match step_up(last, second_factor, ctx.now, ctx.cfg.reauth_window_s) {
        StepUp::Fresh => Ok(()),
        StepUp::Required => Err(AppError::ReauthenticationRequired),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReauthenticateBody {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
    /// A passkey assertion (`AuthenticationResponseJSON`) after `POST /v1/auth/passkeys/options`.
    #[serde(default)]
    credential: Option<crate::core::webauthn::AuthenticationResponseJson>,
}

/// `POST /v1/auth/reauthenticate`: the password (an account without a second factor), a
/// second-factor code (an account with one), or one of the user's passkeys (any account: a
/// passkey with user verification is two factors in one) makes the session's authentication
/// recent again. Passwords and codes are counted in the lockout like a sign-in.
pub async fn reauthenticate(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let user = &authed.user;
    enforce(ctx, Limit::ProfileUser, Key::User(&user.id)).await?;
    let body: ReauthenticateBody = read_json(req).await?;
    let db = ctx.db()?;
    let how = match body.credential {
        Some(_) if body.password.is_some() || body.code.is_some() => {
            return Err(AppError::InvalidRequest(
                "invalid body: give exactly one of `password`, `code` or `credential`".into(),
            ))
        }
        Some(credential) => passkey_of(ctx, user, &credential).await?,
        None => password_or_code(ctx, &db, user, body.password, body.code).await?,
    };
    d1::mfa::reauthenticated(&db, &authed.session_id, how, ctx.now).await?;
    audit::record(
        ctx,
        &user.id,
        Event::Reauthenticated,
        Some(&authed.session_id),
    )
    .await;
    no_content()
}

/// A passkey assertion of the session's own user.
async fn passkey_of(
    ctx: &Ctx,
    user: &User,
    credential: &crate::core::webauthn::AuthenticationResponseJson,
) -> Result<Authentication, AppError> {
    let (owner, how) = super::passkeys::check_assertion(ctx, credential).await?;
    if owner.id != user.id {
        return Err(AppError::InvalidPasskey(
            "this passkey belongs to another account",
        ));
    }
    Ok(how)
}

/// The password of an account without a second factor, or a code of one with it.
async fn password_or_code(
    ctx: &Ctx,
    db: &D1Database,
    user: &User,
    password: Option<String>,
    code: Option<String>,
) -> Result<Authentication, AppError> {
    let factor = d1::mfa::totp(db, &user.id).await?.filter(|f| f.confirmed);
    match (password, code, factor) {
        (Some(password), None, None) => {
            let password = Password::parse_presented(password)?;
            passwords::check(ctx, user, &password).await?;
            Ok(Authentication::Password)
        }
        (Some(_), None, Some(_)) => Err(AppError::InvalidRequest(
            "this account has a second factor: reauthenticate with `code` or a passkey `credential`".into(),
        )),
        (None, Some(code), Some(factor)) => check_code(ctx, user, &factor, &Code::parse(&code)?).await,
        (None, Some(_), None) => Err(AppError::InvalidRequest(
            "this account has no second factor: reauthenticate with `password` or a passkey `credential`".into(),
        )),
        _ => Err(AppError::InvalidRequest(
            "invalid body: give exactly one of `password`, `code` or `credential`".into(),
        )),
    }
}

/// `POST /v1/me/mfa/totp`: a new pending TOTP seed (a pending one is replaced).
pub async fn start_totp(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let user = &authed.user;
    enforce(ctx, Limit::ProfileUser, Key::User(&user.id)).await?;
    require_recent_authentication(ctx, &authed).await?;
    let secret: [u8; SECRET_LEN] = rand::bytes()?;
    let sealed = ctx
        .cfg
        .factor_key
        .seal(&seal_aad(&user.id), &secret, rand::bytes()?);
    if !d1::mfa::start_totp(&ctx.db()?, &user.id, &sealed, ctx.now).await? {
        return Err(already_enabled());
    }
    audit::record(
        ctx,
        &user.id,
        Event::TotpEnrolmentStarted,
        Some(&authed.session_id),
    )
    .await;
    let secret_b32 = base32(&secret);
    json(
        201,
        &Enrolment {
            otpauth_uri: otpauth_uri(&issuer_label(ctx), &user.email, &secret_b32),
            secret: secret_b32,
        },
    )
}

/// The issuer an authenticator app shows: the configured issuer without its scheme.
fn issuer_label(ctx: &Ctx) -> String {
    let iss = ctx.cfg.issuer.as_str();
    iss.split_once("://")
        .map_or(iss, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_owned()
}

fn already_enabled() -> AppError {
    AppError::Conflict {
        code: "mfa_already_enabled",
        detail: "TOTP is already enabled; remove it first to enrol a new authenticator".into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

#[derive(Serialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// `POST /v1/me/mfa/totp/confirm`: a code from the app proves the pending seed; the factor is
/// on from now, and its recovery codes are shown, this once.
pub async fn confirm_totp(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let user = &authed.user;
    enforce(ctx, Limit::ProfileUser, Key::User(&user.id)).await?;
    let body: CodeBody = read_json(req).await?;
    let Code::Totp(digits) = Code::parse(&body.code)? else {
        return Err(AppError::InvalidRequest(
            "invalid code: six digits from the authenticator app".into(),
        ));
    };
    let db = ctx.db()?;
    let factor = match d1::mfa::totp(&db, &user.id).await? {
        None => {
            return Err(AppError::Conflict {
                code: "mfa_not_pending",
                detail: "no TOTP enrolment is pending; POST /v1/me/mfa/totp starts one".into(),
            })
        }
        Some(f) if f.confirmed => return Err(already_enabled()),
        Some(f) => f,
    };
    let secret = ctx
        .cfg
        .factor_key
        .open(&seal_aad(&user.id), &factor.sealed_secret)
        .ok_or_else(|| AppError::fault("mfa.confirm_totp", "a TOTP seed does not open"))?;
    let TotpCheck::Accepted { step } = check_totp(&secret, &digits, ctx.now, factor.last_step)
    else {
        return Err(AppError::InvalidMfaCode);
    };
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let code = recovery_code(rand::bytes()?);
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let hashes: Vec<String> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    if !d1::mfa::confirm_totp(&db, &user.id, step, &hashes, ctx.now).await? {
        // A parallel confirmation won (its codes are the ones stored).
        return Err(already_enabled());
    }
    audit::record(ctx, &user.id, Event::TotpEnabled, Some(&authed.session_id)).await;
    json(
        200,
        &RecoveryCodes {
            recovery_codes: codes,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveBody {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// `DELETE /v1/me/mfa/totp` with the password or a current code (TOTP or recovery): removes
/// the factor (or cancels a pending enrolment) and its recovery codes.
pub async fn remove_totp(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let user = &authed.user;
    enforce(ctx, Limit::ProfileUser, Key::User(&user.id)).await?;
    let body: RemoveBody = read_json(req).await?;
    require_recent_authentication(ctx, &authed).await?;
    let db = ctx.db()?;
    let factor = d1::mfa::totp(&db, &user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    match (body.password, body.code) {
        (Some(password), None) => {
            let password = Password::parse_presented(password)?;
            passwords::check(ctx, user, &password).await?;
        }
        (None, Some(code)) if factor.confirmed => {
            check_code(ctx, user, &factor, &Code::parse(&code)?).await?;
        }
        (None, Some(_)) => {
            return Err(AppError::InvalidRequest(
                "a pending enrolment is cancelled with the password".into(),
            ))
        }
        _ => {
            return Err(AppError::InvalidRequest(
                "invalid body: give exactly one of `password` or `code`".into(),
            ))
        }
    }
    if d1::mfa::remove_totp(&db, &user.id).await? {
        audit::record(ctx, &user.id, Event::TotpDisabled, Some(&authed.session_id)).await;
    }
    no_content()
}
