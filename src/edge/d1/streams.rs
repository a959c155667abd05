use super::{all, first, i, opt, s, Database};
use crate::core::domain::{StreamId, UserId};
use crate::core::error::{AppError, Faulty};
use crate::core::sql::{chat_participants, streams};
use crate::core::streams::{Stream, StreamStatus};
use serde::Deserialize;
use worker::D1Database;

/// The `streams` row as D1 returns it; turned into the core `Stream` at once.
#[derive(Debug, Clone, Deserialize)]
struct StreamRow {
    /// The list position (rowid), present in list queries.
    #[serde(default)]
    seq: i64,
    id: String,
    owner_id: String,
    title: String,
    description: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
    ended_at: Option<i64>,
}

impl StreamRow {
    fn into_stream(self) -> Result<Stream, AppError> {
        Ok(Stream {
            id: StreamId::parse(&self.id).fault("d1.streams.row")?,
            owner_id: UserId::parse(&self.owner_id).fault("d1.streams.row")?,
            status: StreamStatus::parse(&self.status)
                .ok_or_else(|| AppError::fault("d1.streams.row", "unknown status"))?,
            title: self.title,
            description: self.description,
            created_at: self.created_at,
            updated_at: self.updated_at,
            ended_at: self.ended_at,
        })
    }
}

fn stream(row: Option<StreamRow>) -> Result<Option<Stream>, AppError> {
    row.map(StreamRow::into_stream).transpose()
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
pub async fn insert(db: &D1Database, n: &NewStream<'_>) -> Result<Option<Stream>, AppError> {
    let row = first(
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
    .await?;
    stream(row)
}

pub async fn by_id(db: &dyn Database, id: &str) -> Result<Option<Stream>, AppError> {
    stream(first(db, streams::BY_ID, &[s(id)]).await?)
}

/// Live streams below the cursor (a list position), with their positions.
pub async fn list_live(
    db: &dyn Database,
    below: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, Stream)>, AppError> {
    let rows: Vec<StreamRow> = all(
        db,
        streams::LIST_LIVE,
        &[i(below.unwrap_or(super::NO_CURSOR)), i(limit)],
    )
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.seq, r.into_stream()?)))
        .collect()
}

/// `description`: `None` keeps it, `Some(None)` clears it.
pub async fn update(
    db: &D1Database,
    id: &str,
    owner: &str,
    title: Option<&str>,
    description: Option<Option<&str>>,
    now: i64,
) -> Result<Option<Stream>, AppError> {
    let (flag, value) = match description {
        None => (0, None),
        Some(v) => (1, v),
    };
    let row = first(
        db,
        streams::UPDATE,
        &[opt(title), i(flag), opt(value), i(now), s(id), s(owner)],
    )
    .await?;
    stream(row)
}

pub async fn end(
    db: &D1Database,
    id: &str,
    owner: &str,
    now: i64,
) -> Result<Option<Stream>, AppError> {
    stream(first(db, streams::END, &[i(now), i(now), s(id), s(owner)]).await?)
}

/// Remembers that `user_id` joined the chat of `stream_id`, so a purge of the account can find
/// the rooms it wrote in.
pub async fn remember_participant(
    db: &D1Database,
    user_id: &str,
    stream_id: &str,
    now: i64,
) -> Result<(), AppError> {
    super::run(
        db,
        chat_participants::INSERT,
        &[s(user_id), s(stream_id), i(now)],
    )
    .await?;
    Ok(())
}
