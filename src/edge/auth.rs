//! The bearer extractor: a strictly verified access token whose session is still active,
//! from `Authorization: Bearer` or, for browsers in cookie mode, the access cookie (then an
//! unsafe method must also pass the CSRF checks).

use crate::core::account::User;
use crate::core::admin::{admit_key, admit_user, looks_like_api_key, Need, Principal};
use crate::core::browser::cookies::Source;
use crate::core::config::Limit;
use crate::core::crypto::token_hash;
use crate::core::domain::SessionId;
use crate::core::error::AppError;
use crate::core::session;
use crate::core::token::{verify_memoized, SignatureMemo, TokenError, VerifyPolicy};
use crate::edge::browser;
use crate::edge::ctx::Ctx;
use crate::edge::d1;
use crate::edge::ratelimit::{enforce, Key};
use std::cell::RefCell;
use worker::Request;

thread_local! {
    // This isolate's memo of checked signatures (`core::token::SignatureMemo`): a client's
    // repeated token costs one Ed25519 verification per isolate, not one per request.
    static SIGNATURES: RefCell<SignatureMemo> = RefCell::new(SignatureMemo::default());
}

/// `core::token::verify_memoized` with this isolate's memo.
fn verify(
    token: &str,
    keys: &crate::core::token::KeySet,
    policy: &VerifyPolicy<'_>,
    now: i64,
) -> Result<crate::core::token::VerifiedClaims, TokenError> {
    SIGNATURES.with(|m| verify_memoized(token, keys, policy, now, &mut m.borrow_mut()))
}

/// The `kid` of a compact JWS header, for a key-set reload (the token is verified after).
fn jwt_kid(token: &str) -> Option<String> {
    let header = crate::core::crypto::b64url_decode(token.split('.').next()?)?;
    let v: serde_json::Value = serde_json::from_slice(&header).ok()?;
    v["kid"]
        .as_str()
        .filter(|k| k.len() <= 64)
        .map(str::to_owned)
}

pub struct Authed {
    pub user: User,
    pub session_id: String,
    /// Bearer header or access cookie (a cookie-mode logout clears the cookies).
    pub source: Source,
}

pub async fn authenticate(req: &Request, ctx: &Ctx) -> Result<Authed, AppError> {
    let (token, source) = browser::credential(req).ok_or(AppError::InvalidToken)?;
    let cfg = &ctx.cfg;
    let policy = VerifyPolicy {
        issuer: &cfg.issuer,
        audience: &cfg.audience,
        leeway_s: cfg.token_leeway_s,
        max_lifetime_s: cfg.max_token_lifetime_s,
    };
    let keys = crate::edge::keys::current(&ctx.env, cfg).await?;
    let claims = match verify(&token, &keys, &policy, ctx.now) {
        Ok(c) => c,
        // A key another isolate just started signing with: look again, once.
        Err(TokenError::UnknownKid) => {
            let kid = jwt_kid(&token).ok_or(AppError::InvalidToken)?;
            let fresh = crate::edge::keys::refreshed_for(&ctx.env, cfg, &kid)
                .await?
                .ok_or(AppError::InvalidToken)?;
            verify(&token, &fresh, &policy, ctx.now).map_err(|_| AppError::InvalidToken)?
        }
        Err(_) => return Err(AppError::InvalidToken),
    };
    let sid = claims
        .sid
        .as_deref()
        .and_then(|s| SessionId::parse(s).ok())
        .ok_or(AppError::InvalidToken)?;
    let mut found = d1::sessions::auth_lookup(&ctx.reads()?, &sid).await?;
    if ctx.replica.is_some() {
        // Development fault: the replica answers as one still behind the sign-in would.
        if ctx.cfg.dev_fault("replica_behind") {
            found = None;
        }
        // A replica may not have a session signed in a moment ago (its client sent no
        // bookmark): only the primary can say the row is gone. A row the replica has is
        // trusted as it is, revoked or not (README, "Read replication").
        if found.is_none() {
            found = d1::sessions::auth_lookup(&ctx.pin_primary()?, &sid).await?;
        }
    }
    // A validly signed token whose session row is gone was revoked and purged.
    let found = found.ok_or(AppError::SessionRevoked)?;
    session::check(
        &found.session,
        &found.owner,
        &claims.sub,
        &found.user,
        ctx.now,
    )
    .into_result()?;
    // Before the handler does anything: a refused request changes nothing.
    if source == Source::Cookie {
        browser::require_csrf(req, ctx, sid.as_str())?;
    }
    Ok(Authed {
        user: found.user,
        session_id: sid.to_string(),
        source,
    })
}

/// The caller of an admin route: a signed-in account whose stored role is admin, or a service
/// API key (`Bearer ewk_…`) that is unexpired, unrevoked and has the scope. Every key is rate
/// limited on its own; its last use is recorded after the response.
pub async fn admin(req: &Request, ctx: &Ctx, need: Need) -> Result<Principal, AppError> {
    // A key is only taken from the Authorization header (never from a cookie).
    let principal = match browser::credential(req) {
        Some((token, Source::Bearer)) if looks_like_api_key(&token) => {
            let key = d1::api_keys::by_hash(&ctx.db()?, &token_hash(&token)).await?;
            let principal = admit_key(key, ctx.now)?;
            if let Principal::ApiKey(k) = &principal {
                enforce(ctx, Limit::ApiKey, Key::User(&k.id)).await?;
                let (c, id) = (ctx.clone(), k.id.clone());
                ctx.background("api key use", async move {
                    d1::api_keys::touch(&c.db()?, &id, c.now).await
                });
            }
            principal
        }
        _ => admit_user(authenticate(req, ctx).await?.user)?,
    };
    principal.authorize(need)?;
    Ok(principal)
}
