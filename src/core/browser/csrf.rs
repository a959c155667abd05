//! CSRF protection of cookie sessions: OWASP's signed double-submit token, bound to the session,
//! plus Fetch Metadata and `Origin` checks.
//!
//! The token is `<nonce>.<HMAC-SHA256(key, session id, nonce)>`: the server keeps nothing per
//! token, a token minted for one session is worthless in another, and a fresh nonce per login
//! or refresh makes every issued token different. The client sends it back in `X-CSRF-Token`;
//! a page on another site cannot read it (it is only ever in a CORS-guarded response body).

use crate::core::crypto::{b64url, b64url_decode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

const NONCE_BYTES: usize = 16;
/// Domain separation: the key is derived from a secret that has other uses.
const KEY_LABEL: &[u8] = b"edgeward/csrf-token/v1";

/// The HMAC key of CSRF tokens, derived from a configured secret.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfKey([u8; 32]);

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

impl CsrfKey {
    /// HMAC-SHA256(secret, label): a key of its own, so a token never reveals anything about
    /// the secret's other uses (sealing keys, signing).
    pub fn derive(secret: &str) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(KEY_LABEL);
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, session_id: &str, nonce: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        // Length-prefixed, so (session, nonce) pairs cannot be shifted into one another.
        mac.update(&(session_id.len() as u64).to_be_bytes());
        mac.update(session_id.as_bytes());
        mac.update(nonce);
        mac
    }
}

/// A new token for `session_id` from caller-supplied random bytes.
pub fn mint(key: &CsrfKey, session_id: &str, nonce: [u8; NONCE_BYTES]) -> String {
    let tag = key.mac(session_id, &nonce).finalize().into_bytes();
    format!("{}.{}", b64url(&nonce), b64url(&tag))
}

/// Was `token` minted with `key` for `session_id`? The tag is compared in constant time
/// (`Mac::verify_slice`).
pub fn verify(key: &CsrfKey, session_id: &str, token: &str) -> bool {
    let Some((nonce, tag)) = token.trim().split_once('.') else {
        return false;
    };
    let (Some(nonce), Some(tag)) = (b64url_decode(nonce), b64url_decode(tag)) else {
        return false;
    };
    nonce.len() == NONCE_BYTES && key.mac(session_id, &nonce).verify_slice(&tag).is_ok()
}

/// Why a cookie-authenticated request was refused (the `detail` of its 403 `csrf_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    CrossSite,
    ForeignOrigin,
    MissingToken,
    BadToken,
}

impl Failure {
    pub fn detail(self) -> &'static str {
        match self {
            Self::CrossSite => "a cookie-authenticated request may not come from another site",
            Self::ForeignOrigin => {
                "a cookie-authenticated request must come from an allowed origin"
            }
            Self::MissingToken => {
                "a cookie-authenticated request must carry its session's X-CSRF-Token"
            }
            Self::BadToken => "the X-CSRF-Token does not belong to this session",
        }
    }
}

/// GET, HEAD and OPTIONS change nothing, so they need no token (SameSite=Lax still keeps the
/// access cookie off cross-site subrequests).
pub fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Fetch Metadata and `Origin`: refuse what a browser marks as cross-site, and any `Origin` that
/// is neither this API's own (`Sec-Fetch-Site: same-origin`) nor on the allow-list. A request
/// without these headers (no browser sent it) is left to the token.
pub fn check_site(
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    origin_allowed: impl Fn(&str) -> bool,
) -> Result<(), Failure> {
    let site = sec_fetch_site.map(|s| s.trim().to_ascii_lowercase());
    if site.as_deref() == Some("cross-site") {
        return Err(Failure::CrossSite);
    }
    match origin.map(str::trim) {
        None => Ok(()),
        Some(_) if site.as_deref() == Some("same-origin") => Ok(()),
        Some(o) if o.eq_ignore_ascii_case("null") => Err(Failure::ForeignOrigin),
        Some(o) if origin_allowed(o) => Ok(()),
        Some(_) => Err(Failure::ForeignOrigin),
    }
}

