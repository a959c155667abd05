//! The JSON shapes of API.md, built from domain data. Timestamps are RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

pub fn rfc3339(unix_s: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_s, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Milliseconds, for realtime events where order within a second matters.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub status: &'static str,
    pub email_verified: bool,
    pub created_at: String,
    pub version: i64,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub avatar_url: Option<String>,
    pub deletion_due_at: Option<String>,
}

/// A user as an administrator sees it: the account and its global role.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub role: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub session_id: String,
    pub user: UserView,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: String,
    pub last_used_at: String,
    pub current: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }
}
