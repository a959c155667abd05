//! Pending e-mail changes: issue (retiring older ones) and redeem (switching the address).

use super::{batch, first, i, opt, rows, s, stmt, users::UserRow};
use crate::core::account::User;
use crate::core::error::AppError;
use crate::core::sql::email_changes;
use serde::Deserialize;
use worker::D1Database;

pub struct NewChange<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub new_email: &'a str,
    pub session_id: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// Issues a change link and retires the user's older unused ones, in one batch.
pub async fn issue(db: &D1Database, c: &NewChange<'_>) -> Result<(), AppError> {
    batch(
        db,
        vec![
            stmt(db, email_changes::RETIRE_UNUSED, &[i(c.now), s(c.user_id)])?,
            stmt(
                db,
                email_changes::INSERT,
                &[
                    s(c.token_hash),
                    s(c.user_id),
                    s(c.new_email),
                    opt(Some(c.session_id)),
                    i(c.now),
                    i(c.expires_at),
                ],
            )?,
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Redeemed {
    session_id: Option<String>,
}

pub enum Redemption {
    /// The account now has the new address; `keep` is the session that asked for it.
    Switched { user: User, keep: Option<String> },
    /// The link is good but its address belongs to an account meanwhile.
    AddressTaken,
    /// Unknown, used or expired.
    Invalid,
}

/// Redeems a change link and switches the address, atomically (one batch).
pub async fn redeem(db: &D1Database, token_hash: &str, now: i64) -> Result<Redemption, AppError> {
    let results = batch(
        db,
        vec![
            stmt(db, email_changes::REDEEM, &[i(now), s(token_hash), i(now)])?,
            stmt(
                db,
                email_changes::SWITCH_BY_USED_TOKEN,
                &[s(token_hash), i(now), i(now), s(token_hash), i(now)],
            )?,
        ],
    )
    .await?;
    let redeemed = rows::<Redeemed>(&results[0])?.into_iter().next();
    let user = rows::<UserRow>(&results[1])?
        .into_iter()
        .next()
        .map(UserRow::into_user)
        .transpose()?;
    if let (Some(r), Some(user)) = (redeemed, user) {
        return Ok(Redemption::Switched {
            user,
            keep: r.session_id,
        });
    }
    #[derive(Deserialize)]
    struct Taken {
        #[allow(dead_code)]
        taken: i64,
    }
    let taken: Option<Taken> =
        first(db, email_changes::PENDING_TAKEN, &[s(token_hash), i(now)]).await?;
    Ok(if taken.is_some() {
        Redemption::AddressTaken
    } else {
        Redemption::Invalid
    })
}
