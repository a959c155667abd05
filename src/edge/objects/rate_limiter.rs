//! `RateLimiter`: one object per (rule, client key), e.g. `login:ip:203.0.113.7`. It holds one
//! number, the GCRA theoretical arrival time (`core::ratelimit`). A Durable Object handles one
//! event at a time and the read-decide-write below has no `await`, so concurrent requests of
//! one key are counted exactly, across every isolate and location.

use crate::core::ratelimit::{check, Decision, Rule};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

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

#[durable_object(fetch)]
pub struct RateLimiter {
    state: State,
}

#[derive(Deserialize)]
struct TatRow {
    tat: i64,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS bucket (k INTEGER PRIMARY KEY CHECK (k = 1), tat INTEGER NOT NULL)",
            None,
        );
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
        let tat = sql
            .exec("SELECT tat FROM bucket WHERE k = 1", None)?
            .to_array::<TatRow>()?
            .into_iter()
            .next()
            .map(|r| r.tat);
        let resp = match check(tat, now_ms, rule) {
            Decision::Allow { tat_ms } => {
                sql.exec(
                    "INSERT INTO bucket (k, tat) VALUES (1, ?) ON CONFLICT (k) DO UPDATE SET tat = excluded.tat",
                    vec![tat_ms.into()],
                )?;
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
}
