//! The limiter's storage: the only code of the object that runs SQL
//! (`core::sql::objects::rate_limiter`).

use crate::core::sql::objects::rate_limiter as q;
use serde::Deserialize;
use worker::{Result, SqlStorage};

pub struct Storage(pub SqlStorage);

#[derive(Deserialize)]
struct TatRow {
    tat: i64,
}

impl Storage {
    /// The stored arrival time; the table is made on demand, since expiry deletes it.
    pub fn tat(&self) -> Result<Option<i64>> {
        self.0.exec(q::SCHEMA, None)?;
        Ok(self
            .0
            .exec(q::TAT, None)?
            .to_array::<TatRow>()?
            .into_iter()
            .next()
            .map(|r| r.tat))
    }

    pub fn set_tat(&self, tat_ms: i64) -> Result<()> {
        self.0.exec(q::SET_TAT, vec![tat_ms.into()])?;
        Ok(())
    }
}
