//! CORS (Fetch standard): which origin a response may be read by, and the headers that say so.
//! The allow-list is `ALLOWED_ORIGINS`, the same list that guards WebSocket handshakes.

/// Request headers a browser app may send (a preflight asking for others is refused by the
/// browser, since they are not echoed back).
/// `x-d1-bookmark` is read-your-writes across D1 replicas (`core::replication`).
pub const ALLOW_HEADERS: &str =
    "authorization, content-type, idempotency-key, if-match, x-csrf-token, x-d1-bookmark";

/// Response headers a browser app may read besides the CORS-safelisted ones.
/// (`x-d1-bookmark`: a page must read it to send it back.)
pub const EXPOSE_HEADERS: &str =
    "x-request-id, retry-after, etag, location, www-authenticate, x-d1-bookmark";

/// How long a browser may cache a preflight answer (Chromium caps it at 7200 s).
pub const MAX_AGE_S: u32 = 600;

/// What CORS grants the `Origin` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// No `Origin`, or one not on the list: no CORS headers at all, so a browser refuses to
    /// hand the response to the calling page.
    Refused,
    /// An origin on the list: it may read responses, with cookies.
    Credentialed(String),
    /// `ALLOWED_ORIGINS=*`: any origin may read responses, but never with credentials, so no
    /// page on an arbitrary site can act with a user's cookies.
    Anonymous(String),
}

/// Lower case, no trailing slash: how `ALLOWED_ORIGINS` entries are stored.
pub fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The grant for `origin` given the allow-list (`None`: any origin, `*`). The opaque origin
/// `null` (sandboxed frames, `file:` pages, some redirects) is never granted.
pub fn grant(origin: Option<&str>, allowed: Option<&[String]>) -> Grant {
    let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else {
        return Grant::Refused;
    };
    let normal = normalise(origin);
    if normal == "null" || !(normal.starts_with("https://") || normal.starts_with("http://")) {
        return Grant::Refused;
    }
    match allowed {
        None => Grant::Anonymous(origin.to_owned()),
        Some(list) if list.contains(&normal) => Grant::Credentialed(origin.to_owned()),
        Some(_) => Grant::Refused,
    }
}

/// Headers of every actual (non-preflight) response to a request with an `Origin`.
pub fn response_headers(grant: &Grant) -> Vec<(&'static str, String)> {
    let mut out = vec![("vary", "Origin".to_owned())];
    match grant {
        Grant::Refused => {}
        Grant::Credentialed(origin) => {
            out.push(("access-control-allow-origin", origin.clone()));
            out.push(("access-control-allow-credentials", "true".into()));
            out.push(("access-control-expose-headers", EXPOSE_HEADERS.into()));
        }
        Grant::Anonymous(origin) => {
            out.push(("access-control-allow-origin", origin.clone()));
            out.push(("access-control-expose-headers", EXPOSE_HEADERS.into()));
        }
    }
    out
}

/// Headers of the 204 answer to a preflight for a path served with `methods` (e.g.
/// `"GET, HEAD, PATCH"`). A refused origin gets none of the `Access-Control-*` headers.
pub fn preflight_headers(grant: &Grant, methods: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![("vary", "Origin".to_owned())];
    let origin = match grant {
        Grant::Refused => return out,
        Grant::Credentialed(origin) => {
            out.push(("access-control-allow-credentials", "true".into()));
            origin
        }
        Grant::Anonymous(origin) => origin,
    };
    out.push(("access-control-allow-origin", origin.clone()));
    out.push(("access-control-allow-methods", methods.to_owned()));
    out.push(("access-control-allow-headers", ALLOW_HEADERS.into()));
    out.push(("access-control-max-age", MAX_AGE_S.to_string()));
    out
}

/// Is this request a CORS preflight (an `OPTIONS` with both headers a browser sends)?
pub fn is_preflight(method: &str, origin: Option<&str>, request_method: Option<&str>) -> bool {
    method == "OPTIONS" && origin.is_some() && request_method.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<String> {
        vec![
            "https://app.example.test".into(),
            "http://127.0.0.1:3000".into(),
        ]
    }

    fn header<'a>(h: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_listed_origin_is_granted_with_credentials_and_echoed_as_sent() {
        let l = list();
        assert_eq!(
            grant(Some("https://APP.example.test/"), Some(&l)),
            Grant::Credentialed("https://APP.example.test/".into())
        );
        assert_eq!(
            grant(Some("http://127.0.0.1:3000"), Some(&l)),
            Grant::Credentialed("http://127.0.0.1:3000".into())
        );
    }

    #[test]
    fn unlisted_lookalike_null_and_missing_origins_are_refused() {
        let l = list();
        for o in [
            "https://app.example.test.evil.example",
            "https://evil.example",
            "http://app.example.test",
            "http://127.0.0.1:3001",
            "null",
            "file://",
            "",
        ] {
            assert_eq!(grant(Some(o), Some(&l)), Grant::Refused, "{o}");
        }
        assert_eq!(grant(None, Some(&l)), Grant::Refused);
        assert_eq!(grant(Some("null"), None), Grant::Refused);
    }

    #[test]
    fn a_wildcard_list_grants_reading_but_never_credentials_nor_a_star() {
        let g = grant(Some("https://any.example"), None);
        assert_eq!(g, Grant::Anonymous("https://any.example".into()));
        let h = response_headers(&g);
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            Some("https://any.example")
        );
        assert_eq!(header(&h, "access-control-allow-credentials"), None);
        let p = preflight_headers(&g, "POST");
        assert_eq!(header(&p, "access-control-allow-credentials"), None);
        assert!(p.iter().all(|(_, v)| v != "*"));
    }

    #[test]
    fn actual_responses_name_the_origin_credentials_exposed_headers_and_vary() {
        let h = response_headers(&Grant::Credentialed("https://app.example.test".into()));
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            Some("https://app.example.test")
        );
        assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
        let exposed = header(&h, "access-control-expose-headers").unwrap();
        for name in ["x-request-id", "retry-after", "etag", "x-d1-bookmark"] {
            assert!(exposed.contains(name), "{name}");
        }
        assert_eq!(header(&h, "vary"), Some("Origin"));
        let refused = response_headers(&Grant::Refused);
        assert_eq!(refused, vec![("vary", "Origin".to_owned())]);
    }

    #[test]
    fn a_preflight_lists_the_methods_headers_and_max_age() {
        let p = preflight_headers(
            &Grant::Credentialed("https://app.example.test".into()),
            "GET, HEAD, PATCH, DELETE",
        );
        assert_eq!(
            header(&p, "access-control-allow-methods"),
            Some("GET, HEAD, PATCH, DELETE")
        );
        let allowed = header(&p, "access-control-allow-headers").unwrap();
        for name in [
            "authorization",
            "content-type",
            "idempotency-key",
            "if-match",
            "x-csrf-token",
            "x-d1-bookmark",
        ] {
            assert!(allowed.contains(name), "{name}");
        }
        assert_eq!(header(&p, "access-control-max-age"), Some("600"));
        assert_eq!(header(&p, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            preflight_headers(&Grant::Refused, "POST"),
            vec![("vary", "Origin".to_owned())]
        );
    }

    #[test]
    fn only_options_with_origin_and_request_method_is_a_preflight() {
        assert!(is_preflight(
            "OPTIONS",
            Some("https://a.test"),
            Some("POST")
        ));
        assert!(!is_preflight("OPTIONS", None, Some("POST")));
        assert!(!is_preflight("OPTIONS", Some("https://a.test"), None));
        assert!(!is_preflight("POST", Some("https://a.test"), Some("POST")));
    }
}
