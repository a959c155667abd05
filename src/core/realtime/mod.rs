//! Realtime rules: the chat room state machine and the event shapes pushed to clients.

pub mod room;

pub use room::{
    apply, apply_binary, may_post, ChatMessage, Effect, Participant, RoomPolicy, RoomView,
};
