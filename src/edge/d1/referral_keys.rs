//! Referral keys: made in batches, listed by status, checked, and redeemed in the batch that
//! creates the referred account.

use super::{all, batch, first, i, opt, rows, s, stmt};
use crate::core::error::AppError;
use crate::core::sql::{email_tokens, referral_keys, users};
use serde::{Deserialize, Serialize};
use worker::D1Database;

pub struct NewKey<'a> {
    pub id: &'a str,
    pub key_hash: &'a str,
    pub hint: &'a str,
    pub email: Option<&'a str>,
    pub note: Option<&'a str>,
    pub created_by: &'a str,
    pub now: i64,
}

/// All of them or none (one batch).
pub async fn insert_all(db: &D1Database, keys: &[NewKey<'_>]) -> Result<(), AppError> {
    let statements = keys
        .iter()
        .map(|k| {
            stmt(
                db,
                referral_keys::INSERT,
                &[
                    s(k.id),
                    s(k.key_hash),
                    s(k.hint),
                    opt(k.email),
                    opt(k.note),
                    s(k.created_by),
                    i(k.now),
                ],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    batch(db, statements).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct Unused {
    /// The only address the key registers, when bound.
    pub email: Option<String>,
}

/// The unused key with this hash, if any.
pub async fn peek(db: &D1Database, key_hash: &str) -> Result<Option<Unused>, AppError> {
    first(db, referral_keys::PEEK, &[s(key_hash)]).await
}

#[derive(Deserialize)]
struct Row {
    pos: i64,
    id: String,
    hint: String,
    email: Option<String>,
    note: Option<String>,
    created_by: String,
    created_at: i64,
    used_at: Option<i64>,
    used_by: Option<String>,
}

#[derive(Serialize)]
pub struct KeyView {
    pub id: String,
    /// The key's first characters (the key itself is shown once, when made).
    pub hint: String,
    pub email: Option<String>,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub used_at: Option<String>,
    pub used_by: Option<String>,
}

pub async fn list(
    db: &D1Database,
    status: &str,
    below: Option<i64>,
    limit: i64,
) -> Result<(Vec<KeyView>, Option<i64>), AppError> {
    let rows: Vec<Row> = all(
        db,
        referral_keys::LIST,
        &[
            i(below.unwrap_or(super::NO_CURSOR)),
            s(status),
            s(status),
            s(status),
            i(limit + 1),
        ],
    )
    .await?;
    let (rows, next) = super::split_page(rows, limit, |r| r.pos);
    let rfc = crate::core::api::rfc3339;
    let views = rows
        .into_iter()
        .map(|r| KeyView {
            id: r.id,
            hint: r.hint,
            email: r.email,
            note: r.note,
            created_by: r.created_by,
            created_at: rfc(r.created_at),
            used_at: r.used_at.map(rfc),
            used_by: r.used_by,
        })
        .collect();
    Ok((views, next))
}

pub struct Referred<'a> {
    pub key_hash: &'a str,
    pub user: &'a super::users::NewUser<'a>,
}

/// What the registration batch did.
pub struct Registered {
    /// This registration spent the key (whether or not the address was free).
    pub redeemed: bool,
    pub created: bool,
}

/// Redeems the key and creates the account with its verification token, in one batch: the
/// key goes to exactly one registration however many run at once, and an account is only made
/// with a key this batch spent. At a taken address the key is spent and nothing else written.
pub async fn register(db: &D1Database, r: &Referred<'_>) -> Result<Registered, AppError> {
    let u = r.user;
    let results = batch(
        db,
        vec![
            stmt(
                db,
                referral_keys::REDEEM,
                &[i(u.now), s(u.id), s(r.key_hash), s(u.email)],
            )?,
            stmt(
                db,
                users::INSERT_REFERRED,
                &[
                    s(u.id),
                    s(u.email),
                    s(u.password_hash),
                    opt(u.name),
                    i(u.now),
                    i(u.now),
                    s(r.key_hash),
                    s(u.id),
                ],
            )?,
            stmt(
                db,
                email_tokens::INSERT_FOR_NEW_USER,
                &[
                    s(u.verification_hash),
                    i(u.now),
                    i(u.verification_expires_at),
                    s(u.id),
                ],
            )?,
            stmt(
                db,
                referral_keys::FORGET_PHANTOM,
                &[s(r.key_hash), s(u.id), s(u.id)],
            )?,
        ],
    )
    .await?;
    #[derive(Deserialize)]
    struct Id {
        #[allow(dead_code)]
        id: String,
    }
    Ok(Registered {
        redeemed: !rows::<Id>(&results[0])?.is_empty(),
        created: !rows::<Id>(&results[1])?.is_empty(),
    })
}
