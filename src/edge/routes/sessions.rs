//! A user's devices: list and revoke.

use super::tokens::revoke_sessions;
use crate::core::api::{rfc3339, SessionView};
use crate::core::audit::Event;
use crate::core::domain::SessionId;
use crate::core::error::AppError;
use crate::core::session::RevokeReason;
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{json, no_content};
use serde_json::json;
use worker::{Request, Response};

pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let rows = d1::sessions::list_active(&ctx.db()?, &authed.user.id, ctx.now).await?;
    let sessions: Vec<SessionView> = rows
        .into_iter()
        .map(|r| SessionView {
            current: r.id == authed.session_id,
            id: r.id,
            device_name: r.device_name,
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: rfc3339(r.created_at),
            last_used_at: rfc3339(r.last_used_at),
        })
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
    if !revoke_sessions(ctx, &authed.user.id, Some(&id), None, RevokeReason::Revoked).await? {
        return Err(AppError::NotFound);
    }
    audit::record(ctx, &authed.user.id, Event::SessionRevoked, Some(&id)).await;
    no_content()
}
