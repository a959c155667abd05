//! Passkeys (WebAuthn Level 3): registration, list, rename and removal for a signed-in user,
//! usernameless sign-in, and the assertion check `POST /v1/auth/reauthenticate` also takes.
//! What is checked is decided in `core::webauthn`; here are the challenge's single use (one
//! D1 statement), the ES256/RS256 signatures (WebCrypto) and the counter's update.

use super::mfa::require_recent_authentication;
use super::tokens::start_authenticated_session;
use crate::core::account::User;
use crate::core::audit::Event;
use crate::core::browser::cookies::Mode;
use crate::core::config::Limit;
use crate::core::crypto::{opaque_token, token_hash};
use crate::core::domain::DeviceName;
use crate::core::error::AppError;
use crate::core::idp::id_token::Alg;
use crate::core::mfa::Authentication;
use crate::core::webauthn::{
    self, check_sign_count, creation_options, parse_name, prepare_assertion, request_options,
    verify_registration, AuthenticationResponseJson, PublicKey, RegistrationResponseJson, Verify,
    WebauthnError, CHALLENGE_TTL_S, MAX_PASSKEYS_PER_USER,
};
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::passkeys::{NotStored, Purpose};
use crate::edge::d1::{self, audit};
use crate::edge::http::{json, no_content, read_json};
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

/// The opaque WebAuthn user handle of an account: its id's 16 bytes (random, not personal
/// data; never the e-mail).
fn user_handle(user: &User) -> Vec<u8> {
    uuid::Uuid::parse_str(&user.id)
        .map(|u| u.as_bytes().to_vec())
        .unwrap_or_else(|_| user.id.as_bytes().to_vec())
}

/// A fresh challenge, stored hashed for `purpose` (and, for a registration, its user).
async fn new_challenge(
    ctx: &Ctx,
    purpose: Purpose,
    user_id: Option<&str>,
) -> Result<String, AppError> {
    let challenge = opaque_token(rand::bytes()?);
    d1::passkeys::open_challenge(
        &ctx.db()?,
        &token_hash(&challenge),
        purpose,
        user_id,
        ctx.now,
        ctx.now + CHALLENGE_TTL_S,
    )
    .await?;
    Ok(challenge)
}

