//! Second factors in D1: the TOTP factor and its recovery codes, the challenges of sign-ins
//! waiting for a second factor, and how each session was authenticated.

use super::{batch, changes, first, i, opt, run, s, stmt};
use crate::core::error::{AppError, Faulty};
use crate::core::mfa::{Authentication, Challenge, LastAuthentication, TotpFactor};
use crate::core::sql::{
    mfa_challenges, passkeys, recovery_codes, session_authentications, totp_factors,
};
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct TotpRow {
    sealed_secret: String,
    last_step: i64,
    confirmed_at: Option<i64>,
}

pub async fn totp(db: &D1Database, user_id: &str) -> Result<Option<TotpFactor>, AppError> {
    let row: Option<TotpRow> = first(db, totp_factors::BY_USER, &[s(user_id)]).await?;
    Ok(row.map(|r| TotpFactor {
        sealed_secret: r.sealed_secret,
        last_step: r.last_step,
        confirmed: r.confirmed_at.is_some(),
    }))
}

/// A RETURNING row: only its presence matters.
#[derive(Deserialize)]
struct Returned {}

/// Starts or restarts a pending enrolment; `false` when a confirmed factor is in place.
pub async fn start_totp(
    db: &D1Database,
    user_id: &str,
    sealed_secret: &str,
    now: i64,
) -> Result<bool, AppError> {
    let row: Option<Returned> = first(
        db,
        totp_factors::START,
        &[s(user_id), s(sealed_secret), i(now)],
    )
    .await?;
    Ok(row.is_some())
}

/// Confirms the pending factor with the proving code's step and stores the recovery codes'
/// hashes, in one batch; `false` when there was no pending factor to confirm (a parallel
/// confirmation won, or the step was already used).
pub async fn confirm_totp(
    db: &D1Database,
    user_id: &str,
    step: i64,
    code_hashes: &[String],
    now: i64,
) -> Result<bool, AppError> {
    let hashes = serde_json::to_string(code_hashes).fault("d1.mfa.confirm_totp")?;
    let results = batch(
        db,
        vec![
            stmt(
                db,
                totp_factors::CONFIRM,
                &[i(now), i(step), s(user_id), i(step)],
            )?,
            stmt(
                db,
                recovery_codes::INSERT_AFTER_CONFIRM,
                &[s(user_id), s(&hashes)],
            )?,
        ],
    )
    .await?;
    Ok(results.first().map(changes) == Some(1))
}

/// Records `step` as used; `false` when it (or a later one) already was: a replay.
pub async fn accept_step(db: &D1Database, user_id: &str, step: i64) -> Result<bool, AppError> {
    Ok(run(
        db,
        totp_factors::ACCEPT_STEP,
        &[i(step), s(user_id), i(step)],
    )
    .await?
        == 1)
}

/// Removes the factor and its recovery codes; `false` when there was none.
pub async fn remove_totp(db: &D1Database, user_id: &str) -> Result<bool, AppError> {
    let results = batch(
        db,
        vec![
            stmt(db, totp_factors::DELETE, &[s(user_id)])?,
            stmt(db, recovery_codes::DELETE_ALL, &[s(user_id)])?,
        ],
    )
    .await?;
    Ok(results.first().map(changes) == Some(1))
}

/// An administrator's reset: the factor (confirmed or pending), its recovery codes, the
/// user's sign-ins waiting for a second factor and the user's passkeys go together, in one
/// batch. `false` when there was no factor and no passkey.
pub async fn reset(db: &D1Database, user_id: &str) -> Result<bool, AppError> {
    let results = batch(
        db,
        vec![
            stmt(db, totp_factors::DELETE, &[s(user_id)])?,
            stmt(db, recovery_codes::DELETE_ALL, &[s(user_id)])?,
            stmt(db, mfa_challenges::DELETE_OF_USER, &[s(user_id)])?,
            stmt(db, passkeys::DELETE_ALL, &[s(user_id)])?,
        ],
    )
    .await?;
    Ok(results.first().map(changes) == Some(1) || results.get(3).map(changes).unwrap_or(0) > 0)
}

