use super::{batch, first, i, opt, rows, s, stmt};
use crate::core::account::{Transition, User};
use crate::core::admin::Role;
use crate::core::domain::{UserId, UserStatus};
use crate::core::error::{AppError, Faulty};
use crate::core::sql::{email_tokens, users};
use serde::Deserialize;
use worker::D1Database;

/// The `users` row as D1 returns it; `edge::d1` turns it into the core `User` at once.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct UserRow {
    id: String,
    email: String,
    name: Option<String>,
    status: String,
    email_verified: i64,
    created_at: i64,
    version: i64,
    password_hash: String,
    deletion_due_at: Option<i64>,
    locale: Option<String>,
    timezone: Option<String>,
    avatar_url: Option<String>,
    notification_prefs: Option<String>,
    role: String,
    /// Only in `users::BY_EMAIL_FOR_SIGN_IN`'s rows: 1 with a confirmed second factor.
    #[serde(default)]
    second_factor: Option<i64>,
}

impl UserRow {
    /// The schema's CHECKs make a bad id or status impossible; one would be a fault of ours.
    pub(super) fn into_user(self) -> Result<User, AppError> {
        Ok(User {
            id: UserId::parse(&self.id).fault("d1.users.row")?,
            status: UserStatus::parse(&self.status)
                .ok_or_else(|| AppError::fault("d1.users.row", "unknown status"))?,
            email: self.email,
            name: self.name,
            email_verified: self.email_verified != 0,
            created_at: self.created_at,
            version: self.version,
            password_hash: self.password_hash,
            deletion_due_at: self.deletion_due_at,
            locale: self.locale,
            timezone: self.timezone,
            avatar_url: self.avatar_url,
            notification_prefs: self.notification_prefs,
            role: Role::parse(&self.role)
                .ok_or_else(|| AppError::fault("d1.users.row", "unknown role"))?,
        })
    }
}

fn user(row: Option<UserRow>) -> Result<Option<User>, AppError> {
    row.map(UserRow::into_user).transpose()
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

pub async fn by_email(db: &D1Database, email: &str) -> Result<Option<User>, AppError> {
    user(first(db, users::BY_EMAIL, &[s(email)]).await?)
}

/// A sign-in's lookup: the user of `email` and whether the account has a confirmed second
/// factor, in one query.
pub async fn for_sign_in(db: &D1Database, email: &str) -> Result<Option<(User, bool)>, AppError> {
    let row: Option<UserRow> = first(db, users::BY_EMAIL_FOR_SIGN_IN, &[s(email)]).await?;
    row.map(|r| {
        let second_factor = r.second_factor.is_some_and(|f| f != 0);
        r.into_user().map(|u| (u, second_factor))
    })
    .transpose()
}

pub async fn by_id(db: &D1Database, id: &str) -> Result<Option<User>, AppError> {
    user(first(db, users::BY_ID, &[s(id)]).await?)
}

/// Redeems a verification token and verifies its user, atomically. `None`: unknown, used or
/// expired token.
pub async fn verify_email(
    db: &D1Database,
    token_hash: &str,
    now: i64,
) -> Result<Option<User>, AppError> {
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
    user(rows::<UserRow>(&results[1])?.into_iter().next())
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

/// Sets a new password (a change by the signed-in user) and retires the unused reset links.
pub async fn set_password(
    db: &D1Database,
    user_id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), AppError> {
    // A reset link sent before the change must not set another password afterwards.
    batch(
        db,
        vec![
            stmt(
                db,
                users::SET_PASSWORD,
                &[s(password_hash), i(now), s(user_id)],
            )?,
            stmt(
                db,
                email_tokens::RETIRE_UNUSED,
                &[i(now), s(user_id), s("password_reset")],
            )?,
        ],
    )
    .await?;
    Ok(())
}

/// Applies a status move with a statement guarded by its precondition (see `Transition`);
/// `None` when the account was not in a status it may move from. `deletion_due_at` is the
/// end of the grace period, for `RequestDeletion`.
pub async fn transition(
    db: &D1Database,
    t: Transition,
    user_id: &str,
    now: i64,
    deletion_due_at: i64,
) -> Result<Option<User>, AppError> {
    let row = match t {
        Transition::Deactivate => first(db, users::DEACTIVATE, &[i(now), s(user_id)]).await?,
        Transition::Reactivate => first(db, users::REACTIVATE, &[i(now), s(user_id)]).await?,
        Transition::Restore => first(db, users::RESTORE, &[i(now), s(user_id)]).await?,
        Transition::RequestDeletion => {
            first(
                db,
                users::REQUEST_DELETION,
                &[i(deletion_due_at), i(now), s(user_id)],
            )
            .await?
        }
    };
    user(row)
}

fn change(c: &crate::core::profile::Change) -> [wasm_bindgen::JsValue; 2] {
    match c {
        None => [i(0), wasm_bindgen::JsValue::NULL],
        Some(v) => [i(1), opt(v.as_deref())],
    }
}

/// `None`: the version was stale (nothing changed).
pub async fn patch_profile(
    db: &D1Database,
    user_id: &str,
    expected_version: i64,
    p: &crate::core::profile::ProfilePatch,
    now: i64,
) -> Result<Option<User>, AppError> {
    let mut args = Vec::with_capacity(11);
    for c in [&p.name, &p.locale, &p.timezone, &p.avatar_url] {
        args.extend(change(c));
    }
    args.extend([i(now), s(user_id), i(expected_version)]);
    user(first(db, users::PATCH_PROFILE, &args).await?)
}

#[derive(Deserialize)]
struct PrefsRow {
    notification_prefs: Option<String>,
}

pub async fn patch_preferences(
    db: &D1Database,
    user_id: &str,
    patch_json: &str,
    now: i64,
) -> Result<Option<String>, AppError> {
    let row: Option<PrefsRow> = first(
        db,
        users::PATCH_PREFERENCES,
        &[s(patch_json), i(now), s(user_id)],
    )
    .await?;
    Ok(row.and_then(|r| r.notification_prefs))
}

pub async fn reset_preferences(db: &D1Database, user_id: &str, now: i64) -> Result<(), AppError> {
    super::run(db, users::RESET_PREFERENCES, &[i(now), s(user_id)]).await?;
    Ok(())
}
