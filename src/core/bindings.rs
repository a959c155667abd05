//! The names of the Worker's bindings, as `wrangler.toml` declares them. Code asks `Env` for a
//! binding only through these constants; a test checks each is declared.

/// The D1 database.
pub const DB: &str = "DB";

/// The static assets (`[assets]`): the `/docs` page and the OpenAPI document.
pub const ASSETS: &str = "ASSETS";

/// Queue producers.
pub const EMAIL_QUEUE: &str = "EMAIL";
pub const JOBS_QUEUE: &str = "JOBS";
pub const JOBS_DLQ: &str = "JOBS_DLQ";

/// Durable Object namespaces.
pub const USER_SESSIONS: &str = "USER_SESSIONS";
pub const RATE_LIMITER: &str = "RATE_LIMITER";
pub const ROOM: &str = "ROOM";
pub const USER_CHANNEL: &str = "USER_CHANNEL";

#[cfg(test)]
mod tests {
    use super::*;

    const WRANGLER: &str = include_str!("../../wrangler.toml");

    #[test]
    fn every_binding_is_declared_in_wrangler_toml() {
        for name in [DB, ASSETS, EMAIL_QUEUE, JOBS_QUEUE, JOBS_DLQ] {
            assert!(
                WRANGLER.contains(&format!("binding = \"{name}\"")),
                "{name} is not a binding in wrangler.toml"
            );
        }
        for name in [USER_SESSIONS, RATE_LIMITER, ROOM, USER_CHANNEL] {
            assert!(
                WRANGLER.contains(&format!("{{ name = \"{name}\", class_name = ")),
                "{name} is not a Durable Object binding in wrangler.toml"
            );
        }
    }
}
