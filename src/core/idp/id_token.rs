//! Verification of an OpenID Connect ID token (OIDC Core 3.1.3.7), or of an external JWT for
//! token exchange, against the issuer's JWKS. Only asymmetric algorithms are accepted (RS256,
//! ES256): `none` and every HMAC are refused before any key is looked at, so a public key can
//! never serve as an HMAC secret.
//!
//! The signature itself is checked by the caller (`check`): the edge hands it to the runtime's
//! WebCrypto (`edge::idp`), which costs the Worker no RSA or P-256 code; the native tests check
//! it with pure-Rust implementations against real keys. Everything else — which keys may be
//! tried, the header, the claims — is decided here; `now` is an input.

use crate::core::crypto::b64url_decode;
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_TOKEN_LEN: usize = 16 * 1024;
/// RFC 7518 section 3.3: RSA keys of 2048 bits or more.
const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256 (signature: r || s, 64 bytes).
    Es256,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

/// A verification key of the issuer: its algorithm and its public JWK, reduced to the members
/// WebCrypto's `importKey("jwk", …)` needs (no `alg`, `use` or `key_ops` to disagree with).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub alg: Alg,
    pub jwk: Value,
}

#[derive(Debug, Clone)]
struct Entry {
    kid: Option<String>,
    key: Key,
}

/// The usable signing keys of an issuer's JWKS. Keys of other types, curves or uses
/// (encryption keys, HMAC secrets, RSA under 2048 bits) are left out, not failed on: issuers
/// publish them alongside.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Entry>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Value>,
}

fn b64_member(k: &Value, name: &str) -> Option<Vec<u8>> {
    k.get(name).and_then(Value::as_str).and_then(b64url_decode)
}

fn usable(k: &Value) -> Option<Key> {
    if k.get("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let alg = k.get("alg").and_then(Value::as_str);
    match (k.get("kty").and_then(Value::as_str)?, alg) {
        ("RSA", None | Some("RS256")) => {
            let n = b64_member(k, "n")?;
            let e = b64_member(k, "e")?;
            let n_bits = n
                .iter()
                .position(|b| *b != 0)
                .map_or(0, |i| (n.len() - i) * 8 - n[i].leading_zeros() as usize);
            (n_bits >= MIN_RSA_BITS && !e.is_empty()).then(|| Key {
                alg: Alg::Rs256,
                jwk: json!({"kty": "RSA", "n": k["n"], "e": k["e"]}),
            })
        }
        ("EC", None | Some("ES256")) => {
            let on_p256 = k.get("crv").and_then(Value::as_str) == Some("P-256");
            let x = b64_member(k, "x")?;
            let y = b64_member(k, "y")?;
            (on_p256 && x.len() == 32 && y.len() == 32).then(|| Key {
                alg: Alg::Es256,
                jwk: json!({"kty": "EC", "crv": "P-256", "x": k["x"], "y": k["y"]}),
            })
        }
        _ => None,
    }
}

impl Jwks {
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawSet = serde_json::from_str(json).map_err(|e| format!("not a JWKS: {e}"))?;
        let keys = raw
            .keys
            .iter()
            .filter_map(|k| {
                usable(k).map(|key| Entry {
                    kid: k.get("kid").and_then(Value::as_str).map(str::to_owned),
                    key,
                })
            })
            .collect();
        Ok(Self { keys })
    }

    /// The keys a token with this `alg` and `kid` may be checked with. Without a `kid` in the
    /// token, every key of the algorithm is a candidate (an issuer with one key may omit it).
    fn candidates(&self, alg: Alg, kid: Option<&str>) -> Vec<Key> {
        self.keys
            .iter()
            .filter(|e| kid.is_none_or(|kid| e.kid.as_deref() == Some(kid)))
            .filter(|e| e.key.alg == alg)
            .map(|e| e.key.clone())
            .collect()
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

/// The identity a token asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub sub: String,
    pub email: Option<String>,
    /// Only `true` when the issuer says so explicitly.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a token was refused (logged; the app learns only that the sign-in failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    Malformed,
    /// `none`, HMAC or another algorithm we do not accept.
    Algorithm(String),
    /// No key of the JWKS has this `kid`: the issuer may have rotated (refetch once).
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

/// A token whose header passed: what its signature must be checked with.
#[derive(Debug, Clone)]
pub struct Signed<'a> {
    /// `header.payload`, the signed bytes.
    pub input: &'a str,
    pub signature: Vec<u8>,
    /// The keys to try, in order; one must verify the signature.
    pub keys: Vec<Key>,
}

/// Checks the token's form and header and picks the keys its signature may be checked with.
pub fn prepare<'t>(
    token: &'t str,
    jwks: &Jwks,
    expect: &Expect<'_>,
) -> Result<Signed<'t>, IdTokenError> {
    if token.len() > MAX_TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(IdTokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed);
    };
    let header: serde_json::Map<String, Value> = b64url_decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(IdTokenError::Malformed)?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(IdTokenError::Malformed)?;
    let alg = Alg::parse(alg_name)
        .filter(|_| expect.algorithms.contains(&alg_name))
        .ok_or_else(|| IdTokenError::Algorithm(alg_name.to_owned()))?;
    // Key material or key locations in the header would let the token pick its own key.
    if ["jku", "jwk", "x5u", "x5c", "crit"]
        .iter()
        .any(|k| header.contains_key(*k))
    {
        return Err(IdTokenError::Malformed);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(IdTokenError::Malformed),
    };
    let keys = jwks.candidates(alg, kid);
    if keys.is_empty() {
        return Err(IdTokenError::UnknownKey);
    }
    let signature = b64url_decode(sig).ok_or(IdTokenError::Malformed)?;
    if alg == Alg::Es256 && signature.len() != 64 {
        return Err(IdTokenError::BadSignature);
    }
    let input = &token[..h.len()
        + 1
        + token[h.len() + 1..]
            .find('.')
            .ok_or(IdTokenError::Malformed)?];
    Ok(Signed {
        input,
        signature,
        keys,
    })
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

