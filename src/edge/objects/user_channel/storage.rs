//! The channel's storage: the only code of the object that runs SQL
//! (`core::sql::objects::user_channel`).

use crate::core::sql::objects::user_channel as q;
use serde::Deserialize;
use worker::{Result, SqlStorage};

pub struct Storage(pub SqlStorage);

impl Storage {
    pub fn create(&self) -> Result<()> {
        self.0.exec(q::SCHEMA, None)?;
        Ok(())
    }

    /// Remembers a joined room, keeping the `keep` most recent.
    pub fn joined(&self, stream_id: &str, now_ms: i64, keep: i64) -> Result<()> {
        self.0
            .exec(q::JOINED, vec![stream_id.into(), now_ms.into()])?;
        self.0.exec(q::TRIM, vec![keep.into()])?;
        Ok(())
    }

    pub fn rooms(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Room {
            stream_id: String,
        }
        Ok(self
            .0
            .exec(q::ROOMS, None)?
            .to_array::<Room>()?
            .into_iter()
            .map(|r| r.stream_id)
            .collect())
    }

    pub fn forget_all(&self) -> Result<()> {
        self.0.exec(q::FORGET_ALL, None)?;
        Ok(())
    }
}
