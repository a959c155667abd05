use super::{all, first, i, opt, s};
use crate::core::api::rfc3339;
use crate::core::error::AppError;
use crate::core::sql::streams;
use serde::{Deserialize, Serialize};
use worker::D1Database;

#[derive(Debug, Clone, Deserialize)]
pub struct StreamRow {
    /// The list position (rowid), present in list queries.
    #[serde(default)]
    pub seq: i64,
    pub id: String,
    pub owner_id: String,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamView {
    pub id: String,
    pub owner_id: String,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub ended_at: Option<String>,
}

impl StreamRow {
    pub fn is_live(&self) -> bool {
        self.status == "live"
    }

    pub fn view(&self) -> StreamView {
        StreamView {
            id: self.id.clone(),
            owner_id: self.owner_id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            status: self.status.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            ended_at: self.ended_at.map(rfc3339),
        }
    }
}

pub struct NewStream<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub now: i64,
    /// Most live streams an owner may have.
    pub cap: u32,
}

/// `None`: the owner has the cap of live streams already (nothing inserted).
pub async fn insert(db: &D1Database, n: &NewStream<'_>) -> Result<Option<StreamRow>, AppError> {
    first(
        db,
        streams::INSERT,
        &[
            s(n.id),
            s(n.owner),
            s(n.title),
            opt(n.description),
            i(n.now),
            i(n.now),
            s(n.owner),
            i(i64::from(n.cap)),
        ],
    )
    .await
}

pub async fn by_id(db: &D1Database, id: &str) -> Result<Option<StreamRow>, AppError> {
    first(db, streams::BY_ID, &[s(id)]).await
}

/// Live streams below the cursor (a list position).
pub async fn list_live(
    db: &D1Database,
    below: Option<i64>,
    limit: i64,
) -> Result<Vec<StreamRow>, AppError> {
    all(
        db,
        streams::LIST_LIVE,
        &[i(below.unwrap_or(super::NO_CURSOR)), i(limit)],
    )
    .await
}

/// `description`: `None` keeps it, `Some(None)` clears it.
pub async fn update(
    db: &D1Database,
    id: &str,
    owner: &str,
    title: Option<&str>,
    description: Option<Option<&str>>,
    now: i64,
) -> Result<Option<StreamRow>, AppError> {
    let (flag, value) = match description {
        None => (0, None),
        Some(v) => (1, v),
    };
    first(
        db,
        streams::UPDATE,
        &[opt(title), i(flag), opt(value), i(now), s(id), s(owner)],
    )
    .await
}

pub async fn end(
    db: &D1Database,
    id: &str,
    owner: &str,
    now: i64,
) -> Result<Option<StreamRow>, AppError> {
    first(db, streams::END, &[i(now), i(now), s(id), s(owner)]).await
}
