//! WebAuthn Level 3 passkeys, the relying party's side: the options a browser's
//! `navigator.credentials.create()/get()` takes (as their `toJSON()` shapes, base64url
//! strings), and the checks of what comes back: `clientDataJSON` (type, challenge, origin,
//! `crossOrigin`), `authenticatorData` (RP ID hash, UP/UV/AT flags, sign count), the
//! attestation object (CBOR), COSE public keys (ES256, EdDSA, RS256) and the assertion
//! signature over `authenticatorData || SHA-256(clientDataJSON)`.
//!
//! Pure: the challenge's single use is the edge's (one atomic D1 statement), and so are the
//! ES256 and RS256 signature checks (WebCrypto: no P-256 or RSA code in the Worker);
//! `Verify` says what to check and with which JWK. Ed25519 is checked here (ed25519-dalek is
//! in the Worker already).
//!
//! Attestation: every format is accepted and its statement ignored, i.e. treated as `none`
//! (the options ask for `none`; a passkey is trusted because the signed-in user registered
//! it, not because of its maker). The AAGUID is stored for display only.

use crate::core::crypto::{b64url, b64url_decode, looks_like_opaque_token};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Seconds a challenge lives: long enough to find the security key or unlock the phone.
pub const CHALLENGE_TTL_S: i64 = 300;
/// What the browser is told to wait for (milliseconds).
pub const TIMEOUT_MS: i64 = 240_000;
/// A passkey name as shown in the list.
pub const MAX_NAME_CHARS: usize = 64;
/// Passkeys one account may hold: more than any person uses (a phone, a laptop, a few
/// security keys), few enough that the list and sign-in lookups stay small.
pub const MAX_PASSKEYS_PER_USER: i64 = 20;
/// Credential ids are at most 1023 bytes (WebAuthn L3 5.8.3).
const MAX_CREDENTIAL_ID: usize = 1023;

/// COSE algorithm identifiers (IANA COSE registry), in our order of preference.
pub const ES256: i64 = -7;
pub const EDDSA: i64 = -8;
pub const RS256: i64 = -257;

/// Who the passkeys are for: the RP ID (a registrable domain, or `localhost`), the exact
/// origins a ceremony may come from, and the name shown by the authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub name: String,
    pub origins: Vec<String>,
}

/// Why a response was refused. Each is a 401 `invalid_passkey` (or, for a shape error, a 400)
/// at the edge; the text is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebauthnError {
    /// Not the JSON/base64url/CBOR shapes the specification defines.
    Malformed(&'static str),
    WrongType,
    UnknownChallenge,
    OriginNotAllowed,
    CrossOrigin,
    RpIdHashMismatch,
    UserNotPresent,
    UserNotVerified,
    /// A registration without attested credential data.
    NoCredentialData,
    UnsupportedAlgorithm,
    BadSignature,
    /// The counter did not move forward: perhaps a cloned authenticator.
    SignCountRegressed,
    UnknownCredential,
}

impl WebauthnError {
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Malformed(what) => what,
            Self::WrongType => "clientDataJSON.type is not the one of this ceremony",
            Self::UnknownChallenge => {
                "the challenge is unknown, expired or already used; ask for new options"
            }
            Self::OriginNotAllowed => "the origin is not one of this relying party's",
            Self::CrossOrigin => "cross-origin ceremonies are not accepted",
            Self::RpIdHashMismatch => "the authenticator data is for another relying party",
            Self::UserNotPresent => "the authenticator did not test user presence",
            Self::UserNotVerified => "the authenticator did not verify the user",
            Self::NoCredentialData => "the attestation carries no credential",
            Self::UnsupportedAlgorithm => {
                "the credential's key is not ES256, EdDSA (Ed25519) or RS256"
            }
            Self::BadSignature => "the assertion's signature does not verify",
            Self::SignCountRegressed => {
                "the authenticator's signature counter went backwards (a cloned authenticator?)"
            }
            Self::UnknownCredential => "no passkey of this relying party has this credential id",
        }
    }

    /// A shape error is the client's bug (400); everything else is a refused ceremony (401).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::Malformed(_))
    }
}

fn malformed(what: &'static str) -> WebauthnError {
    WebauthnError::Malformed(what)
}

// ---------------------------------------------------------------------------------------------
// Options

/// A passkey already registered, as the options name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub credential_id: Vec<u8>,
    pub transports: Vec<String>,
}

fn descriptor(e: &Existing) -> Value {
    let mut d = json!({"type": "public-key", "id": b64url(&e.credential_id)});
    if !e.transports.is_empty() {
        d["transports"] = json!(e.transports);
    }
    d
}

/// `PublicKeyCredentialCreationOptionsJSON`. `user_handle` is opaque (never the e-mail);
/// existing passkeys are excluded so one authenticator is not registered twice.
pub fn creation_options(
    rp: &RelyingParty,
    challenge: &str,
    user_handle: &[u8],
    user_name: &str,
    display_name: &str,
    existing: &[Existing],
) -> Value {
    let params: Vec<Value> = [ES256, EDDSA, RS256]
        .iter()
        .map(|alg| json!({"type": "public-key", "alg": alg}))
        .collect();
    let excluded: Vec<Value> = existing.iter().map(descriptor).collect();
    json!({
        "rp": {"id": rp.id, "name": rp.name},
        "user": {"id": b64url(user_handle), "name": user_name, "displayName": display_name},
        "challenge": challenge,
        "pubKeyCredParams": params,
        "timeout": TIMEOUT_MS,
        "excludeCredentials": excluded,
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": "required",
        },
        "attestation": "none",
        "hints": [],
        "extensions": {"credProps": true},
    })
}