/// Everything a cookie-authenticated request must pass: safe methods pass; unsafe ones must
/// not be cross-site and must carry this session's token.
pub fn check(
    method: &str,
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    origin_allowed: impl Fn(&str) -> bool,
    token: Option<&str>,
    key: &CsrfKey,
    session_id: &str,
) -> Result<(), Failure> {
    if is_safe_method(method) {
        return Ok(());
    }
    check_site(sec_fetch_site, origin, origin_allowed)?;
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Failure::MissingToken)?;
    if verify(key, session_id, token) {
        Ok(())
    } else {
        Err(Failure::BadToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "0193a4b2-0000-7000-8000-000000000001";

    fn key() -> CsrfKey {
        CsrfKey::derive("a configured secret")
    }

    fn listed(o: &str) -> bool {
        o == "https://app.example.test"
    }

    #[test]
    fn a_token_verifies_for_its_session_only() {
        let t = mint(&key(), SID, [7; 16]);
        assert!(verify(&key(), SID, &t));
        assert!(!verify(&key(), "0193a4b2-0000-7000-8000-000000000002", &t));
        assert!(!verify(&CsrfKey::derive("another secret"), SID, &t));
    }

    #[test]
    fn each_nonce_gives_another_token_and_all_verify() {
        let a = mint(&key(), SID, [1; 16]);
        let b = mint(&key(), SID, [2; 16]);
        assert_ne!(a, b);
        assert!(verify(&key(), SID, &a) && verify(&key(), SID, &b));
    }

    #[test]
    fn tampered_truncated_and_malformed_tokens_fail() {
        let t = mint(&key(), SID, [9; 16]);
        let (nonce, tag) = t.split_once('.').unwrap();
        let mut flipped = tag.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{nonce}.{}", String::from_utf8(flipped).unwrap());
        let other_nonce = format!("{}.{tag}", b64url(&[8; 16]));
        for bad in [
            flipped.as_str(),
            other_nonce.as_str(),
            &t[..t.len() - 2],
            nonce,
            "",
            ".",
            "not base64!.x",
        ] {
            assert!(!verify(&key(), SID, bad), "{bad}");
        }
    }

    #[test]
    fn the_derived_key_is_not_the_secret_and_never_printed() {
        assert_ne!(key(), CsrfKey::derive("a configured secreT"));
        assert_eq!(format!("{:?}", key()), "CsrfKey(<redacted>)");
    }

    #[test]
    fn safe_methods_pass_without_a_token() {
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert_eq!(
                check(m, Some("cross-site"), None, listed, None, &key(), SID),
                Ok(())
            );
        }
    }

    #[test]
    fn unsafe_methods_need_the_sessions_token() {
        let t = mint(&key(), SID, [3; 16]);
        let run = |token: Option<&str>| {
            check(
                "POST",
                Some("same-site"),
                Some("https://app.example.test"),
                listed,
                token,
                &key(),
                SID,
            )
        };
        assert_eq!(run(Some(&t)), Ok(()));
        assert_eq!(run(None), Err(Failure::MissingToken));
        assert_eq!(run(Some(" ")), Err(Failure::MissingToken));
        let other = mint(&key(), "0193a4b2-0000-7000-8000-000000000009", [3; 16]);
        assert_eq!(run(Some(&other)), Err(Failure::BadToken));
    }

    #[test]
    fn cross_site_and_foreign_origins_fail_even_with_a_good_token() {
        let t = mint(&key(), SID, [4; 16]);
        let run = |site: Option<&str>, origin: Option<&str>| {
            check("DELETE", site, origin, listed, Some(&t), &key(), SID)
        };
        assert_eq!(
            run(Some("cross-site"), Some("https://app.example.test")),
            Err(Failure::CrossSite)
        );
        assert_eq!(
            run(Some("same-site"), Some("https://evil.example")),
            Err(Failure::ForeignOrigin)
        );
        assert_eq!(run(None, Some("null")), Err(Failure::ForeignOrigin));
        assert_eq!(
            run(Some("same-origin"), Some("https://api.example.test")),
            Ok(())
        );
        assert_eq!(run(None, None), Ok(()));
        assert_eq!(run(Some("none"), None), Ok(()));
    }
}
