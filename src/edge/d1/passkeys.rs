//! Passkeys in D1: the credentials and the single-use challenges of their ceremonies.

use super::{all, first, i, opt, run, s};
use crate::core::api::rfc3339;
use crate::core::crypto::b64url;
use crate::core::error::{AppError, Faulty};
use crate::core::sql::{passkeys, webauthn_challenges};
use crate::core::webauthn::{
    aaguid_text, Existing, PasskeyView, Registration, MAX_PASSKEYS_PER_USER,
};
use serde::Deserialize;
use worker::D1Database;

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    Authenticate,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
        }
    }
}

pub async fn open_challenge(
    db: &D1Database,
    challenge_hash: &str,
    purpose: Purpose,
    user_id: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    run(
        db,
        webauthn_challenges::INSERT,
        &[
            s(challenge_hash),
            s(purpose.as_str()),
            opt(user_id),
            i(now),
            i(expires_at),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct TakenRow {
    user_id: Option<String>,
}

/// Spends a live challenge (one statement: of parallel uses one wins). `None`: unknown,
/// expired, used, or for another purpose; `Some(user)`: the user it was issued to (`None`
/// for a sign-in challenge).
pub async fn take_challenge(
    db: &D1Database,
    challenge_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<Option<String>>, AppError> {
    let row: Option<TakenRow> = first(
        db,
        webauthn_challenges::TAKE,
        &[s(challenge_hash), s(purpose.as_str()), i(now)],
    )
    .await?;
    Ok(row.map(|r| r.user_id))
}

/// Why a verified registration was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// Its credential id is already registered (to anyone).
    Exists,
    /// The user already holds `MAX_PASSKEYS_PER_USER`.
    Full,
}

/// Stores a verified registration, unless its credential id is already registered or the
/// user is at the cap (one statement: `passkeys::INSERT`).
pub async fn insert(
    db: &D1Database,
    id: &str,
    user_id: &str,
    reg: &Registration,
    name: &str,
    now: i64,
) -> Result<Result<(), NotStored>, AppError> {
    let transports = serde_json::to_string(&reg.transports).fault("d1.passkeys.insert")?;
    #[derive(Deserialize)]
    struct Returned {}
    let row: Option<Returned> = first(
        db,
        passkeys::INSERT,
        &[
            s(id),
            s(user_id),
            s(&b64url(&reg.credential_id)),
            s(&b64url(&reg.public_key_cose)),
            i(reg.alg),
            i(i64::from(reg.sign_count)),
            s(&transports),
            s(name),
            s(&aaguid_text(&reg.aaguid)),
            i(i64::from(reg.backup_eligible)),
            i(i64::from(reg.backed_up)),
            i(now),
            s(user_id),
            i(MAX_PASSKEYS_PER_USER),
        ],
    )
    .await?;
    if row.is_some() {
        return Ok(Ok(()));
    }
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let held = first::<Count>(db, passkeys::COUNT_OF_USER, &[s(user_id)])
        .await?
        .map_or(0, |c| c.n);
    Ok(Err(if held >= MAX_PASSKEYS_PER_USER {
        NotStored::Full
    } else {
        NotStored::Exists
    }))
}

#[derive(Deserialize)]
struct ListRow {
    id: String,
    credential_id: String,
    transports: String,
    name: String,
    aaguid: String,
    backup_eligible: i64,
    backed_up: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

/// A user's passkeys, oldest first, with what the creation options exclude.
pub async fn of_user(
    db: &D1Database,
    user_id: &str,
) -> Result<Vec<(PasskeyView, Existing)>, AppError> {
    let rows: Vec<ListRow> = all(db, passkeys::OF_USER, &[s(user_id)]).await?;
    rows.into_iter()
        .map(|r| {
            let transports: Vec<String> =
                serde_json::from_str(&r.transports).fault("d1.passkeys.of_user")?;
            let credential_id =
                crate::core::crypto::b64url_decode(&r.credential_id).ok_or_else(|| {
                    AppError::fault(
                        "d1.passkeys.of_user",
                        "a stored credential id is not base64url",
                    )
                })?;
            Ok((
                PasskeyView {
                    id: r.id,
                    name: r.name,
                    created_at: rfc3339(r.created_at),
                    last_used_at: r.last_used_at.map(rfc3339),
                    aaguid: r.aaguid,
                    backup_eligible: r.backup_eligible != 0,
                    backed_up: r.backed_up != 0,
                    transports: transports.clone(),
                },
                Existing {
                    credential_id,
                    transports,
                },
            ))
        })
        .collect()
}

/// A stored passkey, as an assertion needs it.
pub struct Stored {
    pub id: String,
    pub user_id: String,
    /// The COSE_Key bytes.
    pub public_key: Vec<u8>,
    pub sign_count: u32,
    pub backup_eligible: bool,
}

#[derive(Deserialize)]
struct StoredRow {
    id: String,
    user_id: String,
    public_key: String,
    sign_count: i64,
    backup_eligible: i64,
}

pub async fn by_credential(
    db: &D1Database,
    credential_id: &[u8],
) -> Result<Option<Stored>, AppError> {
    let row: Option<StoredRow> =
        first(db, passkeys::BY_CREDENTIAL, &[s(&b64url(credential_id))]).await?;
    row.map(|r| {
        Ok(Stored {
            public_key: crate::core::crypto::b64url_decode(&r.public_key).ok_or_else(|| {
                AppError::fault("d1.passkeys.by_credential", "a stored key is not base64url")
            })?,
            id: r.id,
            user_id: r.user_id,
            sign_count: u32::try_from(r.sign_count).unwrap_or(u32::MAX),
            backup_eligible: r.backup_eligible != 0,
        })
    })
    .transpose()
}

/// Records a use with its new counter; `false` when the counter no longer allows it (a
/// parallel assertion with the same counter won).
pub async fn record_use(
    db: &D1Database,
    id: &str,
    sign_count: u32,
    backed_up: bool,
    now: i64,
) -> Result<bool, AppError> {
    let count = i64::from(sign_count);
    Ok(run(
        db,
        passkeys::RECORD_USE,
        &[
            i(count),
            i(i64::from(backed_up)),
            i(now),
            s(id),
            i(count),
            i(count),
        ],
    )
    .await?
        == 1)
}

pub async fn rename(
    db: &D1Database,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<bool, AppError> {
    #[derive(Deserialize)]
    struct Returned {}
    let row: Option<Returned> = first(db, passkeys::RENAME, &[s(name), s(id), s(user_id)]).await?;
    Ok(row.is_some())
}

/// Removes a passkey unless it is the last way to sign in; `false` when refused or unknown.
pub async fn delete_unless_last(
    db: &D1Database,
    user_id: &str,
    id: &str,
) -> Result<bool, AppError> {
    super::delete_unless_last(db, passkeys::DELETE_IF_NOT_LAST, id, user_id).await
}

pub async fn exists(db: &D1Database, user_id: &str, id: &str) -> Result<bool, AppError> {
    #[derive(Deserialize)]
    struct Returned {}
    let row: Option<Returned> = first(db, passkeys::EXISTS, &[s(id), s(user_id)]).await?;
    Ok(row.is_some())
}
