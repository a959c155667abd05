//! External identity: providers from configuration, OAuth 2.0 / OpenID Connect sign-in, and the
//! linking rules that decide which account an external identity reaches.

pub mod flow;
pub mod id_token;
pub mod link;
pub mod oauth;
pub mod providers;
