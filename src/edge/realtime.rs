//! Publishing to realtime channels: the functions other features call. Events are
//! `core::realtime::Event`; delivery goes through the objects' clients.

use crate::core::error::AppError;
use crate::core::realtime::Event;
use crate::edge::objects::{room, user_channel};
use serde_json::json;
use worker::Env;

/// Remembers, in the user's channel, that they joined a stream's room (for revocations).
pub async fn joined_room(env: &Env, user_id: &str, stream_id: &str) -> Result<(), AppError> {
    user_channel::Client::for_user(env, user_id)?
        .joined(stream_id)
        .await
}

/// A purged account: its channel forgets the rooms it joined, and each room it wrote in keeps
/// its messages under `pseudonym`, without its name.
pub async fn forget_user(
    env: &Env,
    user_id: &str,
    pseudonym: &str,
    stream_ids: &[String],
) -> Result<(), AppError> {
    let forget = room::Forget {
        user_id: user_id.to_owned(),
        pseudonym: pseudonym.to_owned(),
    };
    for stream_id in stream_ids {
        room::Client::for_stream(env, stream_id)?
            .forget(&forget)
            .await?;
    }
    user_channel::Client::for_user(env, user_id)?.forget().await
}

/// May the user's words appear in the stream's room now (not muted, not removed)?
pub async fn may_post(env: &Env, stream_id: &str, user_id: &str) -> Result<bool, AppError> {
    room::Client::for_stream(env, stream_id)?
        .may_post(user_id)
        .await
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
pub async fn to_user(env: &Env, user_id: &str, event: Event, close_session: Option<&str>) {
    let publish = user_channel::Publish {
        event,
        close_session: close_session.map(str::to_owned),
    };
    let sent = match user_channel::Client::for_user(env, user_id) {
        Ok(channel) => channel.publish(&publish).await,
        Err(e) => Err(e),
    };
    logged(sent, "user");
}

/// Broadcasts `event` in a stream's room; `ended` also closes the room for new messages.
/// `author_id`: whose words the event carries (a tip's message), dropped if they may not post.
pub async fn to_room(
    env: &Env,
    stream_id: &str,
    event: Event,
    ended: bool,
    author_id: Option<&str>,
) {
    let publish = room::Publish {
        event,
        ended,
        author_id: author_id.map(str::to_owned),
    };
    let sent = match room::Client::for_stream(env, stream_id) {
        Ok(room) => room.publish(&publish).await,
        Err(e) => Err(e),
    };
    logged(sent, "room");
}
