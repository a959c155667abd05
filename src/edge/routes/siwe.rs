//! Sign in with Ethereum (EIP-4361): nonces, sign-in with a signed message, and the wallets a
//! user has linked.

use crate::core::account::User;
use crate::core::audit::Event;
use crate::core::browser::cookies::Mode;
use crate::core::config::Limit;
use crate::core::crypto::token_hash;
use crate::core::domain::UserId;
use crate::core::error::AppError;
use crate::core::idp::link;
use crate::core::siwe::{self, Address, Message, Rules};
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{json, no_content, read_json};
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

fn log_refusal(ctx: &Ctx, why: &str) {
    worker::console_warn!(
        "{}",
        json!({"level": "warn", "msg": "siwe refused", "request_id": ctx.request_id, "why": why})
    );
}

/// `POST /v1/auth/siwe/nonce`: a fresh nonce for one message (single use, 5 minutes). Only
/// its digest is stored.
pub async fn nonce(_req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    // Each nonce is a D1 row: as limited as a login attempt.
    enforce(ctx, Limit::LoginIp, Key::Client).await?;
    let nonce = siwe::new_nonce(rand::bytes()?);
    d1::wallets::insert_nonce(
        &ctx.db()?,
        &token_hash(&nonce),
        ctx.now,
        ctx.now + siwe::NONCE_TTL_S,
    )
    .await?;
    json(200, &json!({ "nonce": nonce }))
}

