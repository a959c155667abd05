//! D1 read replication per request (`D1_READ_REPLICATION=on`; the rules are
//! `core::replication`): a replica route's reads go through a D1 session that starts at the
//! client's `x-d1-bookmark` (or on any replica without one), and every D1 route's answer
//! carries the newest bookmark the client should send back next. With the mode off none of
//! this runs: no session, no header read or written.

use crate::core::error::{AppError, Faulty};
use crate::core::replication::{access, parse_bookmark, D1Access, ReadReplication};
use crate::core::routes::Route;
use crate::edge::ctx::Ctx;
use crate::edge::d1;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Request, Response};

pub use crate::core::replication::BOOKMARK_HEADER;

/// What a request's answer owes the client: its class and the bookmark it sent.
pub struct Plan {
    access: D1Access,
    sent: Option<String>,
}

/// Reads the request's bookmark (a malformed one is a 400 before the route runs) and, on a
/// replica route, opens the request's D1 session in `ctx`. `None` with the mode off.
pub fn begin(req: &Request, ctx: &mut Ctx, route: Route) -> Result<Option<Plan>, AppError> {
    if ctx.cfg.read_replication == ReadReplication::Off {
        return Ok(None);
    }
    let header = req.headers().get(BOOKMARK_HEADER).ok().flatten();
    let sent = parse_bookmark(header.as_deref())
        .map_err(AppError::InvalidRequest)?
        .map(str::to_owned);
    let access = access(route);
    if access == D1Access::Replica {
        // No bookmark: the first read may go to any replica (D1's `first-unconstrained`).
        let start = sent.as_deref().unwrap_or("first-unconstrained");
        let session = ctx
            .db()?
            .with_session(Some(start))
            .fault("replication.begin")?;
        ctx.replica = Some(Rc::new(RefCell::new(Rc::new(session))));
    }
    Ok(Some(Plan { access, sent }))
}

impl Plan {
    /// The bookmark of the answer: a replica route's session's newest; after a successful
    /// write route, the primary's (one more primary read, the cost of read-your-writes);
    /// otherwise the one the client sent, since nothing new was written for it to wait for.
    pub async fn bookmark(self, ctx: &Ctx, result: &Result<Response, AppError>) -> Option<String> {
        let succeeded = matches!(result, Ok(r) if (200..400).contains(&r.status_code()));
        let newest = match self.access {
            D1Access::Replica => ctx
                .replica
                .as_ref()
                .and_then(|slot| slot.borrow().get_bookmark().ok().flatten()),
            // A refused write (4xx, 429 included) costs D1 nothing more.
            D1Access::PrimaryWrite if succeeded => {
                match primary_bookmark(ctx).await {
                    Ok(b) => b,
                    Err(e) => {
                        // The write succeeded; only read-your-writes of the next read is lost.
                        worker::console_error!(
                            "{}",
                            serde_json::json!({"level": "error", "msg": "no primary bookmark", "request_id": ctx.request_id, "error": e.log_json()})
                        );
                        None
                    }
                }
            }
            D1Access::PrimaryWrite | D1Access::PrimaryWriteUndisclosed | D1Access::PrimaryRead => {
                None
            }
        };
        // Only a value the next request may send back (D1's format is opaque to us).
        newest
            .filter(|b| parse_bookmark(Some(b)).is_ok_and(|v| v.is_some()))
            .or(self.sent)
    }
}

async fn primary_bookmark(ctx: &Ctx) -> Result<Option<String>, AppError> {
    d1::primary_bookmark(&ctx.db()?).await
}
