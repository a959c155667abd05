//! The two auth cookies of cookie mode, and which credential a request is authenticated by.
//!
//! `__Host-` pins the access cookie to this exact host, `Path=/` and `Secure` (no subdomain can
//! set or shadow it); `__Secure-` lets the refresh cookie be limited to `/v1/auth`, so it travels
//! only to the endpoints that rotate or end a session. Both are `HttpOnly`: page scripts, and so
//! an XSS, never read them.

use crate::core::error::AppError;

pub const ACCESS_COOKIE: &str = "__Host-ew_access";
pub const REFRESH_COOKIE: &str = "__Secure-ew_refresh";
/// Where the refresh cookie is sent: refresh and logout live under it.
pub const REFRESH_COOKIE_PATH: &str = "/v1/auth";

/// How a login-like endpoint hands over the session: tokens in the body (bearer) or cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Bearer,
    Cookie,
}

impl Mode {
    /// The `mode` field of a login-like body; absent means bearer.
    pub fn parse(mode: Option<&str>) -> Result<Self, AppError> {
        match mode {
            None | Some("bearer") => Ok(Self::Bearer),
            Some("cookie") => Ok(Self::Cookie),
            Some(_) => Err(AppError::InvalidRequest(
                "mode must be bearer or cookie".into(),
            )),
        }
    }
}

/// Cookie values we set are tokens of URL-safe base64 and dots; anything else would need
/// quoting and is a bug upstream.
fn cookie_safe(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `Set-Cookie` of the access token, living as long as the token.
pub fn access_cookie(token: &str, max_age_s: i64) -> Result<String, AppError> {
    if !cookie_safe(token) {
        return Err(AppError::fault(
            "cookies.access_cookie",
            "the access token is not cookie-safe",
        ));
    }
    Ok(format!(
        "{ACCESS_COOKIE}={token}; Max-Age={}; Path=/; Secure; HttpOnly; SameSite=Lax",
        max_age_s.max(0)
    ))
}

/// `Set-Cookie` of the refresh token. `SameSite=Strict`: no cross-site request, not even a
/// top-level navigation, carries it.
pub fn refresh_cookie(token: &str, max_age_s: i64) -> Result<String, AppError> {
    if !cookie_safe(token) {
        return Err(AppError::fault(
            "cookies.refresh_cookie",
            "the refresh token is not cookie-safe",
        ));
    }
    Ok(format!(
        "{REFRESH_COOKIE}={token}; Max-Age={}; Path={REFRESH_COOKIE_PATH}; Secure; HttpOnly; SameSite=Strict",
        max_age_s.max(0)
    ))
}

/// The two `Set-Cookie` values that delete both cookies (same name, path and prefix
/// attributes, `Max-Age=0`).
pub fn cleared() -> [String; 2] {
    [
        format!("{ACCESS_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"),
        format!(
            "{REFRESH_COOKIE}=; Max-Age=0; Path={REFRESH_COOKIE_PATH}; Secure; HttpOnly; SameSite=Strict"
        ),
    ]
}

/// The value of cookie `name` in a `Cookie` request header (RFC 6265 section 5.4: `; `-separated
/// pairs). The first occurrence wins, as browsers send the most specific path first; empty
/// values count as absent.
pub fn read<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Where the access token of a request came from. A cookie-authenticated unsafe request must
/// pass the CSRF checks; a bearer one need not (no browser attaches it by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Bearer,
    Cookie,
}

/// The access token a request presents. An `Authorization` header always wins, even a
/// malformed one (then there is no credential: 401), so a cookie never silently stands in for
/// a bearer token the client meant to send.
pub fn credential<'a>(
    authorization: Option<&'a str>,
    cookie_header: Option<&'a str>,
) -> Option<(&'a str, Source)> {
    match authorization {
        Some(value) => bearer_token(value).map(|t| (t, Source::Bearer)),
        None => cookie_header
            .and_then(|c| read(c, ACCESS_COOKIE))
            .map(|t| (t, Source::Cookie)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_cookie_is_host_prefixed_http_only_secure_lax_at_root() {
        let c = access_cookie("a.b-c_d", 900).unwrap();
        assert_eq!(
            c,
            "__Host-ew_access=a.b-c_d; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn the_refresh_cookie_is_strict_and_limited_to_the_auth_endpoints() {
        let c = refresh_cookie("u.tok", 2_592_000).unwrap();
        assert_eq!(
            c,
            "__Secure-ew_refresh=u.tok; Max-Age=2592000; Path=/v1/auth; Secure; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn clearing_keeps_name_path_and_prefix_attributes_with_max_age_zero() {
        let [a, r] = cleared();
        assert!(a.starts_with("__Host-ew_access=; Max-Age=0; Path=/;"));
        assert!(r.starts_with("__Secure-ew_refresh=; Max-Age=0; Path=/v1/auth;"));
        assert!(a.contains("Secure") && r.contains("Secure"));
    }

    #[test]
    fn values_that_would_break_the_header_are_refused() {
        assert!(access_cookie("a;b", 1).is_err());
        assert!(refresh_cookie("a b", 1).is_err());
        assert!(access_cookie("", 1).is_err());
        assert!(access_cookie("ok", -5).unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let h = "theme=dark; __Host-ew_access=tok1;__Secure-ew_refresh=r.1 ; x__Host-ew_access=no";
        assert_eq!(read(h, ACCESS_COOKIE), Some("tok1"));
        assert_eq!(read(h, REFRESH_COOKIE), Some("r.1"));
        assert_eq!(read(h, "missing"), None);
        assert_eq!(read("__Host-ew_access=", ACCESS_COOKIE), None);
        assert_eq!(read("", ACCESS_COOKIE), None);
    }

    #[test]
    fn bearer_wins_over_the_cookie_and_a_bad_header_is_no_credential() {
        let cookie = Some("__Host-ew_access=cookie-token");
        assert_eq!(
            credential(Some("Bearer header-token"), cookie),
            Some(("header-token", Source::Bearer))
        );
        assert_eq!(
            credential(Some("bearer  t2 "), None),
            Some(("t2", Source::Bearer))
        );
        assert_eq!(credential(Some("Basic abc"), cookie), None);
        assert_eq!(credential(Some("Bearer "), cookie), None);
        assert_eq!(
            credential(None, cookie),
            Some(("cookie-token", Source::Cookie))
        );
        assert_eq!(credential(None, Some("other=1")), None);
        assert_eq!(credential(None, None), None);
    }

    #[test]
    fn the_mode_is_bearer_unless_cookie_is_asked_for() {
        assert_eq!(Mode::parse(None).unwrap(), Mode::Bearer);
        assert_eq!(Mode::parse(Some("bearer")).unwrap(), Mode::Bearer);
        assert_eq!(Mode::parse(Some("cookie")).unwrap(), Mode::Cookie);
        assert_eq!(
            Mode::parse(Some("Cookie")).unwrap_err().code(),
            "invalid_request"
        );
    }
}
