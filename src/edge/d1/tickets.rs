use super::{first, i, run, s};
use crate::core::error::AppError;
use crate::core::sql::tickets;
use serde::Deserialize;
use worker::D1Database;

pub struct NewTicket<'a> {
    pub hash: &'a str,
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub now: i64,
    pub expires_at: i64,
    /// Most unused, unexpired tickets a user may hold.
    pub cap: u32,
}

/// `false`: the user holds the cap of open tickets already (nothing inserted).
pub async fn insert(db: &D1Database, t: &NewTicket<'_>) -> Result<bool, AppError> {
    let n = run(
        db,
        tickets::INSERT,
        &[
            s(t.hash),
            s(t.user_id),
            s(t.session_id),
            i(t.expires_at),
            s(t.user_id),
            i(t.now),
            i(i64::from(t.cap)),
        ],
    )
    .await?;
    Ok(n == 1)
}

#[derive(Debug, Deserialize)]
pub struct Holder {
    pub user_id: String,
    pub session_id: String,
}

/// Uses up a ticket; `None` for an unknown, used or expired one.
pub async fn redeem(db: &D1Database, hash: &str, now: i64) -> Result<Option<Holder>, AppError> {
    first(db, tickets::REDEEM, &[i(now), s(hash), i(now)]).await
}
