//! Durable Object shells. Rules live in `core`; these decode, apply, and perform effects. Each
//! object's SQL runs only in its `storage` module; the worker reaches an object only through
//! its typed `Client` (`rpc`).

pub mod rate_limiter;
pub mod room;
pub mod rpc;
pub mod user_channel;
pub mod user_sessions;
