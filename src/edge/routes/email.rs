//! Change of e-mail address: `POST /v1/me/email` sends a link to the new address and a notice
//! to the old one; `POST /v1/auth/verify-email` with that link's token switches the account
//! (`accounts::verify_email` hands such tokens to `confirm`).

use super::send_mail;
use crate::core::account::User;
use crate::core::audit::Event;
use crate::core::config::Limit;
use crate::core::crypto::{opaque_token, token_hash};
use crate::core::domain::{Email, Password};
use crate::core::error::AppError;
use crate::core::mail::Template;
use crate::core::session::RevokeReason;
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit, email_changes::Redemption};
use crate::edge::http::{json, read_json};
use crate::edge::passwords;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::routes::mfa::require_recent_authentication;
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    new_email: String,
    password: String,
}

/// `a***@example.test`: enough for the owner of the old address to recognise the new one.
fn hint(email: &Email) -> String {
    let (local, domain) = email.as_str().split_once('@').unwrap_or(("", ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}

/// 202 whether or not the new address has an account (nothing to learn here); the switch
/// itself happens when the link is used, and refuses an address taken by then.
pub async fn change(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    let body: ChangeBody = read_json(req).await?;
    require_recent_authentication(ctx, &authed).await?;
    let new_email = Email::parse(&body.new_email)?;
    let password = Password::parse_presented(body.password)?;
    passwords::check(ctx, &authed.user, &password).await?;
    if new_email.as_str() == authed.user.email {
        return Err(AppError::InvalidRequest(
            "new_email is the account's current address".into(),
        ));
    }
    // Caps the mails one address can be sent.
    enforce(ctx, Limit::ResendEmail, Key::Email(&new_email)).await?;
    let token = opaque_token(rand::bytes()?);
    d1::email_changes::issue(
        &ctx.db()?,
        &d1::email_changes::NewChange {
            token_hash: &token_hash(&token),
            user_id: &authed.user.id,
            new_email: new_email.as_str(),
            session_id: &authed.session_id,
            now: ctx.now,
            expires_at: ctx.now + ctx.cfg.verification_ttl_s,
        },
    )
    .await?;
    send_mail(
        ctx,
        new_email.as_str(),
        Template::ConfirmEmailChange { token },
    )
    .await?;
    send_mail(
        ctx,
        &authed.user.email,
        Template::EmailChangeRequested {
            new_email_hint: hint(&new_email),
        },
    )
    .await?;
    audit::record(
        ctx,
        &authed.user.id,
        Event::EmailChangeRequested,
        Some(&authed.session_id),
    )
    .await;
    json(202, &json!({ "status": "accepted" }))
}

/// Redeems an e-mail change link. `Ok(None)`: not such a link (the caller answers as for any
/// unknown token). After the switch every session but the one that asked is revoked.
pub async fn confirm(ctx: &Ctx, token: &str) -> Result<Option<User>, AppError> {
    match d1::email_changes::redeem(&ctx.db()?, &token_hash(token), ctx.now).await? {
        Redemption::Invalid => Ok(None),
        Redemption::AddressTaken => Err(AppError::Conflict {
            code: "email_taken",
            detail: "another account uses this address now".into(),
        }),
        Redemption::Switched { user, keep } => {
            super::tokens::revoke_sessions(
                ctx,
                &user.id,
                None,
                keep.as_deref(),
                RevokeReason::EmailChanged,
            )
            .await?;
            audit::record(ctx, &user.id, Event::EmailChanged, keep.as_deref()).await;
            Ok(Some(user))
        }
    }
}
