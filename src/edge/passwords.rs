//! Password checks that need the edge: the lockout-counted check of a presented password, and
//! the policy for new ones, with the breached-password range query. Every hash goes through the
//! isolate's gate (`edge::hash_gate`): a permit is taken before the operation's I/O and dropped
//! once its hash is done.

use crate::core::account::User;
use crate::core::audit::Event;
use crate::core::crypto::{opaque_token, token_hash};
use crate::core::domain::{Email, Password};
use crate::core::error::{AppError, Faulty};
use crate::core::mail::Template;
use crate::core::password;
use crate::core::password_policy::{breach_count, check_local, range_query, Weakness};
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit, tokens::Purpose};
use crate::edge::hash_gate;
use crate::edge::objects::user_sessions::Client;
use crate::edge::rand;
use crate::edge::routes::send_mail;
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// Checks `password` against `user`, counting the attempt in the user's object first, so
/// parallel guesses cannot slip past the lockout. A locked account is answered exactly like a
/// wrong password, after the same amount of hashing work. Only a failed check counts: a correct
/// one clears the count. What a failure records (audit, the lockout notice) happens after the
/// response, so a wrong password costs the same time as an unknown address (`check_unknown`).
pub async fn check(ctx: &Ctx, user: &User, password: &Password) -> Result<(), AppError> {
    check_counted(ctx, user, password, OnRight::Clear).await
}

/// What a correct password does to the account's lockout count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnRight {
    /// Clears it at once.
    Clear,
    /// Refunds only its own attempt: the first factor of an account with a second one.
    /// Someone who knows the password cannot reset the count between wrong codes, and the
    /// codes count on from there.
    Refund,
    /// Clears it in the caller's next call to the user's object: the session's creation
    /// (`CreateReq::clears_lockout`, one round trip less for a login), or, when the caller
    /// opens none, `Client::login_succeeded`. The caller must do one of them.
    Deferred,
}

/// `check`, with `on_right` saying what a correct password does to the lockout count.
pub async fn check_counted(
    ctx: &Ctx,
    user: &User,
    password: &Password,
    on_right: OnRight,
) -> Result<(), AppError> {
    let permit = hash_gate::admit(ctx.cfg.hash_gate).await?;
    let client = Client::for_user(&ctx.env, &user.id)?;
    let attempt = client.login_attempt().await?;
    let ok = if attempt.proceed {
        password::verify(password, &user.password_hash)
    } else {
        password::verify(password, password::DUMMY_PHC);
        false
    };
    drop(permit);
    if ok {
        match on_right {
            OnRight::Clear => client.login_succeeded().await?,
            OnRight::Refund => client.first_factor_passed().await?,
            OnRight::Deferred => {}
        }
        return Ok(());
    }
    record_failure(ctx, user, Event::LoginFailed, attempt.locks);
    Err(AppError::InvalidCredentials)
}

/// After the response: the failed attempt's audit event and, when it locked the account, the
/// lock's event and the owner's security mail with a way out (a reset link).
pub fn record_failure(ctx: &Ctx, user: &User, event: Event, locks: bool) {
    let c = ctx.clone();
    let (user_id, email) = (user.id.clone(), user.email.clone());
    ctx.background("failed sign-in", async move {
        audit::record(&c, &user_id, event, None).await;
        if locks {
            audit::record(&c, &user_id, Event::AccountLocked, None).await;
            let token = opaque_token(rand::bytes()?);
            d1::tokens::replace(
                &c.db()?,
                &user_id,
                Purpose::PasswordReset,
                &token_hash(&token),
                c.now,
                c.now + c.cfg.reset_ttl_s,
            )
            .await?;
            send_mail(&c, &email, Template::AccountLocked { token }).await?;
        }
        Ok(())
    });
}

/// Unknown addresses are spread over this many probe objects.
const PROBES: u32 = 16;

/// The same cost and answer for an address without an account: the same storage round trip
/// (a read-only probe of a lockout object; a fixed pool, so unknown addresses create nothing)
/// and the same hashing, through the same gate.
pub async fn check_unknown(ctx: &Ctx, email: &Email, password: &Password) -> AppError {
    let _permit = match hash_gate::admit(ctx.cfg.hash_gate).await {
        Ok(p) => p,
        Err(e) => return e,
    };
    let digest = token_hash(email.as_str());
    let n = u32::from_str_radix(&digest[..8], 16).unwrap_or(0) % PROBES;
    let probed = match Client::for_user(&ctx.env, &format!("probe-{n}")) {
        Ok(client) => client.probe().await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = probed {
        return e;
    }
    password::verify(password, password::DUMMY_PHC);
    AppError::InvalidCredentials
}

/// The stored hash of a new password that passed the policy (`check_new`).
pub async fn new_hash(ctx: &Ctx, password: &Password, email: &Email) -> Result<String, AppError> {
    let _permit = hash_gate::admit(ctx.cfg.hash_gate).await?;
    check_new(ctx, password, email).await?;
    password::hash(password, rand::bytes()?).fault("passwords.new_hash")
}

/// Policy for a new password: local rules, then the breach corpus (skipped, and logged, when
/// the range API is off, slow or failing: it must never block signup).
async fn check_new(ctx: &Ctx, password: &Password, email: &Email) -> Result<(), AppError> {
    check_local(password, email).map_err(|w| AppError::WeakPassword(w.to_string()))?;
    let Some(base) = ctx.cfg.breached_api_url.as_deref() else {
        return Ok(());
    };
    let (prefix, suffix) = range_query(password);
    match fetch_range(base, &prefix, ctx.cfg.breached_timeout_ms).await {
        Ok(body) if breach_count(&body, &suffix) > 0 => {
            Err(AppError::WeakPassword(Weakness::Breached.to_string()))
        }
        Ok(_) => Ok(()),
        Err(why) => {
            worker::console_warn!(
                "{}",
                serde_json::json!({"level": "warn", "msg": "breached-password check skipped", "request_id": ctx.request_id, "why": why})
            );
            Ok(())
        }
    }
}

async fn fetch_range(base: &str, prefix: &str, timeout_ms: u32) -> Result<String, String> {
    let headers = Headers::new();
    let _ = headers.set("add-padding", "true");
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let req = Request::new_with_init(&format!("{base}/range/{prefix}"), &init)
        .map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Box::pin(async move {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
        Ok::<_, worker::Error>((resp.status_code(), resp.text().await?))
    });
    let timeout = Box::pin(Delay::from(Duration::from_millis(u64::from(timeout_ms))));
    match select(fetch, timeout).await {
        Either::Left((Ok((200, body)), _)) => Ok(body),
        Either::Left((Ok((status, _)), _)) => Err(format!("status {status}")),
        Either::Left((Err(e), _)) => Err(e.to_string()),
        Either::Right(_) => {
            controller.abort();
            Err(format!("timeout after {timeout_ms} ms"))
        }
    }
}