/// `PublicKeyCredentialRequestOptionsJSON` for a usernameless sign-in (discoverable
/// credentials: no allow list) or a reauthentication.
pub fn request_options(rp: &RelyingParty, challenge: &str) -> Value {
    json!({
        "challenge": challenge,
        "timeout": TIMEOUT_MS,
        "rpId": rp.id,
        "allowCredentials": [],
        "userVerification": "required",
        "hints": [],
    })
}

// ---------------------------------------------------------------------------------------------
// Responses (WebAuthn L3 `toJSON()` shapes)

/// Members not named here (`authenticatorAttachment`, `clientExtensionResults`, and the
/// response's `authenticatorData`, `publicKey`, `publicKeyAlgorithm` conveniences, which
/// repeat the attestation object) are ignored: everything is taken from the signed bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponseJson {
    pub id: String,
    pub raw_id: String,
    pub response: AttestationResponseJson,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponseJson {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub attestation_object: String,
    #[serde(default)]
    pub transports: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponseJson {
    pub id: String,
    pub raw_id: String,
    pub response: AssertionResponseJson,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponseJson {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub authenticator_data: String,
    pub signature: String,
    #[serde(default)]
    pub user_handle: Option<String>,
}

fn b64(field: &str, what: &'static str) -> Result<Vec<u8>, WebauthnError> {
    // Some clients pad; the bytes are the same.
    b64url_decode(field.trim_end_matches('=')).ok_or(malformed(what))
}

fn credential_id(id: &str, raw_id: &str, kind: &str) -> Result<Vec<u8>, WebauthnError> {
    if kind != "public-key" {
        return Err(malformed("credential.type must be \"public-key\""));
    }
    let raw = b64(raw_id, "credential.rawId is not base64url")?;
    if raw.is_empty() || raw.len() > MAX_CREDENTIAL_ID {
        return Err(malformed("credential.rawId must be 1 to 1023 bytes"));
    }
    if b64(id, "credential.id is not base64url")? != raw {
        return Err(malformed("credential.id and rawId differ"));
    }
    Ok(raw)
}

// ---------------------------------------------------------------------------------------------
// clientDataJSON

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default)]
    cross_origin: Option<bool>,
}

/// Checks the client data of a ceremony of `kind` ("webauthn.create" or "webauthn.get") and
/// returns its challenge (base64url, as issued), for the edge to spend.
pub fn check_client_data(
    raw: &[u8],
    kind: &str,
    rp: &RelyingParty,
) -> Result<String, WebauthnError> {
    let cd: ClientData =
        serde_json::from_slice(raw).map_err(|_| malformed("clientDataJSON is not client data"))?;
    if cd.kind != kind {
        return Err(WebauthnError::WrongType);
    }
    // Our challenges are 32 random bytes as 43 base64url characters; anything else was never
    // issued.
    if !looks_like_opaque_token(&cd.challenge) {
        return Err(WebauthnError::UnknownChallenge);
    }
    if !rp.origins.contains(&cd.origin) {
        return Err(WebauthnError::OriginNotAllowed);
    }
    if cd.cross_origin == Some(true) {
        return Err(WebauthnError::CrossOrigin);
    }
    Ok(cd.challenge)
}

// ---------------------------------------------------------------------------------------------
// authenticatorData

pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_BE: u8 = 0x08;
pub const FLAG_BS: u8 = 0x10;
pub const FLAG_AT: u8 = 0x40;
pub const FLAG_ED: u8 = 0x80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    /// The COSE_Key, as the authenticator encoded it (stored as is).
    pub public_key_cose: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
}

impl AuthenticatorData {
    pub fn parse(bytes: &[u8]) -> Result<Self, WebauthnError> {
        let bad = || malformed("authenticatorData is truncated or malformed");
        if bytes.len() < 37 {
            return Err(bad());
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = bytes[32];
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        let mut rest = &bytes[37..];
        let attested = if flags & FLAG_AT != 0 {
            if rest.len() < 18 {
                return Err(bad());
            }
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&rest[..16]);
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            rest = &rest[18..];
            if len == 0 || len > MAX_CREDENTIAL_ID || rest.len() < len {
                return Err(bad());
            }
            let credential_id = rest[..len].to_vec();
            rest = &rest[len..];
            // The COSE key is one CBOR item whose length only its encoding tells.
            let mut d = minicbor::Decoder::new(rest);
            d.skip().map_err(|_| bad())?;
            let key_len = d.position();
            let public_key_cose = rest[..key_len].to_vec();
            rest = &rest[key_len..];
            Some(AttestedCredential {
                aaguid,
                credential_id,
                public_key_cose,
            })
        } else {
            None
        };
        if flags & FLAG_ED != 0 {
            let mut d = minicbor::Decoder::new(rest);
            d.skip().map_err(|_| bad())?;
            rest = &rest[d.position()..];
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }

    /// The checks of both ceremonies: this RP's ID hash, user present and verified (the
    /// options require verification: a passkey is then two factors in one).
    fn check(&self, rp: &RelyingParty) -> Result<(), WebauthnError> {
        if self.rp_id_hash[..] != Sha256::digest(rp.id.as_bytes())[..] {
            return Err(WebauthnError::RpIdHashMismatch);
        }
        if self.flags & FLAG_UP == 0 {
            return Err(WebauthnError::UserNotPresent);
        }
        if self.flags & FLAG_UV == 0 {
            return Err(WebauthnError::UserNotVerified);
        }
        Ok(())
    }

    /// Backup eligible: a synced (multi-device) passkey rather than one bound to a device.
    pub fn backup_eligible(&self) -> bool {
        self.flags & FLAG_BE != 0
    }

    pub fn backed_up(&self) -> bool {
        self.flags & FLAG_BS != 0
    }
}

// ---------------------------------------------------------------------------------------------
// COSE keys

/// A credential public key (RFC 9053 COSE_Key) of one of the accepted algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// EC2, P-256, alg -7.
    Es256 { x: [u8; 32], y: [u8; 32] },
    /// OKP, Ed25519, alg -8.
    Ed25519([u8; 32]),
    /// RSA, alg -257 (PKCS#1 v1.5 with SHA-256), 2048 bits or more.
    Rs256 { n: Vec<u8>, e: Vec<u8> },
}

