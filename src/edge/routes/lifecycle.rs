//! Account life cycle: deactivate / reactivate, delete (with a grace period) / restore.

use super::send_mail;
use super::tokens::{
    authenticate_first_factor, password_signed_in, revoke_sessions, CredentialsBody,
};
use crate::core::account::{Transition, User};
use crate::core::audit::Event;
use crate::core::config::Limit;
use crate::core::domain::Password;
use crate::core::error::AppError;
use crate::core::mail::Template;
use crate::core::session::RevokeReason;
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{json, read_json};
use crate::edge::passwords;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::routes::mfa::require_recent_authentication;
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

/// Bearer + the password again: what an irreversible-looking step deserves. `limit` is the
/// step's per-user rate limit, counted before the password is looked at.
async fn confirm(
    req: &mut Request,
    ctx: &Ctx,
    limit: Limit,
    step_up: bool,
) -> Result<(User, String), AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, limit, Key::User(&authed.user.id)).await?;
    let body: PasswordBody = read_json(req).await?;
    if step_up {
        require_recent_authentication(ctx, &authed).await?;
    }
    let password = Password::parse_presented(body.password)?;
    passwords::check(ctx, &authed.user, &password).await?;
    Ok((authed.user, authed.session_id))
}

/// Decides the move in core, then applies it with a statement guarded by the same
/// precondition: a concurrent move makes it change nothing and gets the same refusal.
async fn apply(ctx: &Ctx, user: &User, t: Transition) -> Result<User, AppError> {
    t.decide(user.status)?;
    let due = ctx.now + ctx.cfg.deletion_grace_s;
    d1::users::transition(&ctx.db()?, t, &user.id, ctx.now, due)
        .await?
        .ok_or_else(|| t.refused())
}

/// The account stops working (login answers 403 `account_deactivated`) until reactivated.
pub async fn deactivate(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let (user, session_id) = confirm(req, ctx, Limit::DeactivateUser, false).await?;
    let user = apply(ctx, &user, Transition::Deactivate).await?;
    // The status is the guard: from here on every access token of the account is refused
    // (`authenticate`), so a revocation still being mirrored to D1 leaves nothing open.
    revoke_sessions(ctx, &user.id, None, None, RevokeReason::AccountDeactivated).await?;
    audit::record(ctx, &user.id, Event::AccountDeactivated, Some(&session_id)).await;
    // An optional alert (the consumer drops it if `security_alerts` is off); the account is
    // deactivated whether or not it could be queued.
    if let Err(e) = send_mail(ctx, &user.email, Template::AccountDeactivated).await {
        worker::console_error!("deactivation alert for {}: {e}", user.id);
    }
    json(200, &json!({ "user": user.view() }))
}

/// Self-service reactivation: the e-mail and password of a deactivated account.
pub async fn reactivate(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: CredentialsBody = read_json(req).await?;
    let mode = body.mode()?;
    let (user, second_factor) = authenticate_first_factor(ctx, &body.email, body.password).await?;
    let user = apply(ctx, &user, Transition::Reactivate).await?;
    audit::record(ctx, &user.id, Event::AccountReactivated, None).await;
    // An account with a second factor gets its challenge: no session on the password alone.
    password_signed_in(ctx, &user, second_factor, body.device_name, mode, None).await
}

/// Schedules deletion after the grace period; a cron step purges it then.
pub async fn delete(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let (user, session_id) = confirm(req, ctx, Limit::DeleteUser, true).await?;
    let user = apply(ctx, &user, Transition::RequestDeletion).await?;
    revoke_sessions(ctx, &user.id, None, None, RevokeReason::AccountDeleted).await?;
    audit::record(ctx, &user.id, Event::DeletionRequested, Some(&session_id)).await;
    json(202, &json!({ "user": user.view() }))
}

/// Cancels a pending deletion during the grace period.
pub async fn restore(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: CredentialsBody = read_json(req).await?;
    let mode = body.mode()?;
    let (user, second_factor) = authenticate_first_factor(ctx, &body.email, body.password).await?;
    let user = apply(ctx, &user, Transition::Restore).await?;
    audit::record(ctx, &user.id, Event::AccountRestored, None).await;
    // An account with a second factor gets its challenge: no session on the password alone.
    password_signed_in(ctx, &user, second_factor, body.device_name, mode, None).await
}
