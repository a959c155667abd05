use super::{all, i, opt, run, s};
use crate::core::api::rfc3339;
use crate::core::audit::{encode_cursor, Event};
use crate::core::error::AppError;
use crate::core::sql::audit;
use crate::edge::ctx::Ctx;
use crate::edge::rand;
use serde::{Deserialize, Serialize};

/// Appends a security event for `user_id`, with the request's client details and id. A failed
/// write is logged and does not fail the user's request.
pub async fn record(ctx: &Ctx, user_id: &str, event: Event, session_id: Option<&str>) {
    let result = async {
        let id = rand::uuid()?;
        run(
            &ctx.db()?,
            audit::INSERT,
            &[
                s(&id),
                s(user_id),
                s(event.as_str()),
                opt(ctx.ip.as_deref()),
                opt(ctx.user_agent.as_deref()),
                opt(session_id),
                s(&ctx.request_id),
                i(ctx.now),
            ],
        )
        .await
    }
    .await;
    if let Err(e) = result {
        worker::console_error!(
            "{}",
            serde_json::json!({"level": "error", "msg": "audit write failed", "event": event.as_str(), "request_id": ctx.request_id, "error": e.log_json()})
        );
    }
}

#[derive(Deserialize)]
struct Row {
    seq: i64,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    ip: Option<String>,
    user_agent: Option<String>,
    session_id: Option<String>,
    request_id: Option<String>,
    created_at: i64,
}

#[derive(Serialize)]
pub struct EventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub created_at: String,
}

/// One page, newest first, and the cursor of the next page when there may be one.
pub async fn page(
    ctx: &Ctx,
    user_id: &str,
    below_seq: Option<i64>,
    limit: i64,
) -> Result<(Vec<EventView>, Option<String>), AppError> {
    let rows: Vec<Row> = all(
        &ctx.db()?,
        audit::PAGE,
        &[
            s(user_id),
            i(below_seq.unwrap_or(super::NO_CURSOR)),
            i(limit + 1),
        ],
    )
    .await?;
    let (rows, next) = super::split_page(rows, limit, |r| r.seq);
    let next = next.map(encode_cursor);
    let events = rows
        .into_iter()
        .map(|r| EventView {
            id: r.id,
            kind: r.kind,
            ip: r.ip,
            user_agent: r.user_agent,
            session_id: r.session_id,
            request_id: r.request_id,
            created_at: rfc3339(r.created_at),
        })
        .collect();
    Ok((events, next))
}
