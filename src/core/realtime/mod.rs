//! Realtime rules: the chat room state machine and the events pushed to clients.

pub mod event;
pub mod room;

pub use event::{payload, Event, Person};
pub use room::{
    apply, apply_binary, may_post, ChatMessage, Effect, Participant, RoomPolicy, RoomView,
};
