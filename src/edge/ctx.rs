//! Per-request context: configuration (parsed once per isolate), time, request id, client.

use crate::core::config::{vars, Config};
use crate::core::error::{AppError, Faulty};
use crate::edge::d1::Reads;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Context, D1DatabaseSession, Date, Env, Request};

thread_local! {
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

/// The configuration of this isolate. Env does not change during an isolate's life, so it is
/// parsed once; an invalid configuration is an error on every request (logged), not a panic.
pub fn config(env: &Env) -> Result<Rc<Config>, AppError> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let lookup = |k: &str| -> Option<String> {
        let provider_secret = k.starts_with("AUTH_PROVIDER_") && k.ends_with("_SECRET");
        if k == vars::JWT_SIGNING_KEYS
            || k == vars::EMAIL_API_KEY
            || k == vars::KEY_ENCRYPTION_KEY
            || provider_secret
        {
            env.secret(k).ok().map(|s| s.to_string())
        } else {
            env.var(k).ok().map(|v| v.to_string())
        }
    };
    let cfg = Rc::new(Config::from_lookup(lookup).fault("ctx.config")?);
    CONFIG.with(|c| *c.borrow_mut() = Some(cfg.clone()));
    Ok(cfg)
}

pub fn now_s() -> i64 {
    (Date::now().as_millis() / 1000) as i64
}

#[derive(Clone)]
pub struct Ctx {
    pub env: Env,
    pub cfg: Rc<Config>,
    pub request_id: String,
    pub now: i64,
    /// `CF-Connecting-IP` only: `X-Forwarded-For` is client-controlled.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The invocation, for work that may finish after the response (`background`).
    invocation: Rc<Context>,
    /// The D1 session this request's reads go through: only on a replica route with
    /// `D1_READ_REPLICATION=on` (`edge::replication`), else every read is on the primary.
    /// Shared with the router, which answers with the session's bookmark; replaced when a
    /// read must reach the primary after all (`pin_primary`).
    pub(crate) replica: Option<Rc<RefCell<Rc<D1DatabaseSession>>>>,
}

impl Ctx {
    pub fn new(
        req: &Request,
        env: Env,
        request_id: &str,
        invocation: Rc<Context>,
    ) -> Result<Self, AppError> {
        let cfg = config(&env)?;
        let header = |name: &str| {
            req.headers()
                .get(name)
                .ok()
                .flatten()
                .map(|v| v.chars().take(512).collect::<String>())
                .filter(|v| !v.is_empty())
        };
        Ok(Self {
            env,
            cfg,
            request_id: request_id.to_owned(),
            now: now_s(),
            ip: header("cf-connecting-ip"),
            user_agent: header("user-agent"),
            invocation,
            replica: None,
        })
    }

    /// Runs `work` after the response has gone out (a failure is logged). Used where the
    /// answer must not depend, in content or in timing, on what the work finds.
    pub fn background(
        &self,
        what: &'static str,
        work: impl std::future::Future<Output = Result<(), AppError>> + 'static,
    ) {
        let request_id = self.request_id.clone();
        self.invocation.wait_until(async move {
            if let Err(e) = work.await {
                worker::console_error!(
                    "{}",
                    serde_json::json!({"level": "error", "msg": "background work failed", "work": what, "request_id": request_id, "error": e.log_json()})
                );
            }
        });
    }

    /// D1's plain binding: every query on the primary. Writes, and reads that must see the
    /// latest row, take this.
    pub fn db(&self) -> Result<worker::D1Database, AppError> {
        self.env.d1(crate::core::bindings::DB).fault("ctx.db")
    }

    /// Where this request's reads go: its D1 session on a replica route with read replication
    /// on, else the primary. Only reads a replica may answer take this (`core::replication`).
    pub fn reads(&self) -> Result<Reads, AppError> {
        match &self.replica {
            Some(slot) => Ok(Reads::Replica(slot.borrow().clone())),
            None => Ok(Reads::Primary(self.db()?)),
        }
    }

    /// The reads of the rest of this request go to the primary first: a replica route's
    /// session is replaced by one whose first query is on the primary (its bookmark then
    /// covers everything the primary had, so the answer's bookmark does too).
    pub fn pin_primary(&self) -> Result<Reads, AppError> {
        let Some(slot) = &self.replica else {
            return Ok(Reads::Primary(self.db()?));
        };
        let session = self
            .db()?
            .with_session(Some("first-primary"))
            .fault("ctx.pin_primary")?;
        *slot.borrow_mut() = Rc::new(session);
        self.reads()
    }
}
