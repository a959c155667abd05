//! Applying the configured rate limits of a route: one `RateLimiter` object per rule and key.

use crate::core::config::Limit;
use crate::core::domain::Email;
use crate::core::error::AppError;
use crate::core::ratelimit::{client_buckets, email_bucket, Rule};
use crate::edge::ctx::Ctx;
use crate::edge::objects::rate_limiter::{CheckReq, CheckResp, Client};

/// What a limit is keyed by.
pub enum Key<'a> {
    /// The client address (IPv6: its /64 and its /48, see `core::ratelimit::client_buckets`).
    Client,
    Email(&'a Email),
    /// An authenticated user's id.
    User(&'a str),
}

/// Counts this request against `limit` for `key`; 429 when over. A limiter that cannot be
/// reached fails open (logged): an outage of the limiter must not take logins down with it.
pub async fn enforce(ctx: &Ctx, limit: Limit, key: Key<'_>) -> Result<(), AppError> {
    let Some(rule) = ctx.cfg.rate_limit(limit) else {
        return Ok(());
    };
    let (_, _, prefix) = limit.spec();
    // A limiter keyed by an address is created where the account objects are
    // (ACCOUNT_OBJECTS_LOCATION_HINT): near the user otherwise, it would tell a distant caller
    // that the address had been used, by its round trip.
    let hint = match key {
        Key::Email(_) => ctx.cfg.account_objects_location_hint,
        Key::Client | Key::User(_) => None,
    };
    let buckets: Vec<(String, Rule)> = match key {
        Key::Client => client_buckets(ctx.ip.as_deref())
            .into_iter()
            .map(|b| (b.key, rule.scaled(b.factor)))
            .collect(),
        Key::Email(e) => vec![(email_bucket(e.as_str()), rule)],
        Key::User(id) => vec![(id.to_owned(), rule)],
    };
    // Narrowest first; a refusal stops there, so a wider bucket is not charged for it.
    for (subject, rule) in buckets {
        let name = format!("{prefix}:{subject}");
        match ask(ctx, &name, rule.limit, rule.period_s, hint).await {
            Ok(r) if r.allowed => {}
            Ok(r) => {
                return Err(AppError::RateLimited {
                    retry_after_s: r.retry_after_s.max(1),
                })
            }
            Err(e) => {
                worker::console_error!(
                    "{}",
                    serde_json::json!({"level": "error", "msg": "rate limiter unavailable", "limit": prefix, "error": e.log_json()})
                );
            }
        }
    }
    Ok(())
}

async fn ask(
    ctx: &Ctx,
    name: &str,
    limit: u32,
    period_s: u32,
    location_hint: Option<&str>,
) -> Result<CheckResp, AppError> {
    Client::named(&ctx.env, name, location_hint)?
        .check(&CheckReq { limit, period_s })
        .await
}