fn cbor_int_key(d: &mut minicbor::Decoder<'_>) -> Result<Option<i64>, ()> {
    use minicbor::data::Type;
    match d.datatype().map_err(|_| ())? {
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::I8
        | Type::I16
        | Type::I32
        | Type::I64
        | Type::Int => d.i64().map(Some).map_err(|_| ()),
        _ => {
            d.skip().map_err(|_| ())?;
            Ok(None)
        }
    }
}

impl PublicKey {
    pub fn from_cose(bytes: &[u8]) -> Result<Self, WebauthnError> {
        use minicbor::data::Type;
        let bad = || malformed("the credential public key is not a COSE key");
        let mut d = minicbor::Decoder::new(bytes);
        let n = d.map().map_err(|_| bad())?.ok_or_else(bad)?;
        let (mut kty, mut alg, mut crv) = (None, None, None);
        let (mut x, mut y, mut n_, mut e) = (None, None, None, None);
        for _ in 0..n {
            let label = cbor_int_key(&mut d).map_err(|_| bad())?;
            let is_int = matches!(
                d.datatype().map_err(|_| bad())?,
                Type::U8
                    | Type::U16
                    | Type::U32
                    | Type::U64
                    | Type::I8
                    | Type::I16
                    | Type::I32
                    | Type::I64
                    | Type::Int
            );
            match (label, is_int) {
                (Some(1), true) => kty = Some(d.i64().map_err(|_| bad())?),
                (Some(3), true) => alg = Some(d.i64().map_err(|_| bad())?),
                // -1 is the curve for EC2/OKP and the modulus for RSA.
                (Some(-1), true) => crv = Some(d.i64().map_err(|_| bad())?),
                (Some(-1), false) => n_ = Some(d.bytes().map_err(|_| bad())?.to_vec()),
                (Some(-2), false) => {
                    let b = d.bytes().map_err(|_| bad())?.to_vec();
                    if kty == Some(3) {
                        e = Some(b)
                    } else {
                        x = Some(b)
                    }
                }
                (Some(-3), false) => y = Some(d.bytes().map_err(|_| bad())?.to_vec()),
                _ => d.skip().map_err(|_| bad())?,
            }
        }
        if d.position() != bytes.len() {
            return Err(bad());
        }
        // kty may come after -2 in a non-canonical map: settle x/e now.
        if kty == Some(3) && e.is_none() {
            e = x.take();
        }
        let fixed = |v: Option<Vec<u8>>| -> Result<[u8; 32], WebauthnError> {
            v.and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
                .ok_or_else(bad)
        };
        match (kty, alg) {
            (Some(2), Some(ES256)) if crv == Some(1) => Ok(Self::Es256 {
                x: fixed(x)?,
                y: fixed(y)?,
            }),
            (Some(1), Some(EDDSA)) if crv == Some(6) => Ok(Self::Ed25519(fixed(x)?)),
            (Some(3), Some(RS256)) => {
                let n = n_.ok_or_else(bad)?;
                let e = e.ok_or_else(bad)?;
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if bits < 2048 || e.is_empty() || e.len() > 8 {
                    return Err(WebauthnError::UnsupportedAlgorithm);
                }
                Ok(Self::Rs256 { n, e })
            }
            _ => Err(WebauthnError::UnsupportedAlgorithm),
        }
    }

    pub fn alg(&self) -> i64 {
        match self {
            Self::Es256 { .. } => ES256,
            Self::Ed25519(_) => EDDSA,
            Self::Rs256 { .. } => RS256,
        }
    }

    /// The JWK WebCrypto's `importKey("jwk", …)` takes, for the keys the edge checks there.
    pub fn jwk(&self) -> Option<Value> {
        match self {
            Self::Es256 { x, y } => Some(json!({
                "kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y),
            })),
            Self::Rs256 { n, e } => Some(json!({"kty": "RSA", "n": b64url(n), "e": b64url(e)})),
            Self::Ed25519(_) => None,
        }
    }
}

/// An ES256 signature as authenticators make it (ASN.1 DER `Ecdsa-Sig-Value`) as WebCrypto
/// verifies it (raw `r || s`, 32 bytes each). Strict DER: minimal lengths and integers.
pub fn der_to_raw_p256(der: &[u8]) -> Option<[u8; 64]> {
    fn int(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
            return None;
        }
        let (v, rest) = rest.split_at(len);
        // Positive, minimal: a leading zero only before a high bit.
        if v[0] & 0x80 != 0 || (v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0) {
            return None;
        }
        let v = if v.len() == 33 {
            if v[0] != 0 {
                return None;
            }
            &v[1..]
        } else {
            v
        };
        Some((v, rest))
    }
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || len & 0x80 != 0 || usize::from(len) != body.len() {
        return None;
    }
    let (r, rest) = int(body)?;
    let (s, rest) = int(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; 64];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Ceremonies

/// A registration whose client data and authenticator data passed: the edge still spends
/// `challenge` (it must be one it issued to this user) before storing the passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub challenge: String,
    pub credential_id: Vec<u8>,
    pub public_key_cose: Vec<u8>,
    pub alg: i64,
    pub sign_count: u32,
    pub aaguid: [u8; 16],
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub transports: Vec<String>,
    /// The attestation format named (its statement is not checked: treated as `none`).
    pub fmt: String,
}

/// What both ceremonies check first: the credential's id and type, and its client data (of
/// type `kind`, for this relying party). Answers the raw id, the client data's bytes and its
/// challenge.
fn ceremony(
    (id, raw_id, cred_type): (&str, &str, &str),
    client_data_json: &str,
    kind: &str,
    rp: &RelyingParty,
) -> Result<(Vec<u8>, Vec<u8>, String), WebauthnError> {
    let raw_id = credential_id(id, raw_id, cred_type)?;
    let client_data = b64(client_data_json, "clientDataJSON is not base64url")?;
    let challenge = check_client_data(&client_data, kind, rp)?;
    Ok((raw_id, client_data, challenge))
}

