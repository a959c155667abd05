//! `external_identities`: identities linked to accounts (and accounts opened by one).

use super::{all, batch, first, i, opt, rows, s, stmt};
use crate::core::error::AppError;
use crate::core::idp::flow::Identity;
use crate::core::sql::external_identities as sql;
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct OwnerRow {
    user_id: String,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct IdentityRow {
    id: String,
    provider: String,
    subject: String,
    email: Option<String>,
    created_at: i64,
}

impl IdentityRow {
    fn into_identity(self) -> Identity {
        Identity {
            id: self.id,
            provider: self.provider,
            subject: self.subject,
            email: self.email,
            created_at: self.created_at,
        }
    }
}

pub struct NewIdentity<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub now: i64,
}

/// The account the identity is linked to.
pub async fn owner(
    db: &D1Database,
    provider: &str,
    subject: &str,
) -> Result<Option<String>, AppError> {
    let row: Option<OwnerRow> = first(db, sql::OWNER, &[s(provider), s(subject)]).await?;
    Ok(row.map(|r| r.user_id))
}

/// Records a sign-in with the identity (and the address the provider gives now).
pub async fn touch(db: &D1Database, n: &NewIdentity<'_>) -> Result<(), AppError> {
    super::run(
        db,
        sql::TOUCH,
        &[i(n.now), opt(n.email), s(n.provider), s(n.subject)],
    )
    .await?;
    Ok(())
}

/// Links the identity to `user_id`; `false` when (provider, subject) is linked already.
pub async fn link(db: &D1Database, user_id: &str, n: &NewIdentity<'_>) -> Result<bool, AppError> {
    let row: Option<IdRow> = first(
        db,
        sql::INSERT,
        &[
            s(n.id),
            s(user_id),
            s(n.provider),
            s(n.subject),
            opt(n.email),
            i(n.now),
            i(n.now),
        ],
    )
    .await?;
    Ok(row.is_some_and(|r| r.id == n.id))
}

/// Opens a verified account without a password and links the identity, in one batch.
/// `false`: the address was taken meanwhile (nothing written).
pub async fn create_user(
    db: &D1Database,
    user_id: &str,
    email: &str,
    name: Option<&str>,
    n: &NewIdentity<'_>,
) -> Result<bool, AppError> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                sql::INSERT_USER,
                &[s(user_id), s(email), opt(name), i(n.now), i(n.now)],
            )?,
            stmt(
                db,
                sql::INSERT_FOR_NEW_USER,
                &[
                    s(n.id),
                    s(n.provider),
                    s(n.subject),
                    opt(n.email),
                    i(n.now),
                    i(n.now),
                    s(user_id),
                ],
            )?,
        ],
    )
    .await?;
    Ok(!rows::<IdRow>(&results[0])?.is_empty())
}

pub async fn of_user(db: &D1Database, user_id: &str) -> Result<Vec<Identity>, AppError> {
    let rows: Vec<IdentityRow> = all(db, sql::OF_USER, &[s(user_id)]).await?;
    Ok(rows.into_iter().map(IdentityRow::into_identity).collect())
}

/// Unlinks one of the user's identities unless it is the last way to sign in; `true` when it
/// was removed.
pub async fn unlink_unless_last(
    db: &D1Database,
    user_id: &str,
    id: &str,
) -> Result<bool, AppError> {
    super::delete_unless_last(db, sql::DELETE_IF_NOT_LAST, id, user_id).await
}
