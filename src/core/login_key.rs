//! Idempotent login: an `Idempotency-Key` on `POST /v1/auth/login` makes a retry of the same
//! request answer with the session the first one opened, instead of opening another.
//!
//! The user's session object keeps, per key, the fingerprint of the request and the session it
//! opened. The password is not part of the fingerprint (a digest of a body with a password in it
//! would be a fast, unsalted hash of that password, kept for a day): it is checked again on every
//! retry anyway, like any login.

use crate::core::browser::cookies::Mode;
use crate::core::crypto::token_hash;

/// How long a key is remembered.
pub const LOGIN_KEY_TTL_S: i64 = 24 * 3_600;

/// What a retry must repeat: the normalised e-mail, the device name and the mode.
pub fn fingerprint(email: &str, device_name: Option<&str>, mode: Mode) -> String {
    let mode = match mode {
        Mode::Bearer => "bearer",
        Mode::Cookie => "cookie",
    };
    token_hash(&serde_json::json!([email, device_name, mode]).to_string())
}

/// The stored form of a key: its digest (a client's key may be anything it chose).
pub fn key_digest(key: &str) -> String {
    token_hash(&format!("login:{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_covers_email_device_and_mode() {
        let base = fingerprint("a@example.test", Some("laptop"), Mode::Bearer);
        assert_eq!(
            base,
            fingerprint("a@example.test", Some("laptop"), Mode::Bearer)
        );
        for other in [
            fingerprint("b@example.test", Some("laptop"), Mode::Bearer),
            fingerprint("a@example.test", None, Mode::Bearer),
            fingerprint("a@example.test", Some("laptop"), Mode::Cookie),
        ] {
            assert_ne!(base, other);
        }
        // No ambiguity between fields: a device name cannot pose as the e-mail's tail.
        assert_ne!(
            fingerprint("a@example.test\",\"x", None, Mode::Bearer),
            fingerprint("a@example.test", Some("x"), Mode::Bearer)
        );
    }

    #[test]
    fn keys_are_stored_as_digests() {
        let d = key_digest("retry-1");
        assert_eq!(d.len(), 64);
        assert!(!d.contains("retry-1"));
        assert_ne!(d, key_digest("retry-2"));
    }
}
