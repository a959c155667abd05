use super::{all, i, run, s};
use crate::core::error::AppError;
use crate::core::sql::sockets;
use serde::Deserialize;
use worker::D1Database;

/// `false`: the user has the cap of open sockets already (no row).
pub async fn open(
    db: &D1Database,
    id: &str,
    user_id: &str,
    holder: &str,
    now: i64,
    cap: u32,
) -> Result<bool, AppError> {
    let n = run(
        db,
        sockets::OPEN,
        &[
            s(id),
            s(user_id),
            s(holder),
            i(now),
            s(user_id),
            i(i64::from(cap)),
        ],
    )
    .await?;
    Ok(n == 1)
}

pub async fn close(db: &D1Database, id: &str) -> Result<(), AppError> {
    run(db, sockets::CLOSE, &[s(id)]).await.map(|_| ())
}

#[derive(Deserialize)]
pub struct SocketRow {
    pub id: String,
    pub holder: String,
}

pub async fn of_user(db: &D1Database, user_id: &str) -> Result<Vec<SocketRow>, AppError> {
    all(db, sockets::OF_USER, &[s(user_id)]).await
}
