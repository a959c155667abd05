//! Security headers on every response (the set Helmet and the OWASP Secure Headers project
//! recommend for a JSON API).

/// The policy of every API response: a JSON document loads nothing and may not be framed.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Two years, subdomains included: the deployment is HTTPS-only outside development.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Headers every response carries. HSTS only outside development: a browser that saw it for
/// `localhost` would refuse plain HTTP there for two years.
pub fn security_headers(development: bool) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", API_CSP),
        ("cross-origin-opener-policy", "same-origin"),
    ];
    if !development {
        out.push(("strict-transport-security", HSTS));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_forbids_sniffing_referrers_and_framing() {
        let h = security_headers(true);
        assert!(h.contains(&("x-content-type-options", "nosniff")));
        assert!(h.contains(&("referrer-policy", "no-referrer")));
        assert!(h.contains(&("x-frame-options", "DENY")));
        let csp = h
            .iter()
            .find(|(n, _)| *n == "content-security-policy")
            .unwrap()
            .1;
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.starts_with("default-src 'none'"));
    }

    #[test]
    fn hsts_is_sent_everywhere_but_development() {
        let has_hsts = |dev| {
            security_headers(dev)
                .iter()
                .any(|(n, _)| *n == "strict-transport-security")
        };
        assert!(!has_hsts(true));
        assert!(has_hsts(false));
    }
}
