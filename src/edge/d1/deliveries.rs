//! What the queue consumers keep in D1: delivery attempts per message, and dead letters.

use super::{first, i, run, s};
use crate::core::error::AppError;
use crate::core::sql::{dead_letter_stats, dead_letters, queue_deliveries};
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct Attempts {
    attempts: i64,
}

/// Counts one more delivery of message `id` and returns the count so far (at least 1).
pub async fn count_attempt(db: &D1Database, id: &str, now: i64) -> Result<u32, AppError> {
    let row: Option<Attempts> =
        first(db, queue_deliveries::COUNT_ATTEMPT, &[s(id), i(now)]).await?;
    Ok(row.map_or(1, |r| r.attempts.max(1) as u32))
}

/// Keeps a dead letter for inspection; `body` must already be redacted.
pub async fn keep_dead_letter(
    db: &D1Database,
    id: &str,
    queue: &str,
    body: &str,
    now: i64,
) -> Result<(), AppError> {
    run(
        db,
        dead_letters::INSERT,
        &[s(id), s(queue), s(body), i(now)],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct N {
    n: i64,
}

/// How many dead letters of `queue` are kept.
pub async fn dead_letter_count(db: &D1Database, queue: &str) -> Result<i64, AppError> {
    let row: Option<N> = first(db, dead_letter_stats::COUNT_FOR_QUEUE, &[s(queue)]).await?;
    Ok(row.map_or(0, |r| r.n))
}