/// Spends a recovery code; `false` when it is unknown or already spent.
pub async fn use_recovery_code(
    db: &D1Database,
    user_id: &str,
    code_hash: &str,
    now: i64,
) -> Result<bool, AppError> {
    Ok(run(db, recovery_codes::USE, &[i(now), s(user_id), s(code_hash)]).await? == 1)
}

/// A new challenge (the user's expired ones go in the same batch).
pub async fn open_challenge(
    db: &D1Database,
    token_hash: &str,
    challenge: &Challenge,
    attempts: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    let mode = if challenge.cookie_mode {
        "cookie"
    } else {
        "bearer"
    };
    batch(
        db,
        vec![
            stmt(
                db,
                mfa_challenges::PURGE_EXPIRED_OF_USER,
                &[s(&challenge.user_id), i(now)],
            )?,
            stmt(
                db,
                mfa_challenges::INSERT,
                &[
                    s(token_hash),
                    s(&challenge.user_id),
                    s(mode),
                    opt(challenge.device_name.as_deref()),
                    i(attempts),
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
struct ChallengeRow {
    user_id: String,
    mode: String,
    device_name: Option<String>,
}

/// Spends one attempt of a live challenge and returns it; `None` when it is unknown, expired
/// or out of attempts.
pub async fn take_attempt(
    db: &D1Database,
    token_hash: &str,
    now: i64,
) -> Result<Option<Challenge>, AppError> {
    let row: Option<ChallengeRow> =
        first(db, mfa_challenges::TAKE_ATTEMPT, &[s(token_hash), i(now)]).await?;
    Ok(row.map(|r| Challenge {
        user_id: r.user_id,
        cookie_mode: r.mode == "cookie",
        device_name: r.device_name,
    }))
}

/// Uses the challenge up; `false` when another request already did.
pub async fn consume_challenge(db: &D1Database, token_hash: &str) -> Result<bool, AppError> {
    let row: Option<Returned> = first(db, mfa_challenges::CONSUME, &[s(token_hash)]).await?;
    Ok(row.is_some())
}

pub async fn record_authentication(
    db: &D1Database,
    session_id: &str,
    how: Authentication,
    now: i64,
) -> Result<(), AppError> {
    run(
        db,
        session_authentications::INSERT,
        &[s(session_id), s(how.as_str()), i(now)],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct AuthenticationRow {
    amr: String,
}

/// How the session was authenticated; a session without a row signed in with its password.
pub async fn authentication(db: &D1Database, session_id: &str) -> Result<Authentication, AppError> {
    let row: Option<AuthenticationRow> =
        first(db, session_authentications::BY_SESSION, &[s(session_id)]).await?;
    Ok(Authentication::parse(row.as_ref().map(|r| r.amr.as_str())))
}

/// A reauthentication of the session, now.
pub async fn reauthenticated(
    db: &D1Database,
    session_id: &str,
    how: Authentication,
    now: i64,
) -> Result<(), AppError> {
    run(
        db,
        session_authentications::RECORD,
        &[s(session_id), s(how.as_str()), i(now)],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct StepUpRow {
    created_at: i64,
    amr: Option<String>,
    authenticated_at: Option<i64>,
    second_factor: i64,
}

/// The session's last authentication (its sign-in with the password when none is recorded)
/// and whether the account has a confirmed second factor; `None` for a session that is not
/// the user's or no longer stored.
pub async fn step_up_state(
    db: &D1Database,
    session_id: &str,
    user_id: &str,
) -> Result<Option<(LastAuthentication, bool)>, AppError> {
    let row: Option<StepUpRow> = first(
        db,
        session_authentications::STEP_UP_STATE,
        &[s(session_id), s(user_id)],
    )
    .await?;
    Ok(row.map(|r| {
        let last = LastAuthentication {
            at: r.authenticated_at.unwrap_or(r.created_at),
            how: Authentication::parse(r.amr.as_deref()),
        };
        (last, r.second_factor != 0)
    }))
}
