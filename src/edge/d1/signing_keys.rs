//! Rotated signing keys (`signing_keys`): read whole, changed by one batch per rotation step.

use super::{all, batch, i, s, stmt};
use crate::core::error::{AppError, Within};
use crate::core::rotation::StoredKey;
use crate::core::sql::signing_keys;
use serde::Deserialize;
use worker::D1Database;

#[derive(Debug, Clone, Deserialize)]
pub struct KeyRow {
    pub kid: String,
    /// The private part sealed under KEY_ENCRYPTION_KEY; `None` for a configured key's row.
    pub sealed_d: Option<String>,
    pub created_at: i64,
    pub active_from: Option<i64>,
    pub retired_at: Option<i64>,
}

impl KeyRow {
    pub fn stored(&self) -> StoredKey {
        StoredKey {
            kid: self.kid.clone(),
            rotated: self.sealed_d.is_some(),
            created_at: self.created_at,
            active_from: self.active_from,
            retired_at: self.retired_at,
        }
    }
}

pub async fn all_keys(db: &D1Database) -> Result<Vec<KeyRow>, AppError> {
    all(db, signing_keys::ALL, &[]).await
}

/// A freshly generated key: its public part and its sealed private part.
pub struct NewKey {
    pub kid: String,
    pub public_x: String,
    pub sealed_d: String,
}

/// What one rotation step changes (from `core::rotation::plan`).
pub struct Changes<'a> {
    pub activate: Option<&'a str>,
    pub retire: &'a [String],
    pub retire_configured: Option<&'a str>,
    pub insert: Option<NewKey>,
}

/// Applies the step as one batch; returns how many changes it made.
pub async fn apply(db: &D1Database, c: &Changes<'_>, now: i64) -> Result<usize, AppError> {
    let mut statements = vec![];
    if let Some(kid) = c.activate {
        statements.push(stmt(db, signing_keys::ACTIVATE, &[i(now), s(kid)])?);
    }
    for kid in c.retire {
        statements.push(stmt(db, signing_keys::RETIRE, &[i(now), s(kid)])?);
    }
    if let Some(kid) = c.retire_configured {
        statements.push(stmt(
            db,
            signing_keys::RETIRE_CONFIGURED,
            &[s(kid), i(now), i(now)],
        )?);
    }
    if let Some(k) = &c.insert {
        statements.push(stmt(
            db,
            signing_keys::INSERT,
            &[s(&k.kid), s(&k.public_x), s(&k.sealed_d), i(now)],
        )?);
    }
    let n = statements.len();
    if n > 0 {
        batch(db, statements)
            .await
            .within("d1.signing_keys.apply")?;
    }
    Ok(n)
}
