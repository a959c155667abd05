//! The caller's profile (optimistic locking), notification preferences, and audit log.

use crate::core::audit::decode_cursor;
use crate::core::config::Limit;
use crate::core::error::{AppError, Faulty};
use crate::core::preferences::{Preferences, PreferencesPatch};
use crate::core::profile::{expected_version, PatchBody, ProfilePatch};
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{bad_cursor, json, page, read_json};
use crate::edge::ratelimit::{enforce, Key};
use serde_json::json;
use worker::{Request, Response};

/// `PATCH /v1/me`: applies only at the version the client last saw (`If-Match` or `version`);
/// a stale version changes nothing and answers 409, so of concurrent updates exactly one wins.
pub async fn patch_me(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    let if_match = req.headers().get("if-match").ok().flatten();
    let body: PatchBody = read_json(req).await?;
    let version = expected_version(if_match.as_deref(), body.version)?
        .ok_or(AppError::PreconditionRequired)?;
    let patch = ProfilePatch::parse(body)?;
    let user = d1::users::patch_profile(&ctx.db()?, &authed.user.id, version, &patch, ctx.now)
        .await?
        .ok_or_else(|| AppError::Conflict {
            code: "version_conflict",
            detail: "the user changed since that version; fetch it and try again".into(),
        })?;
    json(200, &user.view())
}

fn preferences_body(p: &Preferences) -> Result<Response, AppError> {
    json(200, &json!({ "preferences": p }))
}

pub async fn get_preferences(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    preferences_body(&Preferences::from_stored(
        authed.user.notification_prefs.as_deref(),
    ))
}

pub async fn patch_preferences(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    let patch: PreferencesPatch = read_json(req).await?;
    let patch = serde_json::to_string(&patch).fault("routes.profile.patch_preferences")?;
    let stored = d1::users::patch_preferences(&ctx.db()?, &authed.user.id, &patch, ctx.now).await?;
    preferences_body(&Preferences::from_stored(stored.as_deref()))
}

pub async fn reset_preferences(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    d1::users::reset_preferences(&ctx.db()?, &authed.user.id, ctx.now).await?;
    preferences_body(&Preferences::default())
}

pub async fn list_audit(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let p = page(req, 50)?;
    let cursor = p
        .cursor
        .map(|c| decode_cursor(&c).ok_or_else(bad_cursor))
        .transpose()?;
    let limit = p.limit;
    let (events, next) = audit::page(ctx, &authed.user.id, cursor, limit).await?;
    json(200, &json!({ "events": events, "next_cursor": next }))
}
