//! Realtime rules: the chat room state machine and the event shapes pushed to clients.

pub mod room;

pub use room::{apply, ChatMessage, Effect, Participant, RoomPolicy, RoomView};
