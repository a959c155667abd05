//! Durable Object shells. Rules live in `core`; these decode, apply, and perform effects.

pub mod rate_limiter;
pub mod room;
pub mod user_channel;
pub mod user_sessions;
