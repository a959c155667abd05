//! The OAuth 2.0 pieces that are plain computation: PKCE (RFC 7636, S256 only), query strings,
//! and the app redirect that carries a result or an error.

use crate::core::crypto::b64url;
use sha2::{Digest, Sha256};

/// The S256 challenge of a PKCE verifier.
pub fn s256(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

/// A verifier as RFC 7636 section 4.1 allows it: 43-128 unreserved characters.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge: 43 base64url characters (a SHA-256).
pub fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Does `verifier` answer `challenge`? Constant time over the digests.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let got = s256(verifier);
    got.len() == challenge.len()
        && got
            .bytes()
            .zip(challenge.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// application/x-www-form-urlencoded encoding of one component.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `base` with the pairs added to its query (the configured redirect URI may have one).
pub fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", query(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example_and_only_its_verifier() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        assert!(valid_challenge(challenge));
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        assert!(!pkce_matches("short", &s256("short")));
        assert!(!valid_challenge("plain-text-challenge"));
    }

    #[test]
    fn query_components_are_form_encoded_and_appended_to_an_existing_query() {
        assert_eq!(
            query(&[
                ("redirect_uri", "https://a.example/cb?x=1"),
                ("scope", "openid email")
            ]),
            "redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1&scope=openid%20email"
        );
        assert_eq!(
            with_query("https://a/cb", &[("code", "c")]),
            "https://a/cb?code=c"
        );
        assert_eq!(
            with_query("https://a/cb?t=1", &[("error", "x y")]),
            "https://a/cb?t=1&error=x%20y"
        );
    }
}
