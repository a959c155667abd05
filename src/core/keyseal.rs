//! Sealing rotated signing keys at rest: AES-256-GCM under the key-encryption key (a Worker
//! secret), with the key id as associated data so a sealed key cannot be swapped to another
//! id. Nonces are random (96 bits) and supplied by the caller.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

/// The KEK from its secret text: 32 bytes, base64url without padding.
pub fn parse_kek(text: &str) -> Option<[u8; 32]> {
    B64.decode(text.trim()).ok()?.try_into().ok()
}

pub fn seal(kek: &[u8; 32], kid: &str, secret: &[u8; 32], nonce: [u8; 12]) -> String {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(kek));
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: kid.as_bytes(),
            },
        )
        .expect("AES-GCM encryption of 32 bytes cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    B64.encode(out)
}

/// `None` for a wrong KEK, another kid, or tampered data.
pub fn open(kek: &[u8; 32], kid: &str, sealed: &str) -> Option<[u8; 32]> {
    let raw = B64.decode(sealed).ok()?;
    if raw.len() != 12 + 32 + 16 {
        return None;
    }
    let (nonce, ct) = raw.split_at(12);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(kek));
    let pt = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: kid.as_bytes(),
            },
        )
        .ok()?;
    pt.try_into().ok()
}

/// The key sealing second-factor secrets (TOTP seeds), derived from a configured secret:
/// HMAC-SHA256(secret, label), so it is never the KEK itself, and sealed seeds cannot be opened
/// as (or swapped with) sealed signing keys.
#[derive(Clone, PartialEq, Eq)]
pub struct FactorKey([u8; 32]);

impl std::fmt::Debug for FactorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FactorKey(<redacted>)")
    }
}

const FACTOR_KEY_LABEL: &[u8] = b"edgeward/second-factor-seal/v1";

impl FactorKey {
    pub fn derive(secret: &str) -> Self {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(FACTOR_KEY_LABEL);
        Self(mac.finalize().into_bytes().into())
    }

    /// Seals `secret` for its owner (`aad`, e.g. `totp:<user id>`): a sealed seed copied to
    /// another account's row does not open.
    pub fn seal(&self, aad: &str, secret: &[u8], nonce: [u8; 12]) -> String {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0));
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// `None` for another key or owner, or tampered data.
    pub fn open(&self, aad: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = B64.decode(sealed).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0));
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEK: [u8; 32] = [7; 32];

    #[test]
    fn a_sealed_key_opens_with_its_kek_and_kid_only() {
        let sealed = seal(&KEK, "k1", &[9; 32], [1; 12]);
        assert_eq!(open(&KEK, "k1", &sealed), Some([9; 32]));
        assert_eq!(open(&[8; 32], "k1", &sealed), None, "another KEK");
        assert_eq!(open(&KEK, "k2", &sealed), None, "another kid");
        let mut tampered = B64.decode(&sealed).unwrap();
        tampered[20] ^= 1;
        assert_eq!(open(&KEK, "k1", &B64.encode(tampered)), None);
    }

    #[test]
    fn the_private_key_never_appears_in_the_sealed_text() {
        let sealed = seal(&KEK, "k1", &[0x41; 32], [1; 12]);
        assert!(!sealed.contains(&B64.encode([0x41; 32])));
    }

    #[test]
    fn keks_are_32_base64url_bytes() {
        assert_eq!(parse_kek(&B64.encode([3; 32])), Some([3; 32]));
        assert_eq!(parse_kek("short"), None);
    }

    #[test]
    fn a_sealed_factor_secret_opens_with_its_key_and_owner_only() {
        let key = FactorKey::derive("kek");
        let sealed = key.seal("totp:u1", &[5; 20], [2; 12]);
        assert_eq!(key.open("totp:u1", &sealed), Some(vec![5; 20]));
        assert_eq!(key.open("totp:u2", &sealed), None, "another owner");
        assert_eq!(FactorKey::derive("other").open("totp:u1", &sealed), None);
        assert_eq!(key.open("totp:u1", "AAAA"), None);
        assert!(!sealed.contains(&B64.encode([5; 20])));
        assert_eq!(format!("{key:?}"), "FactorKey(<redacted>)");
    }
}
