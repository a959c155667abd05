//! `RateLimiter`: one object per (rule, client key), e.g. `login:ip:203.0.113.7`. It holds one
//! number, the GCRA theoretical arrival time (`core::ratelimit`). A Durable Object handles one
//! event at a time and the read-decide-write below has no `await` between read and write (the
//! alarm is set after), so concurrent requests of one key are counted exactly, across every
//! isolate and location.
//!
//! State expires: each allowed request sets the object's alarm to a period (at most a minute)
//! after the moment the key is back to a fresh one (`core::ratelimit::forget_at_ms`), and the
//! alarm deletes the object's storage, so the millions of addresses seen once leave nothing
//! behind.

mod storage;

use crate::core::bindings;
use crate::core::error::AppError;
use crate::core::ratelimit::{check, forget_at_ms, Decision, Rule};
use crate::edge::objects::rpc::{self, Call, Stub};
use serde::{Deserialize, Serialize};
use storage::Storage;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, ScheduledTime, State};

/// Counts one request against `limit` per `period_s`.
#[derive(Serialize, Deserialize)]
pub struct CheckReq {
    pub limit: u32,
    pub period_s: u32,
}

impl Call for CheckReq {
    const PATH: &'static str = "/check";
    type Reply = CheckResp;
}

#[derive(Serialize, Deserialize)]
pub struct CheckResp {
    pub allowed: bool,
    pub retry_after_s: u64,
}

/// The worker's handle on one limiter.
pub struct Client {
    stub: Stub,
}

impl Client {
    /// The limiter of one (rule, key), e.g. `login:ip:<digest>`, created (when new) near
    /// `location_hint` if there is one.
    pub fn named(
        env: &Env,
        name: &str,
        location_hint: Option<&str>,
    ) -> std::result::Result<Self, AppError> {
        Ok(Self {
            stub: Stub::named_near(env, bindings::RATE_LIMITER, name, location_hint)?,
        })
    }

    pub async fn check(&self, req: &CheckReq) -> std::result::Result<CheckResp, AppError> {
        self.stub.call(req).await
    }
}

#[durable_object(alarm)]
pub struct RateLimiter {
    state: State,
}

/// An alarm time as an instant: worker's `From<i64>` for `ScheduledTime` means an offset.
fn at(epoch_ms: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        epoch_ms as f64,
    )))
}

impl RateLimiter {
    fn storage(&self) -> Storage {
        Storage(self.state.storage().sql())
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() != CheckReq::PATH {
            return Response::error("not found", 404);
        }
        let body: CheckReq = rpc::decode(&mut req).await?;
        let rule = Rule {
            limit: body.limit.max(1),
            period_s: body.period_s.max(1),
        };
        let now_ms = worker::Date::now().as_millis() as i64;
        let storage = self.storage();
        let tat = storage.tat()?;
        let resp = match check(tat, now_ms, rule) {
            Decision::Allow { tat_ms } => {
                storage.set_tat(tat_ms)?;
                self.state
                    .storage()
                    .set_alarm(at(forget_at_ms(tat_ms, rule)))
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
        rpc::reply::<CheckReq>(&resp)
    }

    /// Forgets the key (a period after it is as good as fresh); a later request moved it otherwise.
    async fn alarm(&self) -> Result<Response> {
        let now_ms = worker::Date::now().as_millis() as i64;
        let storage = self.state.storage();
        match self.storage().tat()? {
            // Every allowed request moves the alarm to its own forget time, so an alarm that
            // finds the key still limiting raced one; the rule is not stored, so it comes
            // back at the arrival time and forgets then.
            Some(tat) if now_ms < tat => storage.set_alarm(at(tat)).await?,
            _ => storage.delete_all().await?,
        }
        Response::ok("")
    }
}
