//! The administration of accounts: the role, guarded status moves, the search and the stats.

use super::users::UserRow;
use super::{all, first, i, opt, run, s};
use crate::core::account::User;
use crate::core::admin::UserSearch;
use crate::core::error::AppError;
use crate::core::sql::admin;
use serde::Deserialize;
use worker::D1Database;

fn user(row: Option<UserRow>) -> Result<Option<User>, AppError> {
    row.map(UserRow::into_user).transpose()
}

/// The ADMIN_EMAILS bootstrap (idempotent; see `sql::admin::BOOTSTRAP`). `true`: promoted now.
pub async fn bootstrap(db: &D1Database, user_id: &str, now: i64) -> Result<bool, AppError> {
    Ok(run(db, admin::BOOTSTRAP, &[i(now), s(user_id)]).await? == 1)
}

/// `None`: the guard held (already admin).
pub async fn promote(db: &D1Database, user_id: &str, now: i64) -> Result<Option<User>, AppError> {
    user(first(db, admin::PROMOTE, &[i(now), i(now), s(user_id)]).await?)
}

/// `None`: the guard held (not an admin, or no other active admin would remain).
pub async fn demote(db: &D1Database, user_id: &str, now: i64) -> Result<Option<User>, AppError> {
    user(first(db, admin::DEMOTE, &[i(now), i(now), s(user_id), s(user_id)]).await?)
}

/// `None`: the guard held (not active, or the last active admin).
pub async fn deactivate(
    db: &D1Database,
    user_id: &str,
    now: i64,
) -> Result<Option<User>, AppError> {
    user(first(db, admin::DEACTIVATE, &[i(now), s(user_id), s(user_id)]).await?)
}

#[derive(Deserialize)]
struct FoundRow {
    pos: i64,
    #[serde(flatten)]
    user: UserRow,
}

/// One page of the search, newest first, and the position to continue below.
pub async fn search(
    db: &D1Database,
    q: &UserSearch,
    below: Option<i64>,
    limit: i64,
) -> Result<(Vec<User>, Option<i64>), AppError> {
    let status = q.status.map(|s| s.as_str());
    let needle = q.needle.as_deref();
    let wallet = q.wallet.map(|w| w.lower());
    let wallet = wallet.as_deref();
    let provider = q.identity.as_ref().map(|(p, _)| p.as_str());
    let subject = q.identity.as_ref().map(|(_, s)| s.as_str());
    let rows: Vec<FoundRow> = all(
        db,
        admin::SEARCH,
        &[
            i(below.unwrap_or(super::NO_CURSOR)),
            opt(status),
            opt(status),
            opt(needle),
            opt(needle),
            opt(needle),
            opt(wallet),
            opt(wallet),
            opt(provider),
            opt(provider),
            opt(subject),
            i(limit + 1),
        ],
    )
    .await?;
    let (rows, next) = super::split_page(rows, limit, |r| r.pos);
    let users = rows
        .into_iter()
        .map(|r| r.user.into_user())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((users, next))
}

#[derive(Deserialize)]
pub struct Count {
    pub key: String,
    pub n: i64,
}

#[derive(Deserialize)]
struct N {
    n: i64,
}

#[derive(Deserialize)]
pub struct Credits {
    pub outstanding: i64,
    pub accounts: i64,
}

pub struct Stats {
    pub users_by_status: Vec<Count>,
    pub users_by_role: Vec<Count>,
    pub active_sessions: i64,
    pub credits: Credits,
}

pub async fn stats(db: &D1Database, now: i64) -> Result<Stats, AppError> {
    #[derive(Deserialize)]
    struct ByStatus {
        status: String,
        n: i64,
    }
    #[derive(Deserialize)]
    struct ByRole {
        role: String,
        n: i64,
    }
    let by_status: Vec<ByStatus> = all(db, admin::USERS_BY_STATUS, &[]).await?;
    let by_role: Vec<ByRole> = all(db, admin::USERS_BY_ROLE, &[]).await?;
    let sessions: Option<N> = first(db, admin::ACTIVE_SESSIONS, &[i(now)]).await?;
    let credits: Option<Credits> = first(db, admin::CREDITS, &[]).await?;
    Ok(Stats {
        users_by_status: by_status
            .into_iter()
            .map(|r| Count {
                key: r.status,
                n: r.n,
            })
            .collect(),
        users_by_role: by_role
            .into_iter()
            .map(|r| Count {
                key: r.role,
                n: r.n,
            })
            .collect(),
        active_sessions: sessions.map_or(0, |r| r.n),
        credits: credits.unwrap_or(Credits {
            outstanding: 0,
            accounts: 0,
        }),
    })
}