/// A message and signature checked in full: the message's grammar and fields, the signer,
/// and, last, its nonce consumed. Only a message signed by its own address can spend a nonce,
/// so nobody who merely saw the message can burn it; of parallel submissions of one message,
/// the single `DELETE … RETURNING` lets exactly one through.
async fn verified(ctx: &Ctx, message: &str, signature: &str) -> Result<Message, AppError> {
    let m = Message::parse(message).map_err(|why| {
        log_refusal(ctx, &why.why());
        AppError::InvalidSiweMessage
    })?;
    m.check(&Rules {
        domains: &ctx.cfg.siwe_domains,
        chain_ids: &ctx.cfg.siwe_chain_ids,
        now: ctx.now,
        leeway_s: ctx.cfg.token_leeway_s,
    })
    .map_err(|why| {
        log_refusal(ctx, &why.why());
        AppError::InvalidSiweMessage
    })?;
    let signer = siwe::recover(message, signature).map_err(|why| {
        log_refusal(ctx, &format!("signature: {why:?}"));
        AppError::InvalidSignature
    })?;
    if signer != m.address {
        log_refusal(ctx, "signature: another address");
        return Err(AppError::InvalidSignature);
    }
    match d1::wallets::take_nonce(&ctx.db()?, &token_hash(&m.nonce)).await? {
        Some(expires_at) if expires_at > ctx.now => Ok(m),
        Some(_) => {
            log_refusal(ctx, "nonce expired");
            Err(AppError::InvalidSiweMessage)
        }
        None => {
            log_refusal(ctx, "nonce unknown or used");
            Err(AppError::InvalidSiweMessage)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    message: String,
    signature: String,
    #[serde(default)]
    device_name: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

/// `POST /v1/auth/siwe/verify`: a signed message is the first factor of the wallet's account,
/// opened on first use. The session follows, or the second-factor challenge when the account
/// has one.
pub async fn verify(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: VerifyBody = read_json(req).await?;
    let mode = Mode::parse(body.mode.as_deref())?;
    if let Some(d) = body.device_name.as_deref() {
        crate::core::domain::DeviceName::parse(d)?;
    }
    enforce(ctx, Limit::LoginIp, Key::Client).await?;
    let m = verified(ctx, &body.message, &body.signature).await?;
    let user = wallet_user(ctx, &m).await?;
    user.sign_in()
        .into_result()
        .inspect_err(|e| log_refusal(ctx, e.code()))?;
    audit::record(ctx, &user.id, Event::SiweSignedIn, None).await;
    crate::edge::routes::tokens::first_factor_signed_in(ctx, &user, body.device_name, mode).await
}

/// The account of the message's wallet: the one it is linked to, or a new one (no password,
/// a placeholder e-mail as for an external identity without a verified address).
async fn wallet_user(ctx: &Ctx, m: &Message) -> Result<User, AppError> {
    let db = ctx.db()?;
    // Twice at most: a first sign-in that loses the race to another one of the same wallet
    // (two nonces, signed at once) finds the wallet linked on the second pass.
    for _ in 0..2 {
        if let Some(owner) = d1::wallets::owner(&db, &m.address).await? {
            d1::wallets::touch(&db, &owner, &m.address, m.chain_id, ctx.now).await?;
            return d1::users::by_id(&db, &owner)
                .await?
                .ok_or_else(|| AppError::fault("routes.siwe.wallet_user", "owner vanished"));
        }
        let user_id = UserId::new(rand::bytes()?);
        // Unique per account, undeliverable, and refused by registration (`.invalid`).
        let email = link::placeholder_email("ethereum", &user_id.to_string());
        if d1::wallets::create_user(&db, &user_id, &email, &m.address, m.chain_id, ctx.now).await? {
            let u = d1::users::by_id(&db, &user_id).await?.ok_or_else(|| {
                AppError::fault("routes.siwe.wallet_user", "new account vanished")
            })?;
            audit::record(ctx, &u.id, Event::Register, None).await;
            audit::record(ctx, &u.id, Event::WalletLinked, None).await;
            return Ok(u);
        }
    }
    Err(AppError::fault(
        "routes.siwe.wallet_user",
        "the wallet was neither linked nor linkable",
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    message: String,
    signature: String,
}

/// `POST /v1/me/wallets`: links the signing wallet to the signed-in user.
pub async fn link(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let body: LinkBody = read_json(req).await?;
    enforce(ctx, Limit::ProfileUser, Key::User(&authed.user.id)).await?;
    let m = verified(ctx, &body.message, &body.signature).await?;
    let db = ctx.db()?;
    if !d1::wallets::link(&db, &authed.user.id, &m.address, m.chain_id, ctx.now).await? {
        if d1::wallets::owner(&db, &m.address).await?.as_deref() != Some(&authed.user.id) {
            return Err(AppError::Conflict {
                code: "wallet_taken",
                detail: "this wallet is linked to another account".into(),
            });
        }
        // Linked already, to this account: nothing to do, the wallet is there.
    } else {
        audit::record(ctx, &authed.user.id, Event::WalletLinked, None).await;
    }
    let wallet = d1::wallets::of_user(&db, &authed.user.id)
        .await?
        .into_iter()
        .find(|w| w.address == m.address)
        .ok_or_else(|| AppError::fault("routes.siwe.link", "linked wallet vanished"))?;
    json(201, &wallet.view())
}

/// `GET /v1/me/wallets`.
pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let wallets = d1::wallets::of_user(&ctx.db()?, &authed.user.id).await?;
    let views: Vec<_> = wallets.iter().map(|w| w.view()).collect();
    json(200, &json!({ "wallets": views }))
}

/// `DELETE /v1/me/wallets/{address}` (any case): never the last way to sign in.
pub async fn unlink(req: &Request, ctx: &Ctx, address: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let address = Address::parse_any(address).ok_or(AppError::NotFound)?;
    let db = ctx.db()?;
    if d1::wallets::unlink_unless_last(&db, &authed.user.id, &address).await? {
        audit::record(ctx, &authed.user.id, Event::WalletUnlinked, None).await;
        return no_content();
    }
    let wallets = d1::wallets::of_user(&db, &authed.user.id).await?;
    if !wallets.iter().any(|w| w.address == address) {
        return Err(AppError::NotFound);
    }
    // The statement refused: no password, no external identity and no other wallet.
    debug_assert!(!link::may_unlink(
        !authed.user.password_hash.is_empty(),
        d1::identities::of_user(&db, &authed.user.id).await?.len(),
        wallets.len()
    ));
    Err(AppError::Conflict {
        code: "last_login_method",
        detail: "this is the only way left to sign in; set a password (reset flow), link an identity or another wallet first".into(),
    })
}
