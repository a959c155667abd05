//! Password hashing: argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1). One parameter
//! set only: wasm memory never shrinks, so a second, larger set would pin its peak for good.

use crate::core::domain::Password;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const M_COST_KIB: u32 = 19_456;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// A valid argon2id hash of a random, forgotten password, with the same parameters. Checking a
/// login for an unknown e-mail against it costs what a real check costs, so timing does not
/// tell which e-mails have accounts.
pub const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$WheTLOEIS23wM54hx1UKuA$gQxAeqzUNr68vqztsrAJd8X3LUtr3fJLNLTfSZDig/8";

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug)]
pub struct HashError(String);

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "password hashing failed: {}", self.0)
    }
}

impl std::error::Error for HashError {}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for storage.
pub fn hash(password: &Password, salt: [u8; 16]) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Constant-time check of `password` against a stored PHC string. An unparsable stored hash
/// is a non-match, never a panic.
pub fn verify(password: &Password, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse_new(s.into()).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash(&pw("correct horse battery"), [1; 16]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(&pw("correct horse battery"), &h));
        assert!(!verify(&pw("correct horse batterx"), &h));
    }

    #[test]
    fn the_dummy_hash_is_a_real_hash_with_current_parameters() {
        assert!(PasswordHash::new(DUMMY_PHC).is_ok());
        assert!(DUMMY_PHC.starts_with(&format!(
            "$argon2id$v=19$m={M_COST_KIB},t={T_COST},p={P_COST}$"
        )));
        assert!(!verify(&pw("password1"), DUMMY_PHC));
    }

    #[test]
    fn garbage_hashes_never_match() {
        assert!(!verify(&pw("password1"), "not a hash"));
        assert!(!verify(
            &pw("password1"),
            "$argon2i$v=19$m=4096,t=3,p=1$x$y"
        ));
    }
}
