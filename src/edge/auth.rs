//! The bearer extractor: a strictly verified access token whose session is still active.

use crate::core::domain::SessionId;
use crate::core::error::AppError;
use crate::core::token::{verify, VerifyPolicy};
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, users::UserRow};
use crate::edge::http::bearer;
use worker::Request;

pub struct Authed {
    pub user: UserRow,
    pub session_id: String,
}

pub async fn authenticate(req: &Request, ctx: &Ctx) -> Result<Authed, AppError> {
    let token = bearer(req).ok_or(AppError::InvalidToken)?;
    let cfg = &ctx.cfg;
    let policy = VerifyPolicy {
        issuer: &cfg.issuer,
        audience: &cfg.audience,
        leeway_s: cfg.token_leeway_s,
        max_lifetime_s: cfg.max_token_lifetime_s,
    };
    let claims = verify(&token, &cfg.keys, &policy, ctx.now).map_err(|_| AppError::InvalidToken)?;
    let sid = claims
        .sid
        .as_deref()
        .and_then(|s| SessionId::parse(s).ok())
        .ok_or(AppError::InvalidToken)?
        .to_string();
    // A validly signed token whose session row is gone was revoked and purged.
    let row = d1::sessions::auth_lookup(&ctx.db()?, &sid)
        .await?
        .ok_or(AppError::SessionRevoked)?;
    if row.session_user_id != claims.sub {
        return Err(AppError::InvalidToken);
    }
    if row.revoked_at.is_some() || row.expires_at <= ctx.now {
        return Err(AppError::SessionRevoked);
    }
    Ok(Authed {
        user: row.user,
        session_id: sid,
    })
}
