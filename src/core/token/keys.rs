//! The signing key set. Keys are configured as a JWK set with `kid`s (secret
//! `JWT_SIGNING_KEYS`), so rotation is a configuration change: add the new key, make it active
//! (`JWT_ACTIVE_KID`), and drop the old one once the longest access-token lifetime has passed.
//! A key given with only `x` (no `d`) is verify-only: still published and accepted, never used
//! to sign.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Deserialize;
use std::fmt;

#[derive(Clone)]
pub struct KeyEntry {
    pub kid: String,
    pub signing: Option<SigningKey>,
    pub verifying: VerifyingKey,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("private", &self.signing.is_some())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<KeyEntry>,
    active: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySetError {
    NotJson(String),
    Empty,
    NoSigningKey,
    UnknownActiveKid(String),
    DuplicateKid(String),
    BadKey { kid: String, why: &'static str },
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson(e) => write!(f, "not a JWK set: {e}"),
            Self::Empty => write!(f, "the key set is empty"),
            Self::NoSigningKey => write!(f, "no key has a private part (d)"),
            Self::UnknownActiveKid(k) => {
                write!(f, "JWT_ACTIVE_KID {k:?} is not a key with a private part")
            }
            Self::DuplicateKid(k) => write!(f, "kid {k:?} appears twice"),
            Self::BadKey { kid, why } => write!(f, "key {kid:?}: {why}"),
        }
    }
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    kid: String,
    d: Option<String>,
    x: Option<String>,
}

fn decode32(s: &str) -> Option<[u8; 32]> {
    B64.decode(s).ok()?.try_into().ok()
}

impl KeySet {
    /// Parses the configured set; at least one key must be able to sign.
    pub fn from_jwks_json(json: &str, active_kid: Option<&str>) -> Result<Self, KeySetError> {
        let set = Self::parse(json)?;
        let active = match active_kid {
            Some(kid) => set
                .keys
                .iter()
                .position(|k| k.kid == kid && k.signing.is_some())
                .ok_or_else(|| KeySetError::UnknownActiveKid(kid.to_owned()))?,
            None => set
                .keys
                .iter()
                .position(|k| k.signing.is_some())
                .ok_or(KeySetError::NoSigningKey)?,
        };
        Ok(Self { active, ..set })
    }

    /// A verify-only set (e.g. a public JWKS fetched by a resource server).
    #[cfg(test)]
    pub fn from_public_jwks(json: &str) -> Result<Self, KeySetError> {
        Self::parse(json)
    }