/// The claims of a token whose signature was verified: `iss`, `aud`, `azp` (ID tokens),
/// `exp`/`iat`/`nbf` with leeway, `nonce` (ID tokens), `sub`.
pub fn claims(token: &str, expect: &Expect<'_>) -> Result<IdClaims, IdTokenError> {
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

/// The whole check with a synchronous signature check (`check(key, alg, input, signature)`);
/// the edge does the same steps with WebCrypto in between.
#[cfg(test)]
pub fn verify(
    token: &str,
    jwks: &Jwks,
    expect: &Expect<'_>,
    check: impl Fn(&Key, &[u8], &[u8]) -> bool,
) -> Result<IdClaims, IdTokenError> {
    let signed = prepare(token, jwks, expect)?;
    if !signed
        .keys
        .iter()
        .any(|k| check(k, signed.input.as_bytes(), &signed.signature))
    {
        return Err(IdTokenError::BadSignature);
    }
    claims(token, expect)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jwt_compact::alg::{
        Es256, Hs256, Hs256Key, ModulusBits, Rsa, RsaPrivateKey, RsaPublicKey, RsaSignature,
        StrongKey,
    };
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{Algorithm, AlgorithmExt, AlgorithmSignature, Claims, Header};
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

    /// The signature check the edge leaves to WebCrypto, here with pure-Rust RSA and P-256.
    fn native(key: &Key, input: &[u8], signature: &[u8]) -> bool {
        let jwk: JsonWebKey<'_> = serde_json::from_value(key.jwk.clone()).unwrap();
        match key.alg {
            Alg::Rs256 => {
                let public = RsaPublicKey::try_from(&jwk).unwrap();
                RsaSignature::try_from_slice(signature)
                    .is_ok_and(|s| Rsa::rs256().verify_signature(&s, &public, input))
            }
            Alg::Es256 => {
                let public = p256::ecdsa::VerifyingKey::try_from(&jwk).unwrap();
                p256::ecdsa::Signature::try_from_slice(signature)
                    .is_ok_and(|s| Es256.verify_signature(&s, &public, input))
            }
        }
    }

    fn check(token: &str, jwks: &Jwks, expect: &Expect<'_>) -> Result<IdClaims, IdTokenError> {
        verify(token, jwks, expect, native)
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
            check(&rs256("r1", claims()), &keys, &expect()),
            Ok(want.clone())
        );
        assert_eq!(check(&es256("e1", claims()), &keys, &expect()), Ok(want));
        let mut c = claims();
        c["email_verified"] = json!("false");
        assert!(
            !check(&rs256("r1", c), &keys, &expect())
                .unwrap()
                .email_verified
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("email_verified");
        assert!(
            !check(&rs256("r1", c), &keys, &expect())
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
        assert!(check(&none, &keys, &expect()).is_err());
        let unsigned = format!(
            "{}.{body}.AAAA",
            crate::core::crypto::b64url(br#"{"alg":"none","kid":"r1"}"#)
        );
        assert_eq!(
            check(&unsigned, &keys, &expect()),
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
            check(&hs, &keys, &expect()),
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
            check(&parts.join("."), &keys, &expect()),
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
            check(&forged, &keys, &expect()),
            Err(IdTokenError::BadSignature)
        );
        assert_eq!(
            check(&rs256("r2", claims()), &keys, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        // The encryption key is not a signing key, the EC kid does not sign RS256.
        assert_eq!(
            check(&rs256("enc", claims()), &keys, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        assert_eq!(
            check(&rs256("e1", claims()), &keys, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        assert_eq!(check("a.b", &keys, &expect()), Err(IdTokenError::Malformed));
    }

    #[test]
    fn issuer_audience_azp_nonce_and_times_are_checked_with_leeway() {
        let keys = jwks();
        let refused = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims();
            change(&mut c);
            check(&rs256("r1", c), &keys, &expect()).unwrap_err()
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
        assert!(check(&rs256("r1", c), &keys, &expect()).is_ok());
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
        assert!(check(&es256("e1", c.clone()), &keys, &exchange).is_ok());
        assert_eq!(
            check(&rs256("r1", c), &keys, &exchange),
            Err(IdTokenError::Algorithm("RS256".into()))
        );
    }
}
