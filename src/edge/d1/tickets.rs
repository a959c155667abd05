use super::{first, i, run, s};
use crate::core::error::AppError;
use crate::core::sql::tickets;
use serde::Deserialize;
use worker::D1Database;

pub async fn insert(
    db: &D1Database,
    hash: &str,
    user_id: &str,
    session_id: &str,
    expires_at: i64,
) -> Result<(), AppError> {
    run(
        db,
        tickets::INSERT,
        &[s(hash), s(user_id), s(session_id), i(expires_at)],
    )
    .await?;
    Ok(())
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
