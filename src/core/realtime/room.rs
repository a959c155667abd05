//! The chat room of a live stream as a pure state machine: a frame from a participant, the
//! room's state and the time go in; effects (broadcasts, replies, stores, closes) come out.
//! The `Room` Durable Object only decodes, applies, and performs the effects.
//!
//! Client frames (JSON, `type` + payload):
//! - `{"type":"chat.send","text":"…"}`: 1..=500 characters after trimming;
//! - `{"type":"ping"}` → `{"type":"pong"}`;
//! - owner only: `{"type":"moderation.mute","user_id":"…","seconds":60}`,
//!   `{"type":"moderation.unmute","user_id":"…"}`, `{"type":"moderation.remove","user_id":"…"}`.
//!
//! Server events (`super::Event`): `chat.history`, `chat.message`, `presence.joined`,
//! `presence.left`, `stream.updated`, `stream.ended`, `tip.received`, `moderation.muted`,
//! `moderation.removed`, `session.revoked`, `pong`, `error`.

use crate::core::ratelimit::{check, Decision, Rule};
use crate::core::realtime::event::{Event, Person};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPolicy {
    pub max_text_chars: usize,
    /// Frames a connection may send in a burst, and the refill period of that burst.
    pub flood: Rule,
    /// Frames refused for flooding before the connection is closed (1008).
    pub flood_strikes: u32,
    pub history: usize,
}

impl Default for RoomPolicy {
    fn default() -> Self {
        Self {
            max_text_chars: 500,
            flood: Rule {
                limit: 5,
                period_s: 5,
            },
            flood_strikes: 3,
            history: 50,
        }
    }
}

/// One connection's identity and flood state (kept as the WebSocket's attachment, so it
/// survives hibernation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub user_id: String,
    pub name: Option<String>,
    pub session_id: String,
    pub is_owner: bool,
    pub flood_tat_ms: Option<i64>,
    pub strikes: u32,
    /// The connection's slot under the per-user socket cap (`open_sockets`), freed on close.
    #[serde(default)]
    pub socket_id: Option<String>,
}

/// What the room knows that matters to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomView {
    pub ended: bool,
    /// Until when (ms) the sender is muted, if they are.
    pub sender_muted_until_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub author_id: String,
    pub author_name: Option<String>,
    pub text: String,
    pub time_ms: i64,
}