/// Checks a `RegistrationResponseJSON` (WebAuthn L3 7.1, attestation treated as `none`).
pub fn verify_registration(
    resp: &RegistrationResponseJson,
    rp: &RelyingParty,
) -> Result<Registration, WebauthnError> {
    let (raw_id, _client_data, challenge) = ceremony(
        (&resp.id, &resp.raw_id, &resp.kind),
        &resp.response.client_data_json,
        "webauthn.create",
        rp,
    )?;
    let att = b64(
        &resp.response.attestation_object,
        "attestationObject is not base64url",
    )?;
    let (fmt, auth_data) = attestation_object(&att)?;
    let ad = AuthenticatorData::parse(auth_data)?;
    ad.check(rp)?;
    let cred = ad.attested.clone().ok_or(WebauthnError::NoCredentialData)?;
    if cred.credential_id != raw_id {
        return Err(malformed("the attested credential id is not rawId"));
    }
    let key = PublicKey::from_cose(&cred.public_key_cose)?;
    let mut transports: Vec<String> = resp
        .response
        .transports
        .iter()
        .filter(|t| t.len() <= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .take(8)
        .cloned()
        .collect();
    transports.dedup();
    Ok(Registration {
        challenge,
        credential_id: cred.credential_id,
        public_key_cose: cred.public_key_cose,
        alg: key.alg(),
        sign_count: ad.sign_count,
        aaguid: cred.aaguid,
        backup_eligible: ad.backup_eligible(),
        backed_up: ad.backed_up(),
        transports,
        fmt,
    })
}

/// The attestation object's `fmt` and `authData` (its `attStmt` is not looked at).
fn attestation_object(bytes: &[u8]) -> Result<(String, &[u8]), WebauthnError> {
    let bad = || malformed("attestationObject is not an attestation object");
    let mut d = minicbor::Decoder::new(bytes);
    let n = d.map().map_err(|_| bad())?.ok_or_else(bad)?;
    let (mut fmt, mut auth_data) = (None, None);
    for _ in 0..n {
        match d.str().map_err(|_| bad())? {
            "fmt" => fmt = Some(d.str().map_err(|_| bad())?.to_owned()),
            "authData" => auth_data = Some(d.bytes().map_err(|_| bad())?),
            _ => d.skip().map_err(|_| bad())?,
        }
    }
    if d.position() != bytes.len() {
        return Err(bad());
    }
    Ok((fmt.ok_or_else(bad)?, auth_data.ok_or_else(bad)?))
}

/// An assertion whose client data and authenticator data passed, with what is left: spend
/// the challenge, find the passkey by `credential_id`, check the signature (`verify`) and the
/// sign count (`check_sign_count`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub challenge: String,
    pub credential_id: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
    pub sign_count: u32,
    pub backed_up: bool,
    /// `authenticatorData || SHA-256(clientDataJSON)`: what the signature covers.
    pub signed: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Checks an `AuthenticationResponseJSON` up to the signature (WebAuthn L3 7.2).
pub fn prepare_assertion(
    resp: &AuthenticationResponseJson,
    rp: &RelyingParty,
) -> Result<Assertion, WebauthnError> {
    let (raw_id, client_data, challenge) = ceremony(
        (&resp.id, &resp.raw_id, &resp.kind),
        &resp.response.client_data_json,
        "webauthn.get",
        rp,
    )?;
    let auth_data = b64(
        &resp.response.authenticator_data,
        "authenticatorData is not base64url",
    )?;
    let ad = AuthenticatorData::parse(&auth_data)?;
    ad.check(rp)?;
    let signature = b64(&resp.response.signature, "signature is not base64url")?;
    let user_handle = match resp.response.user_handle.as_deref() {
        None | Some("") => None,
        Some(h) => Some(b64(h, "userHandle is not base64url")?),
    };
    let mut signed = auth_data;
    signed.extend_from_slice(&Sha256::digest(&client_data));
    Ok(Assertion {
        challenge,
        credential_id: raw_id,
        user_handle,
        sign_count: ad.sign_count,
        backed_up: ad.backed_up(),
        signed,
        signature,
    })
}

/// How a signature is to be checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Verify {
    /// Decided here (Ed25519).
    Done(bool),
    /// By WebCrypto: `alg` is -7 (ECDSA P-256/SHA-256, `signature` raw r||s) or -257
    /// (RSASSA-PKCS1-v1_5/SHA-256), with the key as a JWK.
    WebCrypto {
        alg: i64,
        jwk: Value,
        signature: Vec<u8>,
    },
}

pub fn verify(key: &PublicKey, signed: &[u8], signature: &[u8]) -> Verify {
    match key {
        PublicKey::Ed25519(pk) => {
            use ed25519_dalek::Verifier;
            // `verify` (RFC 8032's cofactorless check), the one the access tokens use, so the
            // Worker carries one verification routine: a signature over a single-use challenge
            // gains nothing from `verify_strict`'s malleability checks.
            let ok = ed25519_dalek::VerifyingKey::from_bytes(pk).is_ok_and(|vk| {
                <[u8; 64]>::try_from(signature).is_ok_and(|sig| {
                    vk.verify(signed, &ed25519_dalek::Signature::from_bytes(&sig))
                        .is_ok()
                })
            });
            Verify::Done(ok)
        }
        PublicKey::Es256 { .. } => match der_to_raw_p256(signature) {
            Some(raw) => Verify::WebCrypto {
                alg: ES256,
                jwk: key.jwk().expect("an EC key has a JWK"),
                signature: raw.to_vec(),
            },
            None => Verify::Done(false),
        },
        PublicKey::Rs256 { .. } => Verify::WebCrypto {
            alg: RS256,
            jwk: key.jwk().expect("an RSA key has a JWK"),
            signature: signature.to_vec(),
        },
    }
}

