//! Small, pure helpers over caller-supplied random bytes: opaque tokens, their storage hashes,
//! and keyed derivation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// An opaque bearer token from 32 random bytes: 43 URL-safe characters (256 bits).
pub fn opaque_token(random: [u8; 32]) -> String {
    B64.encode(random)
}

/// What is stored for a token: the hex SHA-256 of its text. Tokens carry 256 bits of entropy,
/// so a fast unsalted hash is the right tool (no guessing to slow down).
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// HMAC-SHA256(key, msg) as a token string.
pub fn derive_token(key: &[u8], msg: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn b64url(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

/// Opaque tokens we issue are exactly 43 URL-safe base64 characters; anything else is not
/// worth a storage lookup.
pub fn looks_like_opaque_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters() {
        let t = opaque_token([0xfb; 32]);
        assert!(looks_like_opaque_token(&t), "{t}");
        assert!(!looks_like_opaque_token("short"));
        assert!(!looks_like_opaque_token(&format!("{}=", &t[..42])));
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn derivation_depends_on_key_and_message() {
        let a = derive_token(b"k1", "t");
        assert_eq!(a, derive_token(b"k1", "t"));
        assert_ne!(a, derive_token(b"k2", "t"));
        assert_ne!(a, derive_token(b"k1", "u"));
        assert!(looks_like_opaque_token(&a));
    }
}
