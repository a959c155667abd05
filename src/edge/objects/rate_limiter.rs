//! `RateLimiter`: one object per (rule, client key), e.g. `login:ip:203.0.113.7`. It holds one
//! number, the GCRA theoretical arrival time (`core::ratelimit`). A Durable Object handles one
//! event at a time and the read-decide-write below has no `await` between read and write (the
//! alarm is set after), so concurrent requests of one key are counted exactly, across every
//! isolate and location.
//!
//! State expires: each allowed request sets the object's alarm to the moment the key is back to
//! a fresh one (`core::ratelimit::forget_at_ms`), and the alarm deletes the object's storage, so
//! the millions of addresses seen once leave nothing behind.

use crate::core::ratelimit::{check, forget_at_ms, Decision, Rule};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, ScheduledTime, SqlStorage, State,
};

#[derive(Serialize, Deserialize)]
pub struct CheckReq {
    pub limit: u32,
    pub period_s: u32,
}

#[derive(Serialize, Deserialize)]
pub struct CheckResp {
    pub allowed: bool,
    pub retry_after_s: u64,
}

#[durable_object(alarm)]
pub struct RateLimiter {
    state: State,
}

#[derive(Deserialize)]
struct TatRow {
    tat: i64,
}

/// An alarm time as an instant: worker's `From<i64>` for `ScheduledTime` means an offset.
fn at(epoch_ms: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        epoch_ms as f64,
    )))
}

impl RateLimiter {
    /// The stored arrival time; the table is made on demand, since expiry deletes it.
    fn tat(&self, sql: &SqlStorage) -> Result<Option<i64>> {
        sql.exec(
            "CREATE TABLE IF NOT EXISTS bucket (k INTEGER PRIMARY KEY CHECK (k = 1), tat INTEGER NOT NULL)",
            None,
        )?;
        Ok(sql
            .exec("SELECT tat FROM bucket WHERE k = 1", None)?
            .to_array::<TatRow>()?
            .into_iter()
            .next()
            .map(|r| r.tat))
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let body: CheckReq = req.json().await?;
        let rule = Rule {
            limit: body.limit.max(1),
            period_s: body.period_s.max(1),
        };
        let now_ms = worker::Date::now().as_millis() as i64;
        let sql = self.state.storage().sql();
        let tat = self.tat(&sql)?;
        let resp = match check(tat, now_ms, rule) {
            Decision::Allow { tat_ms } => {
                sql.exec(
                    "INSERT INTO bucket (k, tat) VALUES (1, ?) ON CONFLICT (k) DO UPDATE SET tat = excluded.tat",
                    vec![tat_ms.into()],
                )?;
                self.state
                    .storage()
                    .set_alarm(at(forget_at_ms(tat_ms)))
                    .await?;
                CheckResp {
                    allowed: true,
                    retry_after_s: 0,
                }
            }
            Decision::Deny { retry_after_s } => CheckResp {
                allowed: false,
                retry_after_s,
            },
        };
        Response::from_json(&resp)
    }

    /// Forgets the key once it is as good as fresh; a later request re-armed it otherwise.
    async fn alarm(&self) -> Result<Response> {
        let now_ms = worker::Date::now().as_millis() as i64;
        let storage = self.state.storage();
        match self.tat(&storage.sql())? {
            Some(tat) if now_ms < forget_at_ms(tat) => {
                storage.set_alarm(at(forget_at_ms(tat))).await?
            }
            _ => storage.delete_all().await?,
        }
        Response::ok("")
    }
}