/// WebAuthn L3 7.2 step 22: when either counter is in use, the new one must be greater;
/// both zero is a synced passkey that keeps no counter.
pub fn check_sign_count(stored: u32, new: u32) -> Result<(), WebauthnError> {
    if (stored != 0 || new != 0) && new <= stored {
        Err(WebauthnError::SignCountRegressed)
    } else {
        Ok(())
    }
}

/// A passkey as listed to its owner.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub aaguid: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub transports: Vec<String>,
}

/// A passkey's name: trimmed, 1 to 64 characters, no control characters.
pub fn parse_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        None
    } else {
        Some(name.to_owned())
    }
}

/// The AAGUID as its UUID text (all zeros for authenticators that do not say).
pub fn aaguid_text(a: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*a).to_string()
}

/// Is `host` (lower case, no port) the RP ID or a subdomain of it? An origin outside the RP
/// ID's domain cannot use its passkeys (WebAuthn L3 5.1.4.1), so such a configuration is
/// refused at start.
pub fn host_within(host: &str, rp_id: &str) -> bool {
    host == rp_id || host.ends_with(&format!(".{rp_id}"))
}

impl From<WebauthnError> for crate::core::error::AppError {
    fn from(e: WebauthnError) -> Self {
        if e.is_malformed() {
            Self::InvalidRequest(format!("invalid credential: {}", e.detail()))
        } else {
            Self::InvalidPasskey(e.detail())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minicbor::Encoder;

    fn rp() -> RelyingParty {
        RelyingParty {
            id: "localhost".into(),
            name: "Edgeward".into(),
            origins: vec!["http://localhost:8787".into()],
        }
    }

    const CHALLENGE: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn client_data(kind: &str, origin: &str, extra: &str) -> Vec<u8> {
        format!(r#"{{"type":"{kind}","challenge":"{CHALLENGE}","origin":"{origin}"{extra}}}"#)
            .into_bytes()
    }

    fn cose_ec2(vk: &p256::ecdsa::VerifyingKey) -> Vec<u8> {
        let point = vk.to_encoded_point(false);
        let mut e = Encoder::new(Vec::new());
        e.map(5).unwrap();
        e.i64(1).unwrap().i64(2).unwrap();
        e.i64(3).unwrap().i64(ES256).unwrap();
        e.i64(-1).unwrap().i64(1).unwrap();
        e.i64(-2).unwrap().bytes(point.x().unwrap()).unwrap();
        e.i64(-3).unwrap().bytes(point.y().unwrap()).unwrap();
        e.into_writer()
    }

    fn cose_okp(pk: &[u8; 32]) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(4).unwrap();
        e.i64(1).unwrap().i64(1).unwrap();
        e.i64(3).unwrap().i64(EDDSA).unwrap();
        e.i64(-1).unwrap().i64(6).unwrap();
        e.i64(-2).unwrap().bytes(pk).unwrap();
        e.into_writer()
    }

    fn auth_data(rp_id: &str, flags: u8, count: u32, attested: Option<(&[u8], &[u8])>) -> Vec<u8> {
        let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
        out.push(flags);
        out.extend_from_slice(&count.to_be_bytes());
        if let Some((id, key)) = attested {
            out.extend_from_slice(&[7u8; 16]);
            out.extend_from_slice(&(id.len() as u16).to_be_bytes());
            out.extend_from_slice(id);
            out.extend_from_slice(key);
        }
        out
    }

    fn attestation(fmt: &str, auth: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(3).unwrap();
        e.str("fmt").unwrap().str(fmt).unwrap();
        e.str("attStmt").unwrap().map(0).unwrap();
        e.str("authData").unwrap().bytes(auth).unwrap();
        e.into_writer()
    }

    fn registration(att: &[u8], cd: &[u8], id: &[u8]) -> RegistrationResponseJson {
        serde_json::from_value(json!({
            "id": b64url(id), "rawId": b64url(id), "type": "public-key",
            "response": {
                "clientDataJSON": b64url(cd), "attestationObject": b64url(att),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
        }))
        .unwrap()
    }

    fn assertion(auth: &[u8], cd: &[u8], sig: &[u8], id: &[u8]) -> AuthenticationResponseJson {
        serde_json::from_value(json!({
            "id": b64url(id), "rawId": b64url(id), "type": "public-key",
            "response": {
                "clientDataJSON": b64url(cd), "authenticatorData": b64url(auth),
                "signature": b64url(sig), "userHandle": b64url(b"handle"),
            },
            "clientExtensionResults": {},
        }))
        .unwrap()
    }

    fn p256_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap()
    }

    /// The check WebCrypto does at the edge, natively.
    fn webcrypto(v: &Verify, signed: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match v {
            Verify::Done(ok) => *ok,
            Verify::WebCrypto {
                alg: ES256,
                jwk,
                signature,
            } => {
                let x = b64url_decode(jwk["x"].as_str().unwrap()).unwrap();
                let y = b64url_decode(jwk["y"].as_str().unwrap()).unwrap();
                let mut sec1 = vec![4u8];
                sec1.extend(x);
                sec1.extend(y);
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
                let sig = p256::ecdsa::Signature::from_slice(signature).unwrap();
                vk.verify(signed, &sig).is_ok()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_es256_passkey_registers_and_its_der_signed_assertion_verifies_as_raw_r_s() {
        use p256::ecdsa::signature::Signer;
        let sk = p256_key();
        let cose = cose_ec2(sk.verifying_key());
        let id = [9u8; 20];
        let auth = auth_data(
            "localhost",
            FLAG_UP | FLAG_UV | FLAG_AT | FLAG_BE,
            0,
            Some((&id, &cose)),
        );
        let cd = client_data(
            "webauthn.create",
            "http://localhost:8787",
            r#","crossOrigin":false"#,
        );
        let reg = verify_registration(&registration(&attestation("none", &auth), &cd, &id), &rp())
            .unwrap();
        assert_eq!(reg.challenge, CHALLENGE);
        assert_eq!(reg.alg, ES256);
        assert_eq!(reg.credential_id, id);
        assert_eq!(reg.public_key_cose, cose);
        assert!(reg.backup_eligible && !reg.backed_up);
        assert_eq!(reg.transports, ["internal", "hybrid"]);
        assert_eq!(
            aaguid_text(&reg.aaguid),
            "07070707-0707-0707-0707-070707070707"
        );

        let key = PublicKey::from_cose(&reg.public_key_cose).unwrap();
        let auth = auth_data("localhost", FLAG_UP | FLAG_UV, 5, None);
        let cd = client_data("webauthn.get", "http://localhost:8787", "");
        let mut signed = auth.clone();
        signed.extend_from_slice(&Sha256::digest(&cd));
        let sig: p256::ecdsa::Signature = sk.sign(&signed);
        let der = sig.to_der();
        let a = prepare_assertion(&assertion(&auth, &cd, der.as_bytes(), &id), &rp()).unwrap();
        assert_eq!(a.signed, signed);
        assert_eq!(a.sign_count, 5);
        assert_eq!(a.user_handle.as_deref(), Some(&b"handle"[..]));
        let v = verify(&key, &a.signed, &a.signature);
        assert!(
            matches!(&v, Verify::WebCrypto { signature, .. } if signature[..] == sig.to_bytes()[..])
        );
        assert!(webcrypto(&v, &a.signed));
        // One flipped bit of the signed data fails.
        let mut tampered = a.signed.clone();
        tampered[40] ^= 1;
        assert!(!webcrypto(
            &verify(&key, &tampered, &a.signature),
            &tampered
        ));
    }

    #[test]
    fn an_ed25519_passkey_verifies_here_and_a_tampered_assertion_does_not() {
        use ed25519_dalek::Signer;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let cose = cose_okp(sk.verifying_key().as_bytes());
        let id = [1u8; 16];
        let auth = auth_data(
            "localhost",
            FLAG_UP | FLAG_UV | FLAG_AT,
            1,
            Some((&id, &cose)),
        );
        let cd = client_data("webauthn.create", "http://localhost:8787", "");
        // Another attestation format: accepted, its statement ignored.
        let reg = verify_registration(
            &registration(&attestation("packed", &auth), &cd, &id),
            &rp(),
        )
        .unwrap();
        assert_eq!(
            (reg.alg, reg.fmt.as_str(), reg.sign_count),
            (EDDSA, "packed", 1)
        );
        let key = PublicKey::from_cose(&reg.public_key_cose).unwrap();
        assert_eq!(key.jwk(), None);
        let signed = b"authenticator data and client data hash";
        let sig = sk.sign(signed).to_bytes();
        assert_eq!(verify(&key, signed, &sig), Verify::Done(true));
        assert_eq!(verify(&key, b"something else", &sig), Verify::Done(false));
        assert_eq!(verify(&key, signed, &sig[..63]), Verify::Done(false));
    }

    #[test]
    fn client_data_type_origin_cross_origin_and_challenge_shape_are_checked() {
        let rp = rp();
        let ok = client_data("webauthn.get", "http://localhost:8787", "");
        assert_eq!(
            check_client_data(&ok, "webauthn.get", &rp).unwrap(),
            CHALLENGE
        );
        assert_eq!(
            check_client_data(&ok, "webauthn.create", &rp),
            Err(WebauthnError::WrongType)
        );
        for origin in [
            "http://localhost:8788",
            "https://localhost:8787",
            "http://evil.test",
            "http://localhost:8787/",
        ] {
            let cd = client_data("webauthn.get", origin, "");
            assert_eq!(
                check_client_data(&cd, "webauthn.get", &rp),
                Err(WebauthnError::OriginNotAllowed),
                "{origin}"
            );
        }
        let cd = client_data(
            "webauthn.get",
            "http://localhost:8787",
            r#","crossOrigin":true,"topOrigin":"http://evil.test""#,
        );
        assert_eq!(
            check_client_data(&cd, "webauthn.get", &rp),
            Err(WebauthnError::CrossOrigin)
        );
        let cd = br#"{"type":"webauthn.get","challenge":"short","origin":"http://localhost:8787"}"#;
        assert_eq!(
            check_client_data(cd, "webauthn.get", &rp),
            Err(WebauthnError::UnknownChallenge)
        );
        assert!(check_client_data(b"not json", "webauthn.get", &rp)
            .unwrap_err()
            .is_malformed());
    }

    #[test]
    fn authenticator_data_needs_this_rp_id_hash_and_user_presence_and_verification() {
        let rp = rp();
        let cd = client_data("webauthn.get", "http://localhost:8787", "");
        let check = |auth: Vec<u8>| {
            prepare_assertion(&assertion(&auth, &cd, &[1], &[5; 8]), &rp).map(|_| ())
        };
        assert_eq!(
            check(auth_data("localhost", FLAG_UP | FLAG_UV, 0, None)),
            Ok(())
        );
        assert_eq!(
            check(auth_data("evil.test", FLAG_UP | FLAG_UV, 0, None)),
            Err(WebauthnError::RpIdHashMismatch)
        );
        assert_eq!(
            check(auth_data("localhost", FLAG_UV, 0, None)),
            Err(WebauthnError::UserNotPresent)
        );
        assert_eq!(
            check(auth_data("localhost", FLAG_UP, 0, None)),
            Err(WebauthnError::UserNotVerified)
        );
        let mut trailing = auth_data("localhost", FLAG_UP | FLAG_UV, 0, None);
        trailing.push(0);
        assert!(check(trailing).unwrap_err().is_malformed());
        assert!(check(vec![0; 36]).unwrap_err().is_malformed());
    }

    #[test]
    fn a_registration_without_credential_data_or_with_another_key_type_is_refused() {
        let rp = rp();
        let cd = client_data("webauthn.create", "http://localhost:8787", "");
        let id = [2u8; 16];
        let auth = auth_data("localhost", FLAG_UP | FLAG_UV, 0, None);
        assert_eq!(
            verify_registration(&registration(&attestation("none", &auth), &cd, &id), &rp),
            Err(WebauthnError::NoCredentialData)
        );
        // P-384 (alg -35) is not offered.
        let mut e = Encoder::new(Vec::new());
        e.map(5).unwrap();
        e.i64(1).unwrap().i64(2).unwrap();
        e.i64(3).unwrap().i64(-35).unwrap();
        e.i64(-1).unwrap().i64(2).unwrap();
        e.i64(-2).unwrap().bytes(&[1; 48]).unwrap();
        e.i64(-3).unwrap().bytes(&[1; 48]).unwrap();
        let p384 = e.into_writer();
        let auth = auth_data(
            "localhost",
            FLAG_UP | FLAG_UV | FLAG_AT,
            0,
            Some((&id, &p384)),
        );
        assert_eq!(
            verify_registration(&registration(&attestation("none", &auth), &cd, &id), &rp),
            Err(WebauthnError::UnsupportedAlgorithm)
        );
        // The attested id must be the response's.
        let cose = cose_ec2(p256_key().verifying_key());
        let auth = auth_data(
            "localhost",
            FLAG_UP | FLAG_UV | FLAG_AT,
            0,
            Some((&[3u8; 16], &cose)),
        );
        assert!(
            verify_registration(&registration(&attestation("none", &auth), &cd, &id), &rp)
                .unwrap_err()
                .is_malformed()
        );
        // A get assertion's client data cannot register.
        let cd = client_data("webauthn.get", "http://localhost:8787", "");
        let auth = auth_data(
            "localhost",
            FLAG_UP | FLAG_UV | FLAG_AT,
            0,
            Some((&id, &cose)),
        );
        assert_eq!(
            verify_registration(&registration(&attestation("none", &auth), &cd, &id), &rp),
            Err(WebauthnError::WrongType)
        );
    }

    #[test]
    fn an_rs256_cose_key_becomes_an_rsa_jwk_and_short_moduli_are_refused() {
        let cose = |n: &[u8]| {
            let mut e = Encoder::new(Vec::new());
            e.map(4).unwrap();
            e.i64(1).unwrap().i64(3).unwrap();
            e.i64(3).unwrap().i64(RS256).unwrap();
            e.i64(-1).unwrap().bytes(n).unwrap();
            e.i64(-2).unwrap().bytes(&[1, 0, 1]).unwrap();
            e.into_writer()
        };
        let mut n = vec![0xc5u8; 256];
        n[255] = 0x01;
        let key = PublicKey::from_cose(&cose(&n)).unwrap();
        assert_eq!(key.alg(), RS256);
        assert_eq!(
            key.jwk().unwrap(),
            json!({"kty": "RSA", "n": b64url(&n), "e": "AQAB"})
        );
        assert!(matches!(
            verify(&key, b"m", b"s"),
            Verify::WebCrypto { alg: RS256, .. }
        ));
        assert_eq!(
            PublicKey::from_cose(&cose(&[0xc5; 128])),
            Err(WebauthnError::UnsupportedAlgorithm)
        );
        assert!(PublicKey::from_cose(b"\xa1").unwrap_err().is_malformed());
    }

    #[test]
    fn der_signatures_become_raw_r_s_and_non_minimal_der_is_refused() {
        use p256::ecdsa::signature::Signer;
        for i in 0..32u8 {
            let sig: p256::ecdsa::Signature = p256_key().sign(&[i]);
            assert_eq!(
                der_to_raw_p256(sig.to_der().as_bytes()).unwrap()[..],
                sig.to_bytes()[..]
            );
        }
        // r = 1, s = 0x80 (needs its leading zero).
        let raw = der_to_raw_p256(&[0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80]).unwrap();
        assert_eq!((raw[31], raw[63], raw[62]), (1, 0x80, 0));
        for bad in [
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x80][..], // negative s
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01], // non-minimal r
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00], // trailing byte
            &[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],     // not a SEQUENCE
            &[],
        ] {
            assert_eq!(der_to_raw_p256(bad), None, "{bad:x?}");
        }
    }

    /// A registration and a sign-in made by Chromium 148's virtual authenticator (CTAP2,
    /// internal transport, resident key, user verification) through the browser's own L3
    /// `toJSON()`, captured from tests/e2e/test_passkeys_chromium.py.
    const CHROMIUM_ORIGIN: &str = "http://localhost:45065";
    const CHROMIUM_REGISTRATION: &str = r#"{"authenticatorAttachment":"platform","clientExtensionResults":{"credProps":{"rk":true}},"id":"QLdO2tEzftjnmvmqEleofOagbXH1ENUU73TXHRSh3d0","rawId":"QLdO2tEzftjnmvmqEleofOagbXH1ENUU73TXHRSh3d0","response":{"attestationObject":"o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVikSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQECAwQFBgcIAQIDBAUGBwgAIEC3TtrRM37Y55r5qhJXqHzmoG1x9RDVFO901x0Uod3dpQECAyYgASFYIFsKxsQXWjLle5ryEW_kmEBgOvF6E2r2iBrQyfW7KtmrIlggNVn2uTWSPuwOk69zM16BPqCbpB_Y3pF22mn4yVu7Mwg","authenticatorData":"SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQECAwQFBgcIAQIDBAUGBwgAIEC3TtrRM37Y55r5qhJXqHzmoG1x9RDVFO901x0Uod3dpQECAyYgASFYIFsKxsQXWjLle5ryEW_kmEBgOvF6E2r2iBrQyfW7KtmrIlggNVn2uTWSPuwOk69zM16BPqCbpB_Y3pF22mn4yVu7Mwg","clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiSHBhSDhEQUVLblE1WWVCVmlnZFM3X0N2ZkRKaVJrcUQwTGlCS1JITlAxRSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NDUwNjUiLCJjcm9zc09yaWdpbiI6ZmFsc2V9","publicKey":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWwrGxBdaMuV7mvIRb-SYQGA68XoTavaIGtDJ9bsq2as1Wfa5NZI-7A6Tr3MzXoE-oJukH9jekXbaafjJW7szCA","publicKeyAlgorithm":-7,"transports":["internal"]},"type":"public-key"}"#;
    const CHROMIUM_ASSERTION: &str = r#"{"authenticatorAttachment":"platform","clientExtensionResults":{},"id":"QLdO2tEzftjnmvmqEleofOagbXH1ENUU73TXHRSh3d0","rawId":"QLdO2tEzftjnmvmqEleofOagbXH1ENUU73TXHRSh3d0","response":{"authenticatorData":"SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg","clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiWjE3c3VDRjNBVFJ4U1BsRFZ3ellrVXZCdElDZTFfOFFoaDI4NUZ0aGxrWSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NDUwNjUiLCJjcm9zc09yaWdpbiI6ZmFsc2V9","signature":"MEQCIDwUxmgeti7U1wH_7v_PMwEdU5uxMdFtVqTsiflp_9_oAiAlLhpGrwQFzsep62grc3-32rHPrZ7J3yWo4Ti42mQIDA","userHandle":"xU6pVCVxQFiYCoe6BoeYkQ"},"type":"public-key"}"#;

    #[test]
    fn a_chromium_registration_and_assertion_verify() {
        let rp = RelyingParty {
            id: "localhost".into(),
            name: "Edgeward".into(),
            origins: vec![CHROMIUM_ORIGIN.into()],
        };
        let reg: RegistrationResponseJson = serde_json::from_str(CHROMIUM_REGISTRATION).unwrap();
        let reg = verify_registration(&reg, &rp).unwrap();
        assert_eq!(reg.challenge, "HpaH8DAEKnQ5YeBVigdS7_CvfDJiRkqD0LiBKRHNP1E");
        assert_eq!(
            (reg.alg, reg.fmt.as_str(), reg.sign_count),
            (ES256, "none", 1),
            "Chromium's counter counts the registration"
        );
        assert_eq!(reg.transports, ["internal"]);
        let key = PublicKey::from_cose(&reg.public_key_cose).unwrap();
        let response: AuthenticationResponseJson =
            serde_json::from_str(CHROMIUM_ASSERTION).unwrap();
        let a = prepare_assertion(&response, &rp).unwrap();
        assert_eq!(a.challenge, "Z17suCF3ATRxSPlDVwzYkUvBtICe1_8Qhh285FthlkY");
        assert_eq!(a.credential_id, reg.credential_id);
        assert_eq!(a.sign_count, 2);
        assert!(webcrypto(&verify(&key, &a.signed, &a.signature), &a.signed));
        let mut tampered = a.signed.clone();
        tampered[37] ^= 1;
        assert!(!webcrypto(
            &verify(&key, &tampered, &a.signature),
            &tampered
        ));
        // The same responses for another relying party's origin are refused.
        let other = RelyingParty {
            origins: vec!["http://localhost:1".into()],
            ..rp
        };
        assert_eq!(
            prepare_assertion(&response, &other),
            Err(WebauthnError::OriginNotAllowed)
        );
    }

    #[test]
    fn a_sign_count_must_grow_unless_both_are_zero() {
        assert_eq!(check_sign_count(0, 0), Ok(()));
        assert_eq!(check_sign_count(0, 1), Ok(()));
        assert_eq!(check_sign_count(5, 6), Ok(()));
        assert_eq!(
            check_sign_count(5, 5),
            Err(WebauthnError::SignCountRegressed)
        );
        assert_eq!(
            check_sign_count(5, 4),
            Err(WebauthnError::SignCountRegressed)
        );
        assert_eq!(
            check_sign_count(5, 0),
            Err(WebauthnError::SignCountRegressed)
        );
    }

    #[test]
    fn options_have_the_l3_json_shapes() {
        let existing = [Existing {
            credential_id: vec![1, 2],
            transports: vec!["usb".into()],
        }];
        let o = creation_options(
            &rp(),
            CHALLENGE,
            b"handle",
            "a@example.test",
            "a@example.test",
            &existing,
        );
        assert_eq!(o["rp"], json!({"id": "localhost", "name": "Edgeward"}));
        assert_eq!(o["user"]["id"], b64url(b"handle"));
        assert_eq!(
            o["pubKeyCredParams"][0],
            json!({"type": "public-key", "alg": -7})
        );
        assert_eq!(o["pubKeyCredParams"][1]["alg"], -8);
        assert_eq!(
            o["excludeCredentials"],
            json!([{"type": "public-key", "id": "AQI", "transports": ["usb"]}])
        );
        assert_eq!(o["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(o["attestation"], "none");
        let r = request_options(&rp(), CHALLENGE);
        assert_eq!(r["allowCredentials"], json!([]));
        assert_eq!(
            (r["rpId"].as_str(), r["userVerification"].as_str()),
            (Some("localhost"), Some("required"))
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  YubiKey 5 ").as_deref(), Some("YubiKey 5"));
        assert_eq!(parse_name("   "), None);
        assert_eq!(parse_name(&"x".repeat(65)), None);
        assert_eq!(parse_name("a\nb"), None);
        assert!(host_within("app.example.com", "example.com"));
        assert!(!host_within("badexample.com", "example.com"));
    }
}
