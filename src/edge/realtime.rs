//! Publishing to realtime channels: the one function other features call.

use crate::core::error::{AppError, Faulty};
use crate::edge::objects::user_channel::Publish;
use serde_json::{json, Value};
use worker::{Env, Method, Request, RequestInit};

async fn send(
    env: &Env,
    binding: &str,
    name: &str,
    op: &str,
    body: Option<&Value>,
) -> Result<String, AppError> {
    let ns = env.durable_object(binding).fault("realtime.send")?;
    let stub = ns
        .id_from_name(name)
        .and_then(|id| id.get_stub())
        .fault("realtime.send")?;
    let mut init = RequestInit::new();
    match body {
        Some(b) => init
            .with_method(Method::Post)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&b.to_string()))),
        None => init.with_method(Method::Get),
    };
    let req =
        Request::new_with_init(&format!("https://realtime/{op}"), &init).fault("realtime.send")?;
    let mut resp = stub.fetch_with_request(req).await.fault("realtime.send")?;
    // Always read to the end: an unread subrequest body keeps the invoking event (a scheduled
    // run, a queue batch) from finishing.
    let text = resp.text().await.fault("realtime.send")?;
    if resp.status_code() != 200 {
        return Err(AppError::fault(
            "realtime.send",
            format!("{binding} {op} answered {}", resp.status_code()),
        ));
    }
    Ok(text)
}

async fn post(env: &Env, binding: &str, name: &str, body: &Value) -> Result<(), AppError> {
    send(env, binding, name, "publish", Some(body))
        .await
        .map(|_| ())
}

/// One operation of a stream's `Room` object (`kick`, ...).
pub async fn call_room(env: &Env, stream_id: &str, op: &str, body: &Value) -> Result<(), AppError> {
    send(env, "ROOM", stream_id, op, Some(body))
        .await
        .map(|_| ())
}

/// Remembers, in the user's channel, that they joined a stream's room (for revocations).
pub async fn joined_room(env: &Env, user_id: &str, stream_id: &str) -> Result<(), AppError> {
    let body = serde_json::json!({ "stream_id": stream_id });
    send(env, "USER_CHANNEL", user_id, "rooms", Some(&body))
        .await
        .map(|_| ())
}

/// A purged account: its channel forgets the rooms it joined, and each room it wrote in keeps
/// its messages under `pseudonym`, without its name.
pub async fn forget_user(
    env: &Env,
    user_id: &str,
    pseudonym: &str,
    stream_ids: &[String],
) -> Result<(), AppError> {
    let body = serde_json::json!({"user_id": user_id, "pseudonym": pseudonym});
    let calls = stream_ids
        .iter()
        .map(|id| ("ROOM", id.as_str()))
        .chain([("USER_CHANNEL", user_id)]);
    for (binding, name) in calls {
        send(env, binding, name, "forget", Some(&body)).await?;
    }
    Ok(())
}

/// May the user's words appear in the stream's room now (not muted, not removed)?
pub async fn may_post(env: &Env, stream_id: &str, user_id: &str) -> Result<bool, AppError> {
    let op = format!("may-post?user={}", urlencode(user_id));
    let text = send(env, "ROOM", stream_id, &op, None).await?;
    let v: Value = serde_json::from_str(&text).fault("realtime.may_post")?;
    Ok(v["may_post"].as_bool().unwrap_or(false))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn logged(result: Result<(), AppError>, what: &str) {
    if let Err(e) = result {
        worker::console_error!(
            "{}",
            json!({"level": "error", "msg": "realtime publish failed", "to": what, "error": e.log_json()})
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
/// `author_id`: whose words the event carries (a tip's message), dropped if they may not post.
pub async fn to_room(
    env: &Env,
    stream_id: &str,
    event: Value,
    ended: bool,
    author_id: Option<&str>,
) {
    let body = json!({"event": event, "ended": ended, "author_id": author_id});
    logged(post(env, "ROOM", stream_id, &body).await, "room");
}