/// `POST /v1/me/passkeys/options`: creation options (a factor change: step-up applies).
pub async fn registration_options(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let user = &authed.user;
    enforce(ctx, Limit::ProfileUser, Key::User(&user.id)).await?;
    require_recent_authentication(ctx, &authed).await?;
    let existing: Vec<_> = d1::passkeys::of_user(&ctx.db()?, &user.id)
        .await?
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let challenge = new_challenge(ctx, Purpose::Register, Some(&user.id)).await?;
    let display = user.name.clone().unwrap_or_else(|| user.email.clone());
    json(
        200,
        &json!({"publicKey": creation_options(
            &ctx.cfg.webauthn,
            &challenge,
            &user_handle(user),
            &user.email,
            &display,
            &existing,
        )}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    credential: RegistrationResponseJson,
    #[serde(default)]
    name: Option<String>,
}

/// `POST /v1/me/passkeys`: verifies the attestation response and stores the passkey.
pub async fn register(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let user = &authed.user;
    enforce(ctx, Limit::ProfileUser, Key::User(&user.id)).await?;
    let body: RegisterBody = read_json(req).await?;
    require_recent_authentication(ctx, &authed).await?;
    let name = match body.name.as_deref() {
        None => "Passkey".to_owned(),
        Some(raw) => parse_name(raw).ok_or_else(|| {
            AppError::InvalidRequest(
                "invalid name: 1 to 64 characters, no control characters".into(),
            )
        })?,
    };
    let reg = verify_registration(&body.credential, &ctx.cfg.webauthn)?;
    let db = ctx.db()?;
    // Single use, and only the user it was issued to.
    match d1::passkeys::take_challenge(&db, &token_hash(&reg.challenge), Purpose::Register, ctx.now)
        .await?
    {
        Some(Some(owner)) if owner == user.id.as_str() => {}
        _ => return Err(WebauthnError::UnknownChallenge.into()),
    }
    let id = rand::uuid()?;
    match d1::passkeys::insert(&db, &id, &user.id, &reg, &name, ctx.now).await? {
        Ok(()) => {}
        Err(NotStored::Exists) => {
            return Err(AppError::Conflict {
                code: "passkey_exists",
                detail: "this credential is already registered".into(),
            })
        }
        Err(NotStored::Full) => {
            return Err(AppError::Conflict {
                code: "passkey_limit_reached",
                detail: format!(
                    "an account holds at most {MAX_PASSKEYS_PER_USER} passkeys; delete one first"
                ),
            })
        }
    }
    audit::record(
        ctx,
        &user.id,
        Event::PasskeyRegistered,
        Some(&authed.session_id),
    )
    .await;
    let view = d1::passkeys::of_user(&db, &user.id)
        .await?
        .into_iter()
        .map(|(v, _)| v)
        .find(|v| v.id == id)
        .ok_or_else(|| AppError::fault("passkeys.register", "a stored passkey is not listed"))?;
    json(201, &view)
}

/// `GET /v1/me/passkeys`.
pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let views: Vec<_> = d1::passkeys::of_user(&ctx.db()?, &authed.user.id)
        .await?
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    json(200, &json!({ "passkeys": views }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

/// `PATCH /v1/me/passkeys/{id}`: a new name (not a factor change: no step-up).
pub async fn rename(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    let body: RenameBody = read_json(req).await?;
    let name = parse_name(&body.name).ok_or_else(|| {
        AppError::InvalidRequest("invalid name: 1 to 64 characters, no control characters".into())
    })?;
    if !d1::passkeys::rename(&ctx.db()?, &authed.user.id, id, &name).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        ctx,
        &authed.user.id,
        Event::PasskeyRenamed,
        Some(&authed.session_id),
    )
    .await;
    no_content()
}

/// `DELETE /v1/me/passkeys/{id}` (step-up): never the last way to sign in.
pub async fn remove(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    require_recent_authentication(ctx, &authed).await?;
    let db = ctx.db()?;
    if d1::passkeys::delete_unless_last(&db, &authed.user.id, id).await? {
        audit::record(
            ctx,
            &authed.user.id,
            Event::PasskeyRemoved,
            Some(&authed.session_id),
        )
        .await;
        return no_content();
    }
    if !d1::passkeys::exists(&db, &authed.user.id, id).await? {
        return Err(AppError::NotFound);
    }
    Err(AppError::Conflict {
        code: "last_login_method",
        detail: "this passkey is the only way left to sign in; set a password (reset flow), link an identity or add another passkey first".into(),
    })
}

/// `POST /v1/auth/passkeys/options`: request options for a usernameless sign-in or a
/// reauthentication (no allow list: the passkey names its account).
pub async fn authentication_options(_req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    enforce(ctx, Limit::LoginIp, Key::Client).await?;
    let challenge = new_challenge(ctx, Purpose::Authenticate, None).await?;
    json(
        200,
        &json!({"publicKey": request_options(&ctx.cfg.webauthn, &challenge)}),
    )
}

/// Checks an assertion fully: client and authenticator data, the challenge (spent here), the
/// passkey, its owner's handle, the signature and the counter (updated). Returns the owner
/// and how they authenticated. A counter that does not grow is refused and audited.
pub async fn check_assertion(
    ctx: &Ctx,
    credential: &AuthenticationResponseJson,
) -> Result<(User, Authentication), AppError> {
    let a = prepare_assertion(credential, &ctx.cfg.webauthn)?;
    let db = ctx.db()?;
    if d1::passkeys::take_challenge(
        &db,
        &token_hash(&a.challenge),
        Purpose::Authenticate,
        ctx.now,
    )
    .await?
    .is_none()
    {
        return Err(WebauthnError::UnknownChallenge.into());
    }
    let stored = d1::passkeys::by_credential(&db, &a.credential_id)
        .await?
        .ok_or(WebauthnError::UnknownCredential)?;
    let user = d1::users::by_id(&db, &stored.user_id)
        .await?
        .ok_or(WebauthnError::UnknownCredential)?;
    if a.user_handle
        .as_ref()
        .is_some_and(|h| *h != user_handle(&user))
    {
        return Err(WebauthnError::UnknownCredential.into());
    }
    let key = PublicKey::from_cose(&stored.public_key)
        .map_err(|_| AppError::fault("passkeys.check_assertion", "a stored key does not parse"))?;
    let valid = match webauthn::verify(&key, &a.signed, &a.signature) {
        Verify::Done(ok) => ok,
        Verify::WebCrypto {
            alg,
            jwk,
            signature,
        } => {
            let alg = if alg == webauthn::RS256 {
                Alg::Rs256
            } else {
                Alg::Es256
            };
            crate::edge::idp::verify_jwk(alg, &jwk, &a.signed, &signature)
                .await
                .map_err(|e| AppError::fault("passkeys.check_assertion", e))?
        }
    };
    if !valid {
        return Err(WebauthnError::BadSignature.into());
    }
    let regressed = check_sign_count(stored.sign_count, a.sign_count).is_err()
        || !d1::passkeys::record_use(&db, &stored.id, a.sign_count, a.backed_up, ctx.now).await?;
    if regressed {
        audit::record(ctx, &user.id, Event::PasskeySignCountRegressed, None).await;
        return Err(WebauthnError::SignCountRegressed.into());
    }
    Ok((user, Authentication::passkey(stored.backup_eligible)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    credential: AuthenticationResponseJson,
    #[serde(default)]
    device_name: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

/// `POST /v1/auth/passkeys/verify`: a usernameless sign-in. A passkey with user verification
/// is phishing-resistant and two factors in one: the session opens directly, even for an
/// account with TOTP.
pub async fn sign_in(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: VerifyBody = read_json(req).await?;
    if let Some(d) = body.device_name.as_deref() {
        DeviceName::parse(d)?;
    }
    let mode = Mode::parse(body.mode.as_deref())?;
    enforce(ctx, Limit::LoginIp, Key::Client).await?;
    let (user, how) = check_assertion(ctx, &body.credential).await?;
    user.sign_in().into_result()?;
    super::admin::bootstrap(ctx, &user).await?;
    audit::record(ctx, &user.id, Event::PasskeySignedIn, None).await;
    // No password was checked: the password lockout is left as it is.
    start_authenticated_session(
        ctx,
        &user,
        body.device_name.as_deref(),
        mode,
        None,
        how,
        false,
    )
    .await
}
