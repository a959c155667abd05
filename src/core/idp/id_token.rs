//! Verification of an OpenID Connect ID token (OIDC Core 3.1.3.7) against the provider's
//! JWKS. Only asymmetric algorithms are accepted (RS256, ES256): `none` and every HMAC are
//! refused before any key is looked at, so a public key can never serve as an HMAC secret.
//! `now` is an input, so the rules are tested against tokens signed by real keys.

use crate::core::crypto::b64url_decode;
use jwt_compact::alg::{Es256, Rsa, RsaPublicKey, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, UntrustedToken};
use serde::Deserialize;

const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A verification key of the provider.
#[derive(Debug, Clone)]
enum Key {
    Rs256(StrongKey<RsaPublicKey>),
    Es256(p256::ecdsa::VerifyingKey),
}

#[derive(Debug, Clone)]
struct Entry {
    kid: Option<String>,
    key: Key,
}

/// The usable signing keys of a provider's JWKS. Keys of other types, curves or uses
/// (encryption keys, HMAC secrets, weak RSA) are left out, not failed on: providers publish
/// them alongside.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Entry>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl Jwks {
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawSet = serde_json::from_str(json).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = Vec::new();
        for k in raw.keys {
            if k.get("use").is_some_and(|u| u != "sig") {
                continue;
            }
            let kid = k.get("kid").and_then(|v| v.as_str()).map(str::to_owned);
            let alg = k.get("alg").and_then(|v| v.as_str()).map(str::to_owned);
            let Ok(jwk) = serde_json::from_value::<JsonWebKey<'_>>(k) else {
                continue;
            };
            let key = match (&jwk, alg.as_deref()) {
                (JsonWebKey::Rsa { .. }, None | Some("RS256")) => RsaPublicKey::try_from(&jwk)
                    .ok()
                    .and_then(|k| StrongKey::try_from(k).ok())
                    .map(Key::Rs256),
                (JsonWebKey::EllipticCurve { .. }, None | Some("ES256")) => {
                    p256::ecdsa::VerifyingKey::try_from(&jwk)
                        .ok()
                        .map(Key::Es256)
                }
                _ => None,
            };
            if let Some(key) = key {
                keys.push(Entry { kid, key });
            }
        }
        Ok(Self { keys })
    }

    /// The keys a token with this `alg` and `kid` may be checked with. Without a `kid` in the
    /// token, every key of the algorithm is a candidate (a provider with one key may omit it).
    fn candidates<'a>(
        &'a self,
        alg: &'a str,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Key> {
        self.keys
            .iter()
            .filter(move |e| match kid {
                Some(kid) => e.kid.as_deref() == Some(kid),
                None => true,
            })
            .map(|e| &e.key)
            .filter(move |k| {
                matches!(
                    (k, alg),
                    (Key::Rs256(_), "RS256") | (Key::Es256(_), "ES256")
                )
            })
    }
}

/// What the token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// Accepted `iss` values (Google also issues `accounts.google.com` without a scheme).
    pub issuers: &'a [&'a str],
    /// Our client id (ID token) or the configured audience (token exchange).
    pub audience: &'a str,
    /// The nonce of the sign-in (ID token); `None` for token exchange, which has none.
    pub nonce: Option<&'a str>,
    /// Accepted `alg` values, a subset of RS256 and ES256.
    pub algorithms: &'a [&'a str],
    pub now: i64,
    pub leeway_s: i64,
}

/// Both algorithms an ID token may be signed with.
pub const ID_TOKEN_ALGORITHMS: &[&str] = &["RS256", "ES256"];

/// The identity an ID token asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub sub: String,
    pub email: Option<String>,
    /// Only `true` when the provider says so explicitly.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why an ID token was refused (logged; the app learns only that the sign-in failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    Malformed,
    /// `none`, HMAC or another algorithm we do not accept.
    Algorithm(String),
    /// No key of the JWKS has this `kid`: the provider may have rotated (refetch once).
    UnknownKey,
    BadSignature,
    Claim(&'static str),
    Expired,
    NotYetValid,
}

impl std::fmt::Display for IdTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    /// Some providers send `"true"`.
    Text(String),
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    azp: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<Flag>,
    name: Option<String>,
}

