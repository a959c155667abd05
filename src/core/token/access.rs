//! Signing and strict verification of access tokens.
//!
//! Verification accepts only what Edgeward itself issues: compact JWS, `alg` EdDSA, a `kid`
//! from the configured set (exact match), `typ` at+jwt (RFC 9068 section 4), no header-borne
//! key material or `crit`, the configured `iss` (exact) and `aud`, and a bounded, unexpired
//! lifetime. `now` is an input, so the rules are tested against fixed vectors.

use super::keys::KeySet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{TimeZone, Utc};
use ed25519_dalek::VerifyingKey;
use jwt_compact::alg::Ed25519;
use jwt_compact::{AlgorithmExt, Claims, Header, UntrustedToken};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const TOKEN_TYPE: &str = "at+jwt";
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims Edgeward puts in an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
    /// How the session was authenticated (RFC 8176 values, e.g. `["pwd", "otp", "mfa"]`).
    pub amr: &'static [&'static str],
    /// The assurance level that gives (`aal1`, `aal2`).
    pub acr: &'static str,
    #[serde(skip)]
    pub iat: i64,
    #[serde(skip)]
    pub exp: i64,
}

/// What a verified token says. `sid` is optional here so the verifier also serves as a
/// generic RFC 9068 verifier; Edgeward's API requires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    pub sub: String,
    pub sid: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub kid: String,
}

#[derive(Debug, Clone, Copy)]
pub struct VerifyPolicy<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub leeway_s: i64,
    pub max_lifetime_s: i64,
}

