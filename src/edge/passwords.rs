//! Password checks that need the edge: the lockout-counted check of a presented password, and
//! the policy for new ones, with the breached-password range query.

use crate::core::audit::Event;
use crate::core::domain::{Email, Password};
use crate::core::error::AppError;
use crate::core::password;
use crate::core::password_policy::{breach_count, check_local, range_query, Weakness};
use crate::edge::ctx::Ctx;
use crate::edge::d1::{audit, users::UserRow};
use crate::edge::objects::user_sessions::Client;
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// Checks `password` against `user`, counting the attempt in the user's object first, so
/// parallel guesses cannot slip past the lockout. A locked account is answered exactly like a
/// wrong password, after the same amount of hashing work.
pub async fn check(ctx: &Ctx, user: &UserRow, password: &Password) -> Result<(), AppError> {
    let attempt = Client::for_user(&ctx.env, &user.id)?
        .login_attempt(&user.id)
        .await?;
    let ok = if attempt.proceed {
        password::verify(password, &user.password_hash)
    } else {
        password::verify(password, password::DUMMY_PHC);
        false
    };
    if ok {
        return Ok(());
    }
    audit::record(ctx, &user.id, Event::LoginFailed, None).await;
    if attempt.locks {
        audit::record(ctx, &user.id, Event::AccountLocked, None).await;
    }
    Err(AppError::InvalidCredentials)
}

/// The same cost and answer for an address without an account.
pub fn check_unknown(password: &Password) -> AppError {
    password::verify(password, password::DUMMY_PHC);
    AppError::InvalidCredentials
}

/// Policy for a new password: local rules, then the breach corpus (skipped, and logged, when
/// the range API is off, slow or failing: it must never block signup).
pub async fn check_new(ctx: &Ctx, password: &Password, email: &Email) -> Result<(), AppError> {
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