type HeaderExtras = serde_json::Map<String, serde_json::Value>;

pub fn verify(token: &str, jwks: &Jwks, expect: &Expect<'_>) -> Result<IdClaims, IdTokenError> {
    if token.len() > MAX_TOKEN_LEN
        || token.bytes().filter(|b| *b == b'.').count() != 2
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(IdTokenError::Malformed);
    }
    let untrusted =
        UntrustedToken::<HeaderExtras>::try_from(token).map_err(|_| IdTokenError::Malformed)?;
    let alg = untrusted.algorithm().to_owned();
    if (alg != "RS256" && alg != "ES256") || !expect.algorithms.contains(&alg.as_str()) {
        return Err(IdTokenError::Algorithm(alg));
    }
    let header = untrusted.header();
    // Key material or key locations in the header would let the token pick its own key.
    if header.key_set_url.is_some()
        || header.certificate_url.is_some()
        || header.other_fields.contains_key("jwk")
        || header.other_fields.contains_key("crit")
    {
        return Err(IdTokenError::Malformed);
    }
    let kid = header.key_id.as_deref();
    let mut tried = false;
    let mut valid = false;
    for key in jwks.candidates(&alg, kid) {
        tried = true;
        valid = match key {
            Key::Rs256(k) => Rsa::rs256()
                .validator::<serde_json::Value>(k.as_ref())
                .validate(&untrusted)
                .is_ok(),
            Key::Es256(k) => Es256
                .validator::<serde_json::Value>(k)
                .validate(&untrusted)
                .is_ok(),
        };
        if valid {
            break;
        }
    }
    if !tried {
        return Err(IdTokenError::UnknownKey);
    }
    if !valid {
        return Err(IdTokenError::BadSignature);
    }

    let payload = token.split('.').nth(1).ok_or(IdTokenError::Malformed)?;
    let bytes = b64url_decode(payload).ok_or(IdTokenError::Malformed)?;
    let c: RawClaims = serde_json::from_slice(&bytes).map_err(|_| IdTokenError::Claim("shape"))?;
    if !c
        .iss
        .as_deref()
        .is_some_and(|i| expect.issuers.contains(&i))
    {
        return Err(IdTokenError::Claim("iss"));
    }
    let (aud_ok, many) = match &c.aud {
        Some(Audience::One(a)) => (a == expect.audience, false),
        Some(Audience::Many(v)) => (v.iter().any(|a| a == expect.audience), v.len() > 1),
        None => (false, false),
    };
    if !aud_ok {
        return Err(IdTokenError::Claim("aud"));
    }
    // ID token (OIDC Core 3.1.3.7): with several audiences the authorized party must be us;
    // when present it must be us. Other JWTs use `azp` for their own purposes.
    if expect.nonce.is_some() {
        match c.azp.as_deref() {
            Some(azp) if azp != expect.audience => return Err(IdTokenError::Claim("azp")),
            None if many => return Err(IdTokenError::Claim("azp")),
            _ => {}
        }
    }
    let exp = c.exp.ok_or(IdTokenError::Claim("exp"))?;
    let iat = c.iat.ok_or(IdTokenError::Claim("iat"))?;
    if exp.saturating_add(expect.leeway_s) < expect.now {
        return Err(IdTokenError::Expired);
    }
    if iat.saturating_sub(expect.leeway_s) > expect.now
        || c.nbf
            .is_some_and(|n| n.saturating_sub(expect.leeway_s) > expect.now)
    {
        return Err(IdTokenError::NotYetValid);
    }
    if let Some(nonce) = expect.nonce {
        if c.nonce.as_deref() != Some(nonce) {
            return Err(IdTokenError::Claim("nonce"));
        }
    }
    let sub = c
        .sub
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or(IdTokenError::Claim("sub"))?;
    let email_verified = match c.email_verified {
        Some(Flag::Bool(b)) => b,
        Some(Flag::Text(t)) => t == "true",
        None => false,
    };
    Ok(IdClaims {
        sub,
        email: c.email.filter(|e| !e.is_empty()),
        email_verified,
        name: c.name.filter(|n| !n.is_empty()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jwt_compact::alg::{Hs256, Hs256Key, ModulusBits, RsaPrivateKey};
    use jwt_compact::{Claims, Header};
    use serde_json::json;
    use std::sync::OnceLock;

    const ISS: &str = "https://id.example.test";
    const CLIENT: &str = "edgeward";
    const NOW: i64 = 1_800_000_000;

    pub(crate) fn rsa_key() -> &'static StrongKey<RsaPrivateKey> {
        static KEY: OnceLock<StrongKey<RsaPrivateKey>> = OnceLock::new();
        KEY.get_or_init(|| {
            Rsa::generate(&mut rand_core::OsRng, ModulusBits::TwoKibibytes)
                .unwrap()
                .0
        })
    }

    fn ec_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn jwks() -> Jwks {
        let rsa_pub = rsa_key().to_public_key();
        let ec_pub = *ec_key().verifying_key();
        let mut rsa = serde_json::to_value(JsonWebKey::from(rsa_pub.as_ref())).unwrap();
        rsa["kid"] = json!("r1");
        rsa["use"] = json!("sig");
        let mut ec = serde_json::to_value(JsonWebKey::from(&ec_pub)).unwrap();
        ec["kid"] = json!("e1");
        // An encryption key and an HMAC secret published alongside are ignored, not trusted.
        let mut enc = rsa.clone();
        enc["kid"] = json!("enc");
        enc["use"] = json!("enc");
        let oct =
            json!({"kty": "oct", "kid": "h1", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"});
        Jwks::parse(&json!({"keys": [rsa, ec, enc, oct]}).to_string()).unwrap()
    }

    fn claims() -> serde_json::Value {
        json!({"iss": ISS, "sub": "248289761001", "aud": CLIENT, "exp": NOW + 300, "iat": NOW,
               "nonce": "n-0S6_WzA2Mj", "email": "ada@example.com", "email_verified": true, "name": "Ada"})
    }

    fn rs256(kid: &str, c: serde_json::Value) -> String {
        Rsa::rs256()
            .token(
                &Header::empty().with_key_id(kid),
                &Claims::new(c),
                rsa_key().as_ref(),
            )
            .unwrap()
    }

    fn es256(kid: &str, c: serde_json::Value) -> String {
        Es256
            .token(
                &Header::empty().with_key_id(kid),
                &Claims::new(c),
                &ec_key(),
            )
            .unwrap()
    }

    fn expect() -> Expect<'static> {
        Expect {
            issuers: &[ISS],
            audience: CLIENT,
            nonce: Some("n-0S6_WzA2Mj"),
            algorithms: ID_TOKEN_ALGORITHMS,
            now: NOW,
            leeway_s: 60,
        }
    }

    #[test]
    fn rs256_and_es256_tokens_of_the_provider_verify_and_give_the_identity() {
        let keys = jwks();
        let want = IdClaims {
            sub: "248289761001".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            name: Some("Ada".into()),
        };
        assert_eq!(
            verify(&rs256("r1", claims()), &keys, &expect()),
            Ok(want.clone())
        );
        assert_eq!(verify(&es256("e1", claims()), &keys, &expect()), Ok(want));
        let mut c = claims();
        c["email_verified"] = json!("false");
        assert!(
            !verify(&rs256("r1", c), &keys, &expect())
                .unwrap()
                .email_verified
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("email_verified");
        assert!(
            !verify(&rs256("r1", c), &keys, &expect())
                .unwrap()
                .email_verified
        );
    }

    #[test]
    fn none_and_hmac_tokens_are_refused_before_any_key_is_used() {
        let keys = jwks();
        let body = crate::core::crypto::b64url(claims().to_string().as_bytes());
        let none = format!(
            "{}.{body}.",
            crate::core::crypto::b64url(br#"{"alg":"none"}"#)
        );
        assert!(verify(&none, &keys, &expect()).is_err());
        let unsigned = format!(
            "{}.{body}.AAAA",
            crate::core::crypto::b64url(br#"{"alg":"none","kid":"r1"}"#)
        );
        assert_eq!(
            verify(&unsigned, &keys, &expect()),
            Err(IdTokenError::Algorithm("none".into()))
        );
        // HS256 keyed with the published RSA modulus (the classic confusion) and with the oct key.
        let n = serde_json::to_value(JsonWebKey::from(rsa_key().to_public_key().as_ref())).unwrap();
        let secret = Hs256Key::new(n["n"].as_str().unwrap().as_bytes());
        let hs = Hs256
            .token(
                &Header::empty().with_key_id("r1"),
                &Claims::new(claims()),
                &secret,
            )
            .unwrap();
        assert_eq!(
            verify(&hs, &keys, &expect()),
            Err(IdTokenError::Algorithm("HS256".into()))
        );
    }

    #[test]
    fn a_tampered_token_or_a_foreign_key_fails_the_signature_and_an_unknown_kid_asks_for_a_refetch()
    {
        let keys = jwks();
        let token = rs256("r1", claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut c = claims();
        c["sub"] = json!("someone-else");
        parts[1] = crate::core::crypto::b64url(c.to_string().as_bytes());
        assert_eq!(
            verify(&parts.join("."), &keys, &expect()),
            Err(IdTokenError::BadSignature)
        );
        // Signed by an EC key we do not know, under a kid we do.
        let other = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let forged = Es256
            .token(
                &Header::empty().with_key_id("e1"),
                &Claims::new(claims()),
                &other,
            )
            .unwrap();
        assert_eq!(
            verify(&forged, &keys, &expect()),
            Err(IdTokenError::BadSignature)
        );
        assert_eq!(
            verify(&rs256("r2", claims()), &keys, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        // The encryption key is not a signing key, the EC kid does not sign RS256.
        assert_eq!(
            verify(&rs256("enc", claims()), &keys, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        assert_eq!(
            verify(&rs256("e1", claims()), &keys, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        assert_eq!(
            verify("a.b", &keys, &expect()),
            Err(IdTokenError::Malformed)
        );
    }

    #[test]
    fn issuer_audience_azp_nonce_and_times_are_checked_with_leeway() {
        let keys = jwks();
        let refused = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims();
            change(&mut c);
            verify(&rs256("r1", c), &keys, &expect()).unwrap_err()
        };
        assert_eq!(
            refused(&|c| c["iss"] = json!("https://evil.example")),
            IdTokenError::Claim("iss")
        );
        assert_eq!(
            refused(&|c| c["aud"] = json!("another-client")),
            IdTokenError::Claim("aud")
        );
        assert_eq!(
            refused(&|c| c["aud"] = json!([CLIENT, "other"])),
            IdTokenError::Claim("azp")
        );
        assert_eq!(
            refused(&|c| c["azp"] = json!("other")),
            IdTokenError::Claim("azp")
        );
        assert_eq!(
            refused(&|c| c["nonce"] = json!("replayed")),
            IdTokenError::Claim("nonce")
        );
        assert_eq!(
            refused(&|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
            IdTokenError::Claim("nonce")
        );
        assert_eq!(
            refused(&|c| c["exp"] = json!(NOW - 61)),
            IdTokenError::Expired
        );
        assert_eq!(
            refused(&|c| c["iat"] = json!(NOW + 61)),
            IdTokenError::NotYetValid
        );
        assert_eq!(
            refused(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            IdTokenError::Claim("exp")
        );
        assert_eq!(
            refused(&|c| c["sub"] = json!("")),
            IdTokenError::Claim("sub")
        );
        // Within the leeway, and with several audiences and azp = us: accepted.
        let mut c = claims();
        c["exp"] = json!(NOW - 59);
        c["aud"] = json!([CLIENT, "other"]);
        c["azp"] = json!(CLIENT);
        assert!(verify(&rs256("r1", c), &keys, &expect()).is_ok());
    }

    #[test]
    fn an_exchanged_jwt_needs_no_nonce_and_only_the_configured_algorithms_pass() {
        let keys = jwks();
        let mut c = claims();
        c.as_object_mut().unwrap().remove("nonce");
        c["azp"] = json!("some-other-party");
        let exchange = Expect {
            nonce: None,
            algorithms: &["ES256"],
            ..expect()
        };
        assert!(verify(&es256("e1", c.clone()), &keys, &exchange).is_ok());
        assert_eq!(
            verify(&rs256("r1", c), &keys, &exchange),
            Err(IdTokenError::Algorithm("RS256".into()))
        );
    }
}
