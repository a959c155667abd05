//! The room's storage: the only code of the object that runs SQL
//! (`core::sql::objects::room`).

use crate::core::realtime::ChatMessage;
use crate::core::sql::objects::room as q;
use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

pub struct Storage(pub SqlStorage);

#[derive(Deserialize)]
struct MessageRow {
    id: String,
    author_id: String,
    author_name: Option<String>,
    text: String,
    time_ms: i64,
}

/// Where a frame's sender stands in the room: `SENDER_STANDING`'s one row.
#[derive(Deserialize)]
pub struct Standing {
    pub revoked: i64,
    pub banned: i64,
    pub ended: i64,
    pub muted_until_ms: Option<i64>,
}

impl Storage {
    pub fn create(&self) -> Result<()> {
        self.0.exec(q::SCHEMA, None)?;
        Ok(())
    }

    /// Does `sql` with `arg` find a row?
    fn any(&self, sql: &str, arg: &str) -> Result<bool> {
        Ok(!self
            .0
            .exec(sql, vec![arg.into()])?
            .to_array::<serde::de::IgnoredAny>()?
            .is_empty())
    }

    /// Stores a message and keeps the newest `keep`.
    pub fn store(&self, m: ChatMessage, keep: usize) -> Result<()> {
        self.0.exec(
            q::INSERT_MESSAGE,
            vec![
                m.id.into(),
                m.author_id.into(),
                m.author_name
                    .map(Into::into)
                    .unwrap_or(SqlStorageValue::Null),
                m.text.into(),
                m.time_ms.into(),
            ],
        )?;
        self.0.exec(q::TRIM_MESSAGES, vec![(keep as i64).into()])?;
        Ok(())
    }

    /// The newest `n` messages, oldest first.
    pub fn history(&self, n: usize) -> Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = self
            .0
            .exec(q::HISTORY, vec![(n as i64).into()])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| ChatMessage {
                id: r.id,
                author_id: r.author_id,
                author_name: r.author_name,
                text: r.text,
                time_ms: r.time_ms,
            })
            .collect())
    }

    /// A purged account: its messages stay under `pseudonym`, its mute and ban go.
    pub fn forget_user(&self, user_id: &str, pseudonym: &str) -> Result<()> {
        self.0.exec(
            q::PSEUDONYMISE_AUTHOR,
            vec![pseudonym.into(), user_id.into()],
        )?;
        self.0.exec(q::UNMUTE, vec![user_id.into()])?;
        self.0.exec(q::UNBAN, vec![user_id.into()])?;
        Ok(())
    }

    pub fn mute(&self, user_id: &str, until_ms: i64) -> Result<()> {
        self.0
            .exec(q::MUTE, vec![user_id.into(), until_ms.into()])?;
        Ok(())
    }

    pub fn unmute(&self, user_id: &str) -> Result<()> {
        self.0.exec(q::UNMUTE, vec![user_id.into()])?;
        Ok(())
    }

    pub fn muted_until(&self, user_id: &str) -> Result<Option<i64>> {
        #[derive(Deserialize)]
        struct Muted {
            until_ms: i64,
        }
        Ok(self
            .0
            .exec(q::MUTED_UNTIL, vec![user_id.into()])?
            .to_array::<Muted>()?
            .first()
            .map(|m| m.until_ms))
    }

    pub fn ban(&self, user_id: &str) -> Result<()> {
        self.0.exec(q::BAN, vec![user_id.into()])?;
        Ok(())
    }

    pub fn is_banned(&self, user_id: &str) -> Result<bool> {
        self.any(q::IS_BANNED, user_id)
    }

    pub fn set_ended(&self) -> Result<()> {
        self.0.exec(q::SET_ENDED, None)?;
        Ok(())
    }

    /// Remembers a revoked session at `now_ms`, forgetting those older than `memory_ms`.
    pub fn remember_revoked(&self, session_id: &str, now_ms: i64, memory_ms: i64) -> Result<()> {
        self.0
            .exec(q::REMEMBER_REVOKED, vec![session_id.into(), now_ms.into()])?;
        self.0
            .exec(q::FORGET_REVOKED_BEFORE, vec![(now_ms - memory_ms).into()])?;
        Ok(())
    }

    /// The revocation, ban, end of stream and mute a frame from `session_id` of `user_id` is
    /// checked against, read in one statement.
    pub fn standing(&self, session_id: &str, user_id: &str) -> Result<Standing> {
        self.0
            .exec(
                q::SENDER_STANDING,
                vec![session_id.into(), user_id.into(), user_id.into()],
            )?
            .one()
    }

    pub fn is_revoked(&self, session_id: &str) -> Result<bool> {
        self.any(q::IS_REVOKED, session_id)
    }
}
