//! The pure core: domain rules with no I/O, no clock and no randomness of its own. Time and
//! random bytes are inputs. Nothing here may depend on `worker`.

pub mod account;
pub mod admin;
pub mod api;
pub mod audit;
pub mod bindings;
pub mod browser;
pub mod caps;
pub mod config;
pub mod credits;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod hash_gate;
pub mod idp;
pub mod jobs;
pub mod keyseal;
pub mod lockout;
pub mod login_key;
pub mod mail;
pub mod mfa;
pub mod password;
pub mod password_policy;
pub mod preferences;
pub mod profile;
pub mod ratelimit;
pub mod realtime;
pub mod referral;
pub mod rotation;
pub mod routes;
pub mod session;
pub mod siwe;
pub mod sql;
pub mod streams;
pub mod token;
pub mod workspaces;
