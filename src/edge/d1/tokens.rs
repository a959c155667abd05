use super::{batch, first, i, s, stmt};
use crate::core::error::AppError;
use crate::core::sql::email_tokens;
use serde::Deserialize;
use worker::D1Database;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// Issues a new token of `purpose` and retires the user's older unused ones, in one batch.
pub async fn replace(
    db: &D1Database,
    user_id: &str,
    purpose: Purpose,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    batch(
        db,
        vec![
            stmt(
                db,
                email_tokens::RETIRE_UNUSED,
                &[i(now), s(user_id), s(purpose.as_str())],
            )?,
            stmt(
                db,
                email_tokens::INSERT,
                &[
                    s(token_hash),
                    s(user_id),
                    s(purpose.as_str()),
                    i(now),
                    i(expires_at),
                ],
            )?,
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Owner {
    user_id: String,
}

/// The owner of a redeemable token, without using it up.
pub async fn peek(
    db: &D1Database,
    purpose: Purpose,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, AppError> {
    let row: Option<Owner> = first(
        db,
        email_tokens::PEEK,
        &[s(token_hash), s(purpose.as_str()), i(now)],
    )
    .await?;
    Ok(row.map(|r| r.user_id))
}
