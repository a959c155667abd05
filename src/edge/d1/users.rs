use super::{batch, first, i, opt, rows, s, stmt};
use crate::core::api::{rfc3339, UserView};
use crate::core::domain::UserStatus;
use crate::core::error::AppError;
use crate::core::sql::{email_tokens, users};
use serde::Deserialize;
use worker::D1Database;

#[derive(Debug, Clone, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub status: String,
    pub email_verified: i64,
    pub created_at: i64,
    pub version: i64,
    pub password_hash: String,
}

impl UserRow {
    pub fn status(&self) -> UserStatus {
        UserStatus::parse(&self.status).unwrap_or(UserStatus::Deactivated)
    }

    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            status: self.status().as_str(),
            email_verified: self.email_verified != 0,
            created_at: rfc3339(self.created_at),
            version: self.version,
        }
    }
}

#[derive(Deserialize)]
struct IdRow {
    #[allow(dead_code)]
    id: String,
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub name: Option<&'a str>,
    pub now: i64,
    pub verification_hash: &'a str,
    pub verification_expires_at: i64,
}

/// Creates the account and its verification token in one batch. `false`: the e-mail was taken
/// (nothing written).
pub async fn insert_with_verification(db: &D1Database, u: &NewUser<'_>) -> Result<bool, AppError> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                users::INSERT,
                &[
                    s(u.id),
                    s(u.email),
                    s(u.password_hash),
                    opt(u.name),
                    i(u.now),
                    i(u.now),
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
        ],
    )
    .await?;
    Ok(!rows::<IdRow>(&results[0])?.is_empty())
}

pub async fn by_email(db: &D1Database, email: &str) -> Result<Option<UserRow>, AppError> {
    first(db, users::BY_EMAIL, &[s(email)]).await
}

pub async fn by_id(db: &D1Database, id: &str) -> Result<Option<UserRow>, AppError> {
    first(db, users::BY_ID, &[s(id)]).await
}

/// Redeems a verification token and verifies its user, atomically. `None`: unknown, used or
/// expired token.
pub async fn verify_email(
    db: &D1Database,
    token_hash: &str,
    now: i64,
) -> Result<Option<UserRow>, AppError> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                email_tokens::REDEEM,
                &[i(now), s(token_hash), s("verify_email"), i(now)],
            )?,
            stmt(
                db,
                users::VERIFY_BY_USED_TOKEN,
                &[i(now), s(token_hash), i(now)],
            )?,
        ],
    )
    .await?;
    Ok(rows::<UserRow>(&results[1])?.into_iter().next())
}

/// Redeems a reset token and sets the new password, atomically. `None`: the token was not
/// redeemable (used meanwhile, or expired).
pub async fn reset_password(
    db: &D1Database,
    token_hash: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<String>, AppError> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                email_tokens::REDEEM,
                &[i(now), s(token_hash), s("password_reset"), i(now)],
            )?,
            stmt(
                db,
                users::RESET_PASSWORD_BY_USED_TOKEN,
                &[s(password_hash), i(now), s(token_hash), i(now)],
            )?,
        ],
    )
    .await?;
    Ok(rows::<IdRow>(&results[1])?.into_iter().next().map(|r| r.id))
}

pub async fn set_password(
    db: &D1Database,
    user_id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), AppError> {
    super::run(
        db,
        users::SET_PASSWORD,
        &[s(password_hash), i(now), s(user_id)],
    )
    .await?;
    Ok(())
}