impl ChatMessage {
    pub fn event(&self) -> Event {
        Event::ChatMessage {
            id: self.id.clone(),
            author: Person {
                id: self.author_id.clone(),
                name: self.author_name.clone(),
            },
            text: self.text.clone(),
            time: crate::core::api::rfc3339_ms(self.time_ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// To every connection of the room, the sender's included.
    Broadcast(Event),
    /// To the sender only.
    Reply(Event),
    Store(ChatMessage),
    Mute {
        user_id: String,
        until_ms: i64,
    },
    Unmute {
        user_id: String,
    },
    /// Ban from the room and close the user's connections.
    Remove {
        user_id: String,
    },
    /// Close the sender's connection.
    Close {
        code: u16,
        reason: &'static str,
    },
}

pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_REMOVED: u16 = 4003;

fn error(code: &str, message: &str) -> Effect {
    Effect::Reply(Event::error(code, message))
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Frame {
    #[serde(rename = "chat.send")]
    Send { text: String },
    #[serde(rename = "ping")]
    Ping,
    #[serde(rename = "moderation.mute")]
    Mute { user_id: String, seconds: u32 },
    #[serde(rename = "moderation.unmute")]
    Unmute { user_id: String },
    #[serde(rename = "moderation.remove")]
    Remove { user_id: String },
}

/// Every frame, text or binary, spends the sender's flood allowance; `Some` when this one is
/// refused (an error, or the close after too many strikes).
fn flood_check(sender: &mut Participant, now_ms: i64, policy: &RoomPolicy) -> Option<Vec<Effect>> {
    match check(sender.flood_tat_ms, now_ms, policy.flood) {
        Decision::Allow { tat_ms } => {
            sender.flood_tat_ms = Some(tat_ms);
            None
        }
        Decision::Deny { retry_after_s } => {
            sender.strikes += 1;
            if sender.strikes >= policy.flood_strikes {
                return Some(vec![Effect::Close {
                    code: CLOSE_POLICY,
                    reason: "flooding",
                }]);
            }
            Some(vec![Effect::Reply(Event::Error {
                code: "rate_limited".into(),
                message: "slow down".into(),
                retry_after_s: Some(retry_after_s),
            })])
        }
    }
}

/// Applies one binary frame: the room speaks JSON text only, but a binary frame costs the
/// same flood allowance as any other, so it cannot be used to flood past the limit.
pub fn apply_binary(sender: &mut Participant, now_ms: i64, policy: &RoomPolicy) -> Vec<Effect> {
    flood_check(sender, now_ms, policy)
        .unwrap_or_else(|| vec![error("invalid_frame", "send text frames")])
}

/// May this user's words appear in the room (a chat message, or a tip's message)?
pub fn may_post(banned: bool, muted_until_ms: Option<i64>, now_ms: i64) -> bool {
    !banned && muted_until_ms.is_none_or(|t| t <= now_ms)
}

/// Applies one text frame from `sender` at `now_ms`. `new_id` names the message, should the
/// frame create one. Mutates the sender's flood state.
pub fn apply(
    sender: &mut Participant,
    room: RoomView,
    frame: &str,
    now_ms: i64,
    new_id: &str,
    policy: &RoomPolicy,
) -> Vec<Effect> {
    if let Some(refused) = flood_check(sender, now_ms, policy) {
        return refused;
    }
    let frame: Frame = match serde_json::from_str(frame) {
        Ok(f) => f,
        Err(_) => {
            return vec![error(
                "invalid_frame",
                "expected a JSON object with a known type",
            )]
        }
    };
    match frame {
        Frame::Ping => vec![Effect::Reply(Event::Pong)],
        Frame::Send { text } => {
            let text = text.trim();
            if room.ended {
                return vec![error("stream_ended", "the stream has ended")];
            }
            if room.sender_muted_until_ms.is_some_and(|t| t > now_ms) {
                return vec![error("muted", "you are muted in this room")];
            }
            let n = text.chars().count();
            if n == 0 || n > policy.max_text_chars {
                return vec![error("invalid_message", "text must be 1-500 characters")];
            }
            if text.chars().any(|c| c.is_control() && c != '\n') {
                return vec![error(
                    "invalid_message",
                    "text must not contain control characters",
                )];
            }
            let msg = ChatMessage {
                id: new_id.to_owned(),
                author_id: sender.user_id.clone(),
                author_name: sender.name.clone(),
                text: text.to_owned(),
                time_ms: now_ms,
            };
            vec![Effect::Broadcast(msg.event()), Effect::Store(msg)]
        }
        Frame::Mute { .. } | Frame::Unmute { .. } | Frame::Remove { .. } if !sender.is_owner => {
            vec![error("forbidden", "only the stream owner can moderate")]
        }
        Frame::Mute { user_id, seconds } => {
            let until_ms = now_ms + i64::from(seconds.clamp(1, 86_400)) * 1000;
            vec![
                Effect::Mute {
                    user_id: user_id.clone(),
                    until_ms,
                },
                Effect::Broadcast(Event::ModerationMuted {
                    user_id,
                    until: crate::core::api::rfc3339_ms(until_ms),
                }),
            ]
        }
        Frame::Unmute { user_id } => vec![Effect::Unmute { user_id }],
        Frame::Remove { user_id } if user_id == sender.user_id => {
            vec![error("invalid_frame", "the owner cannot remove themselves")]
        }
        Frame::Remove { user_id } => vec![
            Effect::Broadcast(Event::ModerationRemoved {
                user_id: user_id.clone(),
            }),
            Effect::Remove { user_id },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// An event as clients receive it.
    fn j(e: &Event) -> Value {
        serde_json::to_value(e).unwrap()
    }

    fn viewer() -> Participant {
        Participant {
            user_id: "u1".into(),
            name: Some("Ada".into()),
            session_id: "s1".into(),
            is_owner: false,
            flood_tat_ms: None,
            strikes: 0,
            socket_id: None,
        }
    }

    const OPEN: RoomView = RoomView {
        ended: false,
        sender_muted_until_ms: None,
    };

    fn send(p: &mut Participant, room: RoomView, text: &str, now: i64) -> Vec<Effect> {
        apply(
            p,
            room,
            &json!({"type": "chat.send", "text": text}).to_string(),
            now,
            "m1",
            &RoomPolicy::default(),
        )
    }

    #[test]
    fn a_message_is_broadcast_and_stored() {
        let fx = send(&mut viewer(), OPEN, " hello ", 1_000);
        let Effect::Broadcast(ev) = &fx[0] else {
            panic!()
        };
        assert_eq!(j(ev)["type"], "chat.message");
        assert_eq!(j(ev)["text"], "hello");
        assert_eq!(j(ev)["author"]["id"], "u1");
        assert!(matches!(&fx[1], Effect::Store(m) if m.text == "hello"));
    }

    #[test]
    fn bad_messages_get_an_error_frame_only() {
        for text in ["", "   ", &"x".repeat(501)] {
            let fx = send(&mut viewer(), OPEN, text, 0);
            assert!(
                matches!(&fx[..], [Effect::Reply(v)] if j(v)["type"] == "error"),
                "{text:?}"
            );
        }
        let fx = apply(
            &mut viewer(),
            OPEN,
            "not json",
            0,
            "m",
            &RoomPolicy::default(),
        );
        assert!(matches!(&fx[..], [Effect::Reply(v)] if j(v)["code"] == "invalid_frame"));
    }

    #[test]
    fn an_ended_room_takes_no_messages() {
        let ended = RoomView {
            ended: true,
            ..OPEN
        };
        let fx = send(&mut viewer(), ended, "hi", 0);
        assert!(matches!(&fx[..], [Effect::Reply(v)] if j(v)["code"] == "stream_ended"));
    }

    #[test]
    fn a_muted_sender_is_refused_until_the_mute_ends() {
        let muted = RoomView {
            sender_muted_until_ms: Some(5_000),
            ..OPEN
        };
        assert!(
            matches!(&send(&mut viewer(), muted, "hi", 4_999)[..], [Effect::Reply(v)] if j(v)["code"] == "muted")
        );
        assert!(matches!(
            &send(&mut viewer(), muted, "hi", 5_000)[0],
            Effect::Broadcast(_)
        ));
    }

    #[test]
    fn binary_frames_spend_the_flood_allowance_and_end_in_a_1008_close() {
        let policy = RoomPolicy::default();
        let mut p = viewer();
        let mut effects = Vec::new();
        for _ in 0..(policy.flood.limit + policy.flood_strikes) {
            effects = apply_binary(&mut p, 1_000, &policy);
        }
        assert_eq!(
            effects,
            vec![Effect::Close {
                code: CLOSE_POLICY,
                reason: "flooding"
            }]
        );
        let ping = |p: &mut Participant| apply(p, OPEN, r#"{"type":"ping"}"#, 1_000, "m", &policy);
        let (mut only_ping, mut binary_then_ping) = (viewer(), viewer());
        ping(&mut only_ping);
        apply_binary(&mut binary_then_ping, 1_000, &policy);
        assert_eq!(
            ping(&mut binary_then_ping),
            vec![Effect::Reply(Event::Pong)]
        );
        assert!(
            binary_then_ping.flood_tat_ms > only_ping.flood_tat_ms,
            "the binary frame was counted"
        );
    }

    #[test]
    fn muted_or_removed_users_may_not_post() {
        assert!(may_post(false, None, 10));
        assert!(may_post(false, Some(10), 10), "a mute that ended");
        assert!(!may_post(false, Some(11), 10));
        assert!(!may_post(true, None, 10));
    }

    #[test]
    fn flooding_gets_errors_then_a_1008_close() {
        let mut p = viewer();
        let policy = RoomPolicy::default();
        let mut closes = 0;
        let mut errors = 0;
        for _ in 0..(policy.flood.limit + policy.flood_strikes) {
            match send(&mut p, OPEN, "spam", 0).as_slice() {
                [Effect::Close { code, .. }] => {
                    assert_eq!(*code, CLOSE_POLICY);
                    closes += 1
                }
                [Effect::Reply(v)] if j(v)["code"] == "rate_limited" => errors += 1,
                _ => {}
            }
        }
        assert_eq!(errors, policy.flood_strikes - 1);
        assert_eq!(closes, 1);
    }

    #[test]
    fn only_the_owner_moderates() {
        let mute = json!({"type": "moderation.mute", "user_id": "u2", "seconds": 60}).to_string();
        let fx = apply(&mut viewer(), OPEN, &mute, 0, "m", &RoomPolicy::default());
        assert!(matches!(&fx[..], [Effect::Reply(v)] if j(v)["code"] == "forbidden"));
        let mut owner = Participant {
            is_owner: true,
            ..viewer()
        };
        let fx = apply(&mut owner, OPEN, &mute, 0, "m", &RoomPolicy::default());
        assert_eq!(
            fx[0],
            Effect::Mute {
                user_id: "u2".into(),
                until_ms: 60_000
            }
        );
        let remove = json!({"type": "moderation.remove", "user_id": "u2"}).to_string();
        let fx = apply(&mut owner, OPEN, &remove, 0, "m", &RoomPolicy::default());
        assert!(matches!(&fx[0], Effect::Broadcast(v) if j(v)["type"] == "moderation.removed"));
        assert_eq!(
            fx[1],
            Effect::Remove {
                user_id: "u2".into()
            }
        );
    }
}
