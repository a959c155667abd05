//! Publishing to realtime channels: the one function other features call.

use crate::core::error::AppError;
use crate::edge::objects::user_channel::Publish;
use serde_json::{json, Value};
use worker::{Env, Method, Request, RequestInit};

async fn post(env: &Env, binding: &str, name: &str, body: &Value) -> Result<(), AppError> {
    let ns = env.durable_object(binding).map_err(AppError::unexpected)?;
    let stub = ns
        .id_from_name(name)
        .and_then(|id| id.get_stub())
        .map_err(AppError::unexpected)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(wasm_bindgen::JsValue::from_str(&body.to_string())));
    let req =
        Request::new_with_init("https://realtime/publish", &init).map_err(AppError::unexpected)?;
    stub.fetch_with_request(req)
        .await
        .map_err(AppError::unexpected)?;
    Ok(())
}

fn logged(result: Result<(), AppError>, what: &str) {
    if let Err(e) = result {
        worker::console_error!(
            "{}",
            json!({"level": "error", "msg": "realtime publish failed", "to": what, "error": e.to_string()})
        );
    }
}

/// Pushes `event` to every connected device of `user_id`; with `close_session`, only to that
/// session's sockets, which are then closed (4001). Best effort: realtime delivery never fails
/// the operation that caused it.
pub async fn to_user(env: &Env, user_id: &str, event: Value, close_session: Option<&str>) {
    let body = serde_json::to_value(Publish {
        event,
        close_session: close_session.map(str::to_owned),
    })
    .unwrap_or_default();
    logged(post(env, "USER_CHANNEL", user_id, &body).await, "user");
}

/// Broadcasts `event` in a stream's room; `ended` also closes the room for new messages.
pub async fn to_room(env: &Env, stream_id: &str, event: Value, ended: bool) {
    let body = json!({"event": event, "ended": ended});
    logged(post(env, "ROOM", stream_id, &body).await, "room");
}
