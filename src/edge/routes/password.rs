//! Forgotten, reset and changed passwords.

use super::accounts::{accepted, invalid_email_token, EmailBody};
use super::send_mail;
use super::tokens::require_mirrored;
use crate::core::audit::Event;
use crate::core::config::Limit;
use crate::core::crypto::{looks_like_opaque_token, opaque_token, token_hash};
use crate::core::domain::{Email, Password};
use crate::core::error::AppError;
use crate::core::mail::Template;
use crate::core::session::RevokeReason;
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit, tokens::Purpose};
use crate::edge::http::{no_content, read_json};
use crate::edge::objects::user_sessions::{password_fp, Client, PasswordChangedReq};
use crate::edge::passwords;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::routes::mfa::require_recent_authentication;
use serde::Deserialize;
use worker::{Request, Response};

/// 202 whatever the address. A new reset link retires the older ones.
pub async fn forgot(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: EmailBody = read_json(req).await?;
    let email = Email::parse(&body.email)?;
    enforce(ctx, Limit::ForgotIp, Key::Client).await?;
    enforce(ctx, Limit::ForgotEmail, Key::Email(&email)).await?;
    if let Some(user) = d1::users::by_email(&ctx.db()?, email.as_str()).await? {
        // After the response: known and unknown addresses answer after the same lookup.
        let c = ctx.clone();
        ctx.background("password reset mail", async move {
            let token = opaque_token(rand::bytes()?);
            d1::tokens::replace(
                &c.db()?,
                &user.id,
                Purpose::PasswordReset,
                &token_hash(&token),
                c.now,
                c.now + c.cfg.reset_ttl_s,
            )
            .await?;
            send_mail(&c, &user.email, Template::PasswordReset { token }).await?;
            audit::record(&c, &user.id, Event::PasswordResetRequested, None).await;
            Ok(())
        });
    }
    accepted()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    password: String,
}

/// Every session is revoked, and the new password stamped in the user's object, before the
/// password changes: if anything fails midway the user is signed out with the link still
/// usable, never the reverse. The stamp also refuses a session to a login that checked the
/// old password in the meantime. It lifts any lockout.
pub async fn reset(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: ResetBody = read_json(req).await?;
    let password = Password::parse_new(body.password)?;
    enforce(ctx, Limit::ResetIp, Key::Client).await?;
    if !looks_like_opaque_token(&body.token) {
        return Err(invalid_email_token());
    }
    let hash = token_hash(&body.token);
    let db = ctx.db()?;
    let user_id = d1::tokens::peek(&db, Purpose::PasswordReset, &hash, ctx.now)
        .await?
        .ok_or_else(invalid_email_token)?;
    let user = d1::users::by_id(&db, &user_id)
        .await?
        .ok_or_else(invalid_email_token)?;
    let phc = passwords::new_hash(ctx, &password, &Email::parse(&user.email)?).await?;
    stamp_password(ctx, &user_id, &phc, None, RevokeReason::PasswordReset).await?;
    d1::users::reset_password(&db, &hash, &phc, ctx.now)
        .await?
        .ok_or_else(invalid_email_token)?;
    audit::record(ctx, &user_id, Event::PasswordReset, None).await;
    no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    current_password: String,
    new_password: String,
}

pub async fn change(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::PasswordChangeUser, Key::User(&authed.user.id)).await?;
    let body: ChangeBody = read_json(req).await?;
    require_recent_authentication(ctx, &authed).await?;
    let current = Password::parse_presented(body.current_password)?;
    let new = Password::parse_new(body.new_password)?;
    let email = Email::parse(&authed.user.email)?;
    passwords::check(ctx, &authed.user, &current).await?;
    let phc = passwords::new_hash(ctx, &new, &email).await?;
    stamp_password(
        ctx,
        &authed.user.id,
        &phc,
        Some(&authed.session_id),
        RevokeReason::PasswordChange,
    )
    .await?;
    d1::users::set_password(&ctx.db()?, &authed.user.id, &phc, ctx.now).await?;
    send_mail(ctx, email.as_str(), Template::PasswordChanged).await?;
    audit::record(
        ctx,
        &authed.user.id,
        Event::PasswordChanged,
        Some(&authed.session_id),
    )
    .await;
    no_content()
}

/// Stamps the new hash in the user's object, which revokes the sessions (all but `except`) in
/// the same step; 503 unless D1 already refuses them.
async fn stamp_password(
    ctx: &Ctx,
    user_id: &str,
    phc: &str,
    except: Option<&str>,
    reason: RevokeReason,
) -> Result<(), AppError> {
    let done = Client::for_user(&ctx.env, user_id)?
        .password_changed(&PasswordChangedReq {
            password_fp: password_fp(phc),
            except: except.map(str::to_owned),
            reason,
        })
        .await?;
    require_mirrored(&done)
}
