//! Registration, e-mail verification, and the current user.

use super::send_mail;
use crate::core::api::{rfc3339, UserView};
use crate::core::audit::Event;
use crate::core::config::Limit;
use crate::core::crypto::{looks_like_opaque_token, opaque_token, token_hash};
use crate::core::domain::{DisplayName, Email, Password, UserStatus};
use crate::core::error::AppError;
use crate::core::mail::Template;
use crate::core::referral::{self, Gate, Redemption};
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit, tokens::Purpose};
use crate::edge::http::{json, read_json};
use crate::edge::passwords;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
    /// Needed with `SIGNUP_MODE=invite_only`; redeemed when given in either mode.
    #[serde(default)]
    referral_key: Option<String>,
}

/// 201 whether or not the address is taken: a taken address gets a notice by e-mail instead
/// of a verification link, and the response looks the same (no enumeration). A referral key
/// (required when signup is invite-only) is checked before anything about the address is
/// looked at, and redeemed in the batch that creates the account; at a taken address it is
/// spent all the same and the answer is a free address's (no enumeration).
pub async fn register(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: RegisterBody = read_json(req).await?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse_new(body.password)?;
    let name = match body.name.as_deref() {
        Some(n) => DisplayName::parse(n)?,
        None => None,
    };
    let gate = referral::gate(
        ctx.cfg.signup_mode,
        body.referral_key.as_deref(),
        ctx.cfg.is_admin(email.as_str()),
    )?;
    enforce(ctx, Limit::RegisterIp, Key::Client).await?;
    let key_hash = match &gate {
        Gate::Open => None,
        Gate::Redeem(key) => {
            let hash = token_hash(key);
            let usable = d1::referral_keys::peek(&ctx.db()?, &hash)
                .await?
                .is_some_and(|k| k.email.as_deref().is_none_or(|e| e == email.as_str()));
            if !usable {
                return Err(referral::referral_required());
            }
            Some(hash)
        }
    };
    // Every registration mails the address (a link or a notice): cap them per address, the
    // same for taken and free ones.
    enforce(ctx, Limit::RegisterEmail, Key::Email(&email)).await?;
    // Hashed in both cases, so the two answers take the same time.
    let hash = passwords::new_hash(ctx, &password, &email).await?;
    let user_id = rand::uuid()?;
    let token = opaque_token(rand::bytes()?);
    let verification_hash = token_hash(&token);
    let new_user = d1::users::NewUser {
        id: &user_id,
        email: email.as_str(),
        password_hash: &hash,
        name: name.as_ref().map(DisplayName::as_str),
        now: ctx.now,
        verification_hash: &verification_hash,
        verification_expires_at: ctx.now + ctx.cfg.verification_ttl_s,
    };
    let db = ctx.db()?;
    let created = match &key_hash {
        None => d1::users::insert_with_verification(&db, &new_user).await?,
        Some(key_hash) => {
            let referred = d1::referral_keys::Referred {
                key_hash,
                user: &new_user,
            };
            let done = d1::referral_keys::register(&db, &referred).await?;
            referral::settle(done.redeemed, done.created)? == Redemption::Created
        }
    };
    let template = if created {
        audit::record(ctx, &user_id, Event::Register, None).await;
        Template::VerifyEmail { token }
    } else {
        Template::AlreadyRegistered
    };
    send_mail(ctx, email.as_str(), template).await?;
    let user = UserView {
        id: user_id,
        email: email.as_str().to_owned(),
        name: name.map(|n| n.as_str().to_owned()),
        status: UserStatus::PendingVerification.as_str(),
        email_verified: false,
        created_at: rfc3339(ctx.now),
        version: 1,
        locale: None,
        timezone: None,
        avatar_url: None,
        deletion_due_at: None,
    };
    json(201, &json!({ "user": user }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

pub fn invalid_email_token() -> AppError {
    AppError::InvalidRequest("the token is invalid, expired or already used".into())
}

pub async fn verify_email(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: TokenBody = read_json(req).await?;
    enforce(ctx, Limit::VerifyIp, Key::Client).await?;
    if !looks_like_opaque_token(&body.token) {
        return Err(invalid_email_token());
    }
    if let Some(user) =
        d1::users::verify_email(&ctx.db()?, &token_hash(&body.token), ctx.now).await?
    {
        audit::record(ctx, &user.id, Event::EmailVerified, None).await;
        super::admin::bootstrap(ctx, &user).await?;
        return json(200, &json!({ "user": user.view() }));
    }
    // The link of an e-mail change (sent to the new address) is verified here too.
    let user = super::email::confirm(ctx, &body.token)
        .await?
        .ok_or_else(invalid_email_token)?;
    json(200, &json!({ "user": user.view() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    pub email: String,
}

pub fn accepted() -> Result<Response, AppError> {
    json(202, &json!({ "status": "accepted" }))
}

/// 202 whatever the address: only a pending account gets a new link.
pub async fn resend_verification(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: EmailBody = read_json(req).await?;
    let email = Email::parse(&body.email)?;
    enforce(ctx, Limit::ResendIp, Key::Client).await?;
    enforce(ctx, Limit::ResendEmail, Key::Email(&email)).await?;
    let user = d1::users::by_email(&ctx.db()?, email.as_str()).await?;
    if let Some(user) =
        user.filter(|u| u.status == UserStatus::PendingVerification && !u.email_verified)
    {
        // After the response: every address answers after the same lookup.
        let c = ctx.clone();
        ctx.background("verification mail", async move {
            let token = opaque_token(rand::bytes()?);
            d1::tokens::replace(
                &c.db()?,
                &user.id,
                Purpose::VerifyEmail,
                &token_hash(&token),
                c.now,
                c.now + c.cfg.verification_ttl_s,
            )
            .await?;
            send_mail(&c, &user.email, Template::VerifyEmail { token }).await
        });
    }
    accepted()
}

pub async fn me(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    json(200, &authed.user.view())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    key: String,
}

/// `POST /v1/auth/referral-keys/check` `{key}` → 200 `{"valid": bool}`. Rate limited per
/// client; every well-formed key costs the same one lookup, so an unknown key and a used one
/// look alike in shape and timing.
pub async fn check_referral_key(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: CheckBody = read_json(req).await?;
    enforce(ctx, Limit::ReferralCheckIp, Key::Client).await?;
    let valid = referral::looks_like_key(&body.key)
        && d1::referral_keys::peek(&ctx.db()?, &token_hash(&body.key))
            .await?
            .is_some();
    json(200, &json!({ "valid": valid }))
}
