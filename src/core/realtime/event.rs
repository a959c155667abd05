//! Every event the server pushes over a WebSocket (a chat room, a user's channel), as one
//! enum: the wire format is defined here and nowhere else.
//!
//! On the wire an event is a JSON object whose `type` names it. `Event::to_json` renders it
//! with its keys sorted at every level: the form clients have always received.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user as events name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// To a socket that just joined a room: the room's latest messages (`ChatMessage`s),
    /// oldest first.
    #[serde(rename = "chat.history")]
    ChatHistory { messages: Vec<Event> },
    #[serde(rename = "chat.message")]
    ChatMessage {
        id: String,
        author: Person,
        text: String,
        /// RFC 3339 with milliseconds.
        time: String,
    },
    #[serde(rename = "presence.joined")]
    PresenceJoined { user: Person },
    #[serde(rename = "presence.left")]
    PresenceLeft { user: Person },
    #[serde(rename = "moderation.muted")]
    ModerationMuted { user_id: String, until: String },
    #[serde(rename = "moderation.removed")]
    ModerationRemoved { user_id: String },
    /// The session's sockets close right after (4001).
    #[serde(rename = "session.revoked")]
    SessionRevoked { session_id: String },
    /// `stream`: the stream as the HTTP API renders it.
    #[serde(rename = "stream.updated")]
    StreamUpdated { stream: Value },
    #[serde(rename = "stream.ended")]
    StreamEnded { stream: Value },
    /// `tip`: the tip as the HTTP API renders it.
    #[serde(rename = "tip.received")]
    TipReceived { tip: Value },
    /// `job`: the job as the HTTP API renders it.
    #[serde(rename = "job.updated")]
    JobUpdated { job: Value },
    #[serde(rename = "pong")]
    Pong,
    /// A frame of the recipient's was refused.
    #[serde(rename = "error")]
    Error {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
    },
}

/// An entity's API view as an event payload.
pub fn payload(view: &impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

impl Event {
    pub fn error(code: &str, message: &str) -> Self {
        Self::Error {
            code: code.to_owned(),
            message: message.to_owned(),
            retry_after_s: None,
        }
    }

    /// The text frame sent to clients. Rendered through `Value`, whose maps keep their keys
    /// sorted, so the bytes do not depend on field order here.
    pub fn to_json(&self) -> String {
        serde_json::to_value(self)
            .map(|v| v.to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ada() -> Person {
        Person {
            id: "u1".into(),
            name: Some("Ada".into()),
        }
    }

    fn message() -> Event {
        Event::ChatMessage {
            id: "m1".into(),
            author: ada(),
            text: "hi".into(),
            time: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    /// Each variant's exact frame: clients (and the end-to-end tests) parse these shapes.
    #[test]
    fn every_event_renders_its_pinned_frame() {
        let stream = json!({"id": "st1", "status": "live"});
        let cases: Vec<(Event, &str)> = vec![
            (
                Event::ChatHistory {
                    messages: vec![message()],
                },
                r#"{"messages":[{"author":{"id":"u1","name":"Ada"},"id":"m1","text":"hi","time":"2026-01-01T00:00:00.000Z","type":"chat.message"}],"type":"chat.history"}"#,
            ),
            (
                message(),
                r#"{"author":{"id":"u1","name":"Ada"},"id":"m1","text":"hi","time":"2026-01-01T00:00:00.000Z","type":"chat.message"}"#,
            ),
            (
                Event::PresenceJoined {
                    user: Person {
                        id: "u2".into(),
                        name: None,
                    },
                },
                r#"{"type":"presence.joined","user":{"id":"u2","name":null}}"#,
            ),
            (
                Event::PresenceLeft { user: ada() },
                r#"{"type":"presence.left","user":{"id":"u1","name":"Ada"}}"#,
            ),
            (
                Event::ModerationMuted {
                    user_id: "u2".into(),
                    until: "2026-01-01T00:01:00.000Z".into(),
                },
                r#"{"type":"moderation.muted","until":"2026-01-01T00:01:00.000Z","user_id":"u2"}"#,
            ),
            (
                Event::ModerationRemoved {
                    user_id: "u2".into(),
                },
                r#"{"type":"moderation.removed","user_id":"u2"}"#,
            ),
            (
                Event::SessionRevoked {
                    session_id: "s1".into(),
                },
                r#"{"session_id":"s1","type":"session.revoked"}"#,
            ),
            (
                Event::StreamUpdated {
                    stream: stream.clone(),
                },
                r#"{"stream":{"id":"st1","status":"live"},"type":"stream.updated"}"#,
            ),
            (
                Event::StreamEnded { stream },
                r#"{"stream":{"id":"st1","status":"live"},"type":"stream.ended"}"#,
            ),
            (
                Event::TipReceived {
                    tip: json!({"id": "t1", "amount": 5, "message": null}),
                },
                r#"{"tip":{"amount":5,"id":"t1","message":null},"type":"tip.received"}"#,
            ),
            (
                Event::JobUpdated {
                    job: json!({"id": "j1", "status": "succeeded"}),
                },
                r#"{"job":{"id":"j1","status":"succeeded"},"type":"job.updated"}"#,
            ),
            (Event::Pong, r#"{"type":"pong"}"#),
            (
                Event::error("muted", "you are muted in this room"),
                r#"{"code":"muted","message":"you are muted in this room","type":"error"}"#,
            ),
            (
                Event::Error {
                    code: "rate_limited".into(),
                    message: "slow down".into(),
                    retry_after_s: Some(2),
                },
                r#"{"code":"rate_limited","message":"slow down","retry_after_s":2,"type":"error"}"#,
            ),
        ];
        for (event, frame) in cases {
            assert_eq!(event.to_json(), frame);
            let back: Event = serde_json::from_str(frame).unwrap();
            assert_eq!(back, event, "a frame reads back as its event");
        }
    }

    #[test]
    fn the_frames_match_what_json_literals_rendered_before() {
        // The events used to be built with `json!`; the bytes must not have changed.
        let before = json!({"type": "presence.left", "user": {"id": "u1", "name": "Ada"}});
        assert_eq!(
            Event::PresenceLeft { user: ada() }.to_json(),
            before.to_string()
        );
        let before = json!({"type": "session.revoked", "session_id": "s1"});
        assert_eq!(
            Event::SessionRevoked {
                session_id: "s1".into()
            }
            .to_json(),
            before.to_string()
        );
    }
}
