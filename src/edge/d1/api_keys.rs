//! Service API keys: stored by the SHA-256 of their token, looked up by it.

use super::{all, first, i, run, s};
use crate::core::admin::{ApiKey, Scope};
use crate::core::error::AppError;
use crate::core::sql::api_keys;
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    scopes: String,
    created_by: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl Row {
    fn into_key(self) -> ApiKey {
        ApiKey {
            id: self.id,
            name: self.name,
            scopes: Scope::split(&self.scopes),
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        }
    }
}

pub struct NewKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a [Scope],
    pub created_by: &'a str,
    pub now: i64,
    pub expires_at: Option<i64>,
}

pub async fn insert(db: &D1Database, k: &NewKey<'_>) -> Result<(), AppError> {
    let expires = k.expires_at.map(i).unwrap_or(wasm_bindgen::JsValue::NULL);
    run(
        db,
        api_keys::INSERT,
        &[
            s(k.id),
            s(k.name),
            s(k.key_hash),
            s(&Scope::join(k.scopes)),
            s(k.created_by),
            i(k.now),
            expires,
        ],
    )
    .await?;
    Ok(())
}

pub async fn by_hash(db: &D1Database, key_hash: &str) -> Result<Option<ApiKey>, AppError> {
    Ok(first::<Row>(db, api_keys::BY_HASH, &[s(key_hash)])
        .await?
        .map(Row::into_key))
}

pub async fn by_id(db: &D1Database, id: &str) -> Result<Option<ApiKey>, AppError> {
    Ok(first::<Row>(db, api_keys::BY_ID, &[s(id)])
        .await?
        .map(Row::into_key))
}

/// Records a use (at most one write a minute per key).
pub async fn touch(db: &D1Database, id: &str, now: i64) -> Result<(), AppError> {
    run(db, api_keys::TOUCH, &[i(now), s(id), i(now - 60)]).await?;
    Ok(())
}

pub async fn list(db: &D1Database) -> Result<Vec<ApiKey>, AppError> {
    Ok(all::<Row>(db, api_keys::LIST, &[])
        .await?
        .into_iter()
        .map(Row::into_key)
        .collect())
}

/// `true`: revoked now; `false`: unknown or already revoked.
pub async fn revoke(db: &D1Database, id: &str, now: i64) -> Result<bool, AppError> {
    #[derive(Deserialize)]
    struct Id {
        #[allow(dead_code)]
        id: String,
    }
    Ok(first::<Id>(db, api_keys::REVOKE, &[i(now), s(id)])
        .await?
        .is_some())
}
