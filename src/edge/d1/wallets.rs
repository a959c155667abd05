//! `wallets` (Ethereum addresses linked to accounts) and `siwe_nonces` (the nonces handed out
//! for Sign-in-with-Ethereum messages).

use super::{all, batch, first, i, rows, s, stmt};
use crate::core::error::{AppError, Faulty};
use crate::core::siwe::{Address, Wallet};
use crate::core::sql::{siwe_nonces, wallets as sql};
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct OwnerRow {
    user_id: String,
}

#[derive(Deserialize)]
struct AddressRow {
    #[allow(dead_code)]
    address: String,
}

#[derive(Deserialize)]
struct IdRow {
    #[allow(dead_code)]
    id: String,
}

#[derive(Deserialize)]
struct WalletRow {
    address: String,
    chain_id: i64,
    created_at: i64,
    last_used_at: i64,
}

#[derive(Deserialize)]
struct NonceRow {
    expires_at: i64,
}

/// Records an issued nonce (its SHA-256 digest) until `expires_at`.
pub async fn insert_nonce(
    db: &D1Database,
    nonce_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    super::run(
        db,
        siwe_nonces::INSERT,
        &[s(nonce_hash), i(now), i(expires_at)],
    )
    .await?;
    Ok(())
}

/// Consumes the nonce: `Some(expires_at)` for the one caller that got it (whether it is still
/// live is the caller's to check), `None` when it is unknown or already used.
pub async fn take_nonce(db: &D1Database, nonce_hash: &str) -> Result<Option<i64>, AppError> {
    let row: Option<NonceRow> = first(db, siwe_nonces::TAKE, &[s(nonce_hash)]).await?;
    Ok(row.map(|r| r.expires_at))
}

/// The account the wallet is linked to.
pub async fn owner(db: &D1Database, address: &Address) -> Result<Option<String>, AppError> {
    let row: Option<OwnerRow> = first(db, sql::OWNER, &[s(&address.lower())]).await?;
    Ok(row.map(|r| r.user_id))
}

/// A sign-in with the wallet (on the chain its message named).
pub async fn touch(
    db: &D1Database,
    user_id: &str,
    address: &Address,
    chain_id: u64,
    now: i64,
) -> Result<(), AppError> {
    super::run(
        db,
        sql::TOUCH,
        &[i(now), i(chain_id as i64), s(&address.lower()), s(user_id)],
    )
    .await?;
    Ok(())
}

/// Links the wallet to `user_id`; `false` when it is linked already (to anyone).
pub async fn link(
    db: &D1Database,
    user_id: &str,
    address: &Address,
    chain_id: u64,
    now: i64,
) -> Result<bool, AppError> {
    let row: Option<AddressRow> = first(
        db,
        sql::INSERT,
        &[
            s(&address.lower()),
            s(user_id),
            i(chain_id as i64),
            i(now),
            i(now),
        ],
    )
    .await?;
    Ok(row.is_some())
}

/// Opens an account without a password under `email` (a placeholder) and links the wallet, in
/// one batch. `false`: the wallet was linked meanwhile (nothing written).
pub async fn create_user(
    db: &D1Database,
    user_id: &str,
    email: &str,
    address: &Address,
    chain_id: u64,
    now: i64,
) -> Result<bool, AppError> {
    let address = address.lower();
    let results = batch(
        db,
        vec![
            stmt(
                db,
                sql::INSERT_USER,
                &[s(user_id), s(email), i(now), i(now), s(&address)],
            )?,
            stmt(
                db,
                sql::INSERT_FOR_NEW_USER,
                &[s(&address), i(chain_id as i64), i(now), i(now), s(user_id)],
            )?,
        ],
    )
    .await?;
    Ok(!rows::<IdRow>(&results[0])?.is_empty())
}

pub async fn of_user(db: &D1Database, user_id: &str) -> Result<Vec<Wallet>, AppError> {
    let rows: Vec<WalletRow> = all(db, sql::OF_USER, &[s(user_id)]).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Wallet {
                address: Address::parse_any(&r.address)
                    .ok_or("a stored address is not canonical")
                    .fault("d1.wallets.row")?,
                chain_id: u64::try_from(r.chain_id).fault("d1.wallets.row")?,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
            })
        })
        .collect()
}

/// Unlinks one of the user's wallets unless it is the last way to sign in (one statement:
/// the check and the delete cannot be interleaved); `true` when it was removed.
pub async fn unlink_unless_last(
    db: &D1Database,
    user_id: &str,
    address: &Address,
) -> Result<bool, AppError> {
    super::delete_unless_last(db, sql::DELETE_IF_NOT_LAST, &address.lower(), user_id).await
}
