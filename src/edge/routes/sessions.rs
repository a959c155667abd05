//! A user's devices: list, rename and revoke.

use super::tokens::{require_mirrored, revoke_sessions};
use crate::core::api::{rfc3339, SessionView};
use crate::core::audit::Event;
use crate::core::config::Limit;
use crate::core::domain::{DeviceName, SessionId};
use crate::core::error::{AppError, Faulty};
use crate::core::session::RevokeReason;
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{json, no_content, read_json};
use crate::edge::ratelimit::{enforce, Key};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let rows = d1::sessions::list_active(&ctx.reads()?, &authed.user.id, ctx.now).await?;
    let sessions: Vec<SessionView> = rows
        .into_iter()
        .map(|r| view(r, &authed.session_id))
        .collect();
    json(200, &json!({ "sessions": sessions }))
}

/// Revokes one of the caller's sessions. Another user's session id is simply unknown to the
/// caller's object: 404, like any unknown id.
pub async fn revoke(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let id = SessionId::parse(id)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    let done =
        revoke_sessions(ctx, &authed.user.id, Some(&id), None, RevokeReason::Revoked).await?;
    if !done.found {
        return Err(AppError::NotFound);
    }
    require_mirrored(&done)?;
    audit::record(ctx, &authed.user.id, Event::SessionRevoked, Some(&id)).await;
    no_content()
}

/// `DELETE /v1/auth/sessions?scope=others|all`: every session but the caller's, or all.
pub async fn revoke_many(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    let url = req.url().fault("routes.sessions.revoke_many")?;
    let scopes: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let except = match scopes.as_slice() {
        [s] if s == "others" => Some(authed.session_id.as_str()),
        [s] if s == "all" => None,
        _ => {
            return Err(AppError::InvalidRequest(
                "give exactly one scope: others or all".into(),
            ))
        }
    };
    let done = revoke_sessions(ctx, &authed.user.id, None, except, RevokeReason::Revoked).await?;
    require_mirrored(&done)?;
    audit::record(
        ctx,
        &authed.user.id,
        Event::SessionRevoked,
        Some(&authed.session_id),
    )
    .await;
    no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    device_name: Option<String>,
}

/// `PATCH /v1/auth/sessions/{id}` `{device_name}`: names one of the caller's active sessions
/// (`null` clears the name).
pub async fn rename(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    let body: RenameBody = read_json(req).await?;
    let id = SessionId::parse(id)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    let name = match body.device_name.as_deref() {
        Some(d) => DeviceName::parse(d)?,
        None => None,
    };
    let row = d1::sessions::rename(
        &ctx.db()?,
        &authed.user.id,
        &id,
        name.as_ref().map(|n| n.as_str()),
        ctx.now,
    )
    .await?
    .ok_or(AppError::NotFound)?;
    json(200, &view(row, &authed.session_id))
}

fn view(r: d1::sessions::SessionRow, current: &str) -> SessionView {
    SessionView {
        current: r.id == current,
        id: r.id,
        device_name: r.device_name,
        ip: r.ip,
        user_agent: r.user_agent,
        created_at: rfc3339(r.created_at),
        last_used_at: rfc3339(r.last_used_at),
    }
}
