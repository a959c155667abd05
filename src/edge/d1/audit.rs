use super::{all, i, opt, run, s};
use crate::core::admin::Actor;
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
    record_by(ctx, user_id, event, session_id, None).await
}

/// `record`, for an action someone else took on `user_id`'s account: the actor is kept with
/// the event (an administrator's id, or a service API key's).
pub async fn record_by(
    ctx: &Ctx,
    user_id: &str,
    event: Event,
    session_id: Option<&str>,
    actor: Option<&Actor>,
) {
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
                opt(actor.map(Actor::kind)),
                opt(actor.map(Actor::id)),
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
    actor_type: Option<String>,
    actor_id: Option<String>,
}

/// Who acted on the account, when it was not its owner.
#[derive(Serialize)]
pub struct ActorView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
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
    /// Present only for an administrator's action on this account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<ActorView>,
}

/// One page, newest first, and the cursor of the next page when there may be one.
pub async fn page(
    ctx: &Ctx,
    user_id: &str,
    below_seq: Option<i64>,
    limit: i64,
) -> Result<(Vec<EventView>, Option<String>), AppError> {
    let rows: Vec<Row> = all(
        &ctx.reads()?,
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
            actor: r
                .actor_type
                .zip(r.actor_id)
                .map(|(kind, id)| ActorView { kind, id }),
        })
        .collect();
    Ok((events, next))
}