/// Why a token was refused. Logged; every variant is 401 `invalid_token` to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    Header(&'static str),
    UnknownKid,
    BadSignature,
    Claims(&'static str),
    Expired,
    NotYetValid,
    Signing(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Signs `claims` with the key `kid` (or the active key). Ed25519 signatures are
/// deterministic: the same claims and key give the same token, which is what lets a refresh
/// replayed inside the reuse window answer with the very pair it answered first.
pub fn sign(keys: &KeySet, kid: Option<&str>, claims: &AccessClaims) -> Result<String, TokenError> {
    let entry = kid
        .and_then(|k| keys.get(k))
        .filter(|e| e.signing.is_some())
        .unwrap_or_else(|| keys.active());
    let signing = entry
        .signing
        .as_ref()
        .ok_or_else(|| TokenError::Signing("active key has no private part".into()))?;
    let header = Header::empty()
        .with_key_id(entry.kid.clone())
        .with_token_type(TOKEN_TYPE);
    let ts = |s: i64| Utc.timestamp_opt(s, 0).single();
    let mut jwt = Claims::new(claims.clone());
    jwt.issued_at = ts(claims.iat);
    jwt.expiration = ts(claims.exp);
    Ed25519
        .token(&header, &jwt, signing)
        .map_err(|e| TokenError::Signing(e.to_string()))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Registered claims as they arrive. A duplicate key is a deserialisation error, and numeric
/// dates must be JSON integers.
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    sub: Option<String>,
    sid: Option<String>,
    jti: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
}

type HeaderExtras = serde_json::Map<String, serde_json::Value>;

/// Tokens whose signature has been checked already, each with the public key that checked it:
/// a client sends the same access token with every request of its lifetime, and an Ed25519
/// verification is most of a session check's own CPU in wasm. A signature check is a pure
/// function of the token's bytes and the key, so its answer is reused only for exactly those
/// bytes under exactly that key (a key that left the key set, or changed under its kid, is not
/// asked again: the kid lookup comes first and the key must match). Everything else (the
/// header, every claim against the time now, and the caller's session lookup) runs on every
/// request. Bounded: when full it starts over.
pub struct SignatureMemo {
    seen: HashMap<String, [u8; 32]>,
    capacity: usize,
}

/// At most this many tokens are remembered (about 1.5 MiB of an isolate's 128 MiB).
pub const MEMO_CAPACITY: usize = 4096;

impl Default for SignatureMemo {
    fn default() -> Self {
        Self::with_capacity(MEMO_CAPACITY)
    }
}

impl SignatureMemo {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            seen: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    fn knows(&self, token: &str, key: &VerifyingKey) -> bool {
        self.seen.get(token).is_some_and(|k| k == key.as_bytes())
    }

    fn remember(&mut self, token: &str, key: &VerifyingKey) {
        if self.seen.len() >= self.capacity {
            self.seen.clear();
        }
        self.seen.insert(token.to_owned(), *key.as_bytes());
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// `verify_memoized` without a memo: every check, the signature's included.
#[cfg(test)]
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &VerifyPolicy<'_>,
    now: i64,
) -> Result<VerifiedClaims, TokenError> {
    check(token, keys, policy, now, None)
}

/// `verify`, skipping the signature check for a token `memo` saw verified under the same key.
pub fn verify_memoized(
    token: &str,
    keys: &KeySet,
    policy: &VerifyPolicy<'_>,
    now: i64,
    memo: &mut SignatureMemo,
) -> Result<VerifiedClaims, TokenError> {
    check(token, keys, policy, now, Some(memo))
}

fn check(
    token: &str,
    keys: &KeySet,
    policy: &VerifyPolicy<'_>,
    now: i64,
    memo: Option<&mut SignatureMemo>,
) -> Result<VerifiedClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN
        || token.bytes().filter(|b| *b == b'.').count() != 2
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(TokenError::Malformed);
    }
    let untrusted =
        UntrustedToken::<HeaderExtras>::try_from(token).map_err(|_| TokenError::Malformed)?;
    if untrusted.algorithm() != "EdDSA" {
        return Err(TokenError::Header("alg"));
    }
    let header = untrusted.header();
    let typ_ok = header.token_type.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(TokenError::Header("typ"));
    }
    // We issue exactly {alg, typ, kid}: anything else (jwk, jku, x5u, x5c, crit, ...) is foreign.
    if header.key_set_url.is_some()
        || header.certificate_url.is_some()
        || header.certificate_sha1_thumbprint.is_some()
        || header.certificate_thumbprint.is_some()
        || !header.other_fields.is_empty()
    {
        return Err(TokenError::Header("unexpected header parameter"));
    }
    let kid = header.key_id.as_deref().ok_or(TokenError::Header("kid"))?;
    let entry = keys.get(kid).ok_or(TokenError::UnknownKid)?;
    match memo {
        Some(m) if m.knows(token, &entry.verifying) => {}
        memo => {
            Ed25519
                .validator::<serde_json::Value>(&entry.verifying)
                .validate(&untrusted)
                .map_err(|_| TokenError::BadSignature)?;
            if let Some(m) = memo {
                m.remember(token, &entry.verifying);
            }
        }
    }

    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let bytes = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
    let c: RawClaims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Claims("shape"))?;

    if c.iss.as_deref() != Some(policy.issuer) {
        return Err(TokenError::Claims("iss"));
    }
    let aud_ok = match &c.aud {
        Some(Audience::One(a)) => a == policy.audience,
        Some(Audience::Many(v)) => v.iter().any(|a| a == policy.audience),
        None => false,
    };
    if !aud_ok {
        return Err(TokenError::Claims("aud"));
    }
    let sub = c
        .sub
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::Claims("sub"))?;
    let jti = c
        .jti
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::Claims("jti"))?;
    let exp = c.exp.ok_or(TokenError::Claims("exp"))?;
    let iat = c.iat.ok_or(TokenError::Claims("iat"))?;
    let leeway = policy.leeway_s;
    if exp.saturating_add(leeway) < now {
        return Err(TokenError::Expired);
    }
    if c.nbf.is_some_and(|nbf| nbf.saturating_sub(leeway) > now) || iat.saturating_sub(leeway) > now
    {
        return Err(TokenError::NotYetValid);
    }
    if exp.saturating_sub(iat) > policy.max_lifetime_s {
        return Err(TokenError::Claims("lifetime"));
    }
    Ok(VerifiedClaims {
        sub,
        sid: c.sid,
        jti,
        iat,
        exp,
        kid: kid.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::tests::TEST_KEYS;
    use crate::core::token::KeyEntry;

    const ISS: &str = "https://auth.example.test";
    const AUD: &str = "https://api.example.test";
    const NOW: i64 = 1_800_000_000;

    fn policy() -> VerifyPolicy<'static> {
        VerifyPolicy {
            issuer: ISS,
            audience: AUD,
            leeway_s: 60,
            max_lifetime_s: 900,
        }
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            aud: AUD.into(),
            sub: "user-1".into(),
            sid: "session-1".into(),
            jti: "jti-1".into(),
            amr: &["pwd"],
            acr: "aal1",
            iat: NOW,
            exp: NOW + 900,
        }
    }

    fn keys() -> KeySet {
        KeySet::from_jwks_json(TEST_KEYS, None).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_and_carries_its_claims() {
        let ks = keys();
        let t = sign(&ks, None, &claims()).unwrap();
        let v = verify(&t, &ks, &policy(), NOW + 10).unwrap();
        assert_eq!(v.sub, "user-1");
        assert_eq!(v.sid.as_deref(), Some("session-1"));
        assert_eq!(v.exp - v.iat, 900);
        assert_eq!(v.kid, "k1");
    }

    /// The same key set with kid `k1` bound to another key (a fresh Ed25519 key).
    fn k1_replaced() -> KeySet {
        let other = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        KeySet::from_parts(
            vec![KeyEntry {
                kid: "k1".into(),
                verifying: other.verifying_key(),
                signing: Some(other),
            }],
            "k1",
        )
        .unwrap()
    }

    #[test]
    fn a_memoized_token_still_has_its_claims_checked_against_the_time_now() {
        let (ks, mut memo) = (keys(), SignatureMemo::default());
        let t = sign(&ks, None, &claims()).unwrap();
        assert!(verify_memoized(&t, &ks, &policy(), NOW, &mut memo).is_ok());
        assert_eq!(memo.len(), 1);
        assert_eq!(
            verify_memoized(&t, &ks, &policy(), NOW + 900 + 61, &mut memo),
            Err(TokenError::Expired)
        );
        let strict = VerifyPolicy {
            audience: "https://other.example.test",
            ..policy()
        };
        assert_eq!(
            verify_memoized(&t, &ks, &strict, NOW, &mut memo),
            Err(TokenError::Claims("aud"))
        );
    }

    #[test]
    fn a_memoized_token_is_checked_again_when_its_kid_names_another_key_or_none() {
        let (ks, mut memo) = (keys(), SignatureMemo::default());
        let t = sign(&ks, None, &claims()).unwrap();
        verify_memoized(&t, &ks, &policy(), NOW, &mut memo).unwrap();
        assert_eq!(
            verify_memoized(&t, &k1_replaced(), &policy(), NOW, &mut memo),
            Err(TokenError::BadSignature)
        );
        let other_kid = KeySet::from_parts(
            vec![KeyEntry {
                kid: "k2".into(),
                ..keys().entries()[0].clone()
            }],
            "k2",
        )
        .unwrap();
        assert_eq!(
            verify_memoized(&t, &other_kid, &policy(), NOW, &mut memo),
            Err(TokenError::UnknownKid)
        );
    }

    #[test]
    fn only_verified_tokens_are_memoized_and_a_changed_byte_is_checked_anew() {
        let (ks, mut memo) = (keys(), SignatureMemo::default());
        let t = sign(&ks, None, &claims()).unwrap();
        let mut forged = t.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            verify_memoized(&forged, &ks, &policy(), NOW, &mut memo),
            Err(TokenError::BadSignature)
        );
        assert!(memo.is_empty());
        verify_memoized(&t, &ks, &policy(), NOW, &mut memo).unwrap();
        assert_eq!(
            verify_memoized(&forged, &ks, &policy(), NOW, &mut memo),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn the_memo_is_bounded() {
        let (ks, mut memo) = (keys(), SignatureMemo::with_capacity(3));
        for n in 0..=3 {
            let c = AccessClaims {
                jti: format!("jti-{n}"),
                ..claims()
            };
            let t = sign(&ks, None, &c).unwrap();
            verify_memoized(&t, &ks, &policy(), NOW, &mut memo).unwrap();
            assert!(memo.len() <= 3);
        }
        assert_eq!(memo.len(), 1, "full: it started over");
    }

    #[test]
    fn signing_is_deterministic() {
        let ks = keys();
        assert_eq!(
            sign(&ks, None, &claims()).unwrap(),
            sign(&ks, Some("k1"), &claims()).unwrap()
        );
    }

    #[test]
    fn the_header_is_typed_and_keyed() {
        let t = sign(&keys(), None, &claims()).unwrap();
        let h: serde_json::Value =
            serde_json::from_slice(&B64.decode(t.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            h,
            serde_json::json!({"alg":"EdDSA","typ":"at+jwt","kid":"k1"})
        );
    }

    #[test]
    fn an_expired_token_is_refused_after_the_leeway() {
        let ks = keys();
        let t = sign(&ks, None, &claims()).unwrap();
        assert!(verify(&t, &ks, &policy(), NOW + 900 + 60).is_ok());
        assert_eq!(
            verify(&t, &ks, &policy(), NOW + 900 + 61),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn another_audience_or_issuer_is_refused() {
        let ks = keys();
        let t = sign(&ks, None, &claims()).unwrap();
        let other_aud = VerifyPolicy {
            audience: "x",
            ..policy()
        };
        assert_eq!(
            verify(&t, &ks, &other_aud, NOW),
            Err(TokenError::Claims("aud"))
        );
        let other_iss = VerifyPolicy {
            issuer: "x",
            ..policy()
        };
        assert_eq!(
            verify(&t, &ks, &other_iss, NOW),
            Err(TokenError::Claims("iss"))
        );
    }

    #[test]
    fn a_lifetime_longer_than_the_policy_is_refused() {
        let ks = keys();
        let t = sign(
            &ks,
            None,
            &AccessClaims {
                exp: NOW + 901,
                ..claims()
            },
        )
        .unwrap();
        assert_eq!(
            verify(&t, &ks, &policy(), NOW),
            Err(TokenError::Claims("lifetime"))
        );
    }

    #[test]
    fn a_token_without_kid_is_refused_even_with_a_single_key() {
        let ks = keys();
        let good = sign(&ks, None, &claims()).unwrap();
        let header = B64.encode(br#"{"alg":"EdDSA","typ":"at+jwt"}"#);
        let body = good.split('.').nth(1).unwrap();
        let signing = ks.active().signing.clone().unwrap();
        use ed25519_dalek::Signer;
        let sig = signing.sign(format!("{header}.{body}").as_bytes());
        let t = format!("{header}.{body}.{}", B64.encode(sig.to_bytes()));
        assert_eq!(
            verify(&t, &ks, &policy(), NOW),
            Err(TokenError::Header("kid"))
        );
    }

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        token: String,
        expect: String,
    }

    /// `tests/vectors/jwt_attack_tokens.jsonl` is `tests/vectors/jwt_attack_tokens.py
    /// --now 1800000000`, committed: 57 forged and edge-case tokens with their verdicts.
    #[test]
    fn every_committed_attack_vector_gets_its_expected_verdict() {
        let text = include_str!("../../../tests/vectors/jwt_attack_tokens.jsonl");
        let mut lines = text.lines();
        let jwks: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let ks = KeySet::from_public_jwks(&jwks["jwks"].to_string()).unwrap();
        let pol = VerifyPolicy {
            max_lifetime_s: 3600,
            ..policy()
        };
        let mut checked = 0;
        for line in lines {
            let v: Vector = serde_json::from_str(line).unwrap();
            let got = verify(&v.token, &ks, &pol, NOW);
            match v.expect.as_str() {
                "accept" => assert!(got.is_ok(), "{}: {:?}", v.name, got),
                "reject" => assert!(got.is_err(), "{}: accepted", v.name),
                // "policy": the generator leaves it to the verifier; a_token_without_kid_...
                _ => {}
            }
            checked += 1;
        }
        assert_eq!(checked, 58, "57 vectors with a verdict and one policy case");
    }

    #[test]
    fn the_token_says_how_the_session_was_authenticated() {
        let t = sign(
            &keys(),
            None,
            &AccessClaims {
                amr: &["pwd", "otp", "mfa"],
                acr: "aal2",
                ..claims()
            },
        )
        .unwrap();
        let payload = B64.decode(t.split('.').nth(1).unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        assert_eq!(v["acr"], "aal2");
        assert!(verify(&t, &keys(), &policy(), NOW).is_ok());
    }
}