    fn parse(json: &str) -> Result<Self, KeySetError> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| KeySetError::NotJson(e.to_string()))?;
        if set.keys.is_empty() {
            return Err(KeySetError::Empty);
        }
        let mut keys: Vec<KeyEntry> = Vec::with_capacity(set.keys.len());
        for jwk in set.keys {
            let kid = jwk.kid.clone();
            let bad = |why| KeySetError::BadKey {
                kid: kid.clone(),
                why,
            };
            if kid.is_empty() || kid.len() > 64 || !kid.chars().all(|c| c.is_ascii_graphic()) {
                return Err(bad("kid must be 1-64 printable ASCII characters"));
            }
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                return Err(bad("only kty OKP with crv Ed25519 is supported"));
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeySetError::DuplicateKid(kid));
            }
            let signing = match &jwk.d {
                Some(d) => Some(SigningKey::from_bytes(
                    &decode32(d).ok_or_else(|| bad("d is not 32 base64url bytes"))?,
                )),
                None => None,
            };
            let given_public = match &jwk.x {
                Some(x) => Some(
                    VerifyingKey::from_bytes(
                        &decode32(x).ok_or_else(|| bad("x is not 32 base64url bytes"))?,
                    )
                    .map_err(|_| bad("x is not an Ed25519 point"))?,
                ),
                None => None,
            };
            let verifying = match (&signing, given_public) {
                (Some(s), Some(x)) if s.verifying_key() != x => {
                    return Err(bad("x does not match d"))
                }
                (Some(s), _) => s.verifying_key(),
                (None, Some(x)) => x,
                (None, None) => return Err(bad("a key needs d or x")),
            };
            keys.push(KeyEntry {
                kid,
                signing,
                verifying,
            });
        }
        Ok(Self { keys, active: 0 })
    }

    /// A set from explicit entries (configured plus rotated keys); `active_kid` must name one
    /// that can sign.
    pub fn from_parts(keys: Vec<KeyEntry>, active_kid: &str) -> Result<Self, KeySetError> {
        let active = keys
            .iter()
            .position(|k| k.kid == active_kid && k.signing.is_some())
            .ok_or_else(|| KeySetError::UnknownActiveKid(active_kid.to_owned()))?;
        Ok(Self { keys, active })
    }

    pub fn entries(&self) -> &[KeyEntry] {
        &self.keys
    }

    pub fn active(&self) -> &KeyEntry {
        &self.keys[self.active]
    }

    pub fn get(&self, kid: &str) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The public JWK set served at `/.well-known/jwks.json`: never a private part.
    pub fn public_jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": B64.encode(k.verifying.as_bytes()),
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const D2: &str = "TM0Imyj_ltqdtsNG7BFOD1uKMZ81q6Yk2oz27U-4pvs";

    fn set(keys: &str) -> String {
        format!(r#"{{"keys":[{keys}]}}"#)
    }

    #[test]
    fn the_first_private_key_is_active_by_default() {
        let json = set(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"old","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}},
               {{"kty":"OKP","crv":"Ed25519","kid":"new","d":"{D1}"}}"#
        ));
        let ks = KeySet::from_jwks_json(&json, None).unwrap();
        assert_eq!(ks.active().kid, "new");
        assert!(ks.get("old").unwrap().signing.is_none());
    }

    #[test]
    fn the_active_kid_selects_among_private_keys() {
        let json = set(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","d":"{D1}"}},{{"kty":"OKP","crv":"Ed25519","kid":"b","d":"{D2}"}}"#
        ));
        assert_eq!(
            KeySet::from_jwks_json(&json, Some("b"))
                .unwrap()
                .active()
                .kid,
            "b"
        );
        assert_eq!(
            KeySet::from_jwks_json(&json, Some("c")).unwrap_err(),
            KeySetError::UnknownActiveKid("c".into())
        );
    }

    #[test]
    fn the_public_jwks_never_carries_a_private_part() {
        let json = set(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","d":"{D1}"}}"#
        ));
        let jwks = KeySet::from_jwks_json(&json, None).unwrap().public_jwks();
        let text = jwks.to_string();
        assert!(!text.contains(D1));
        assert!(!text.contains("\"d\""));
        assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
        assert_eq!(jwks["keys"][0]["use"], "sig");
    }

    #[test]
    fn malformed_sets_are_refused() {
        assert!(KeySet::from_jwks_json("nope", None).is_err());
        assert_eq!(
            KeySet::from_jwks_json(r#"{"keys":[]}"#, None).unwrap_err(),
            KeySetError::Empty
        );
        let rsa = set(r#"{"kty":"RSA","crv":"Ed25519","kid":"a","d":"AA"}"#);
        assert!(KeySet::from_jwks_json(&rsa, None).is_err());
        let dup = set(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","d":"{D1}"}},{{"kty":"OKP","crv":"Ed25519","kid":"a","d":"{D2}"}}"#
        ));
        assert_eq!(
            KeySet::from_jwks_json(&dup, None).unwrap_err(),
            KeySetError::DuplicateKid("a".into())
        );
        let mismatch = set(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","d":"{D2}","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}"#
        ));
        assert!(KeySet::from_jwks_json(&mismatch, None).is_err());
        let public_only = set(
            r#"{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        );
        assert_eq!(
            KeySet::from_jwks_json(&public_only, None).unwrap_err(),
            KeySetError::NoSigningKey
        );
    }
}
