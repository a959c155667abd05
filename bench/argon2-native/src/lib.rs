//! Argon2id with Edgeward's parameters (src/core/password.rs): m=19456 KiB, t=2, p=1, 32-byte
//! output. Shared by the native timing binary (src/main.rs) and the wasm32-unknown-unknown build
//! that bench/argon2-native/workerd-run.mjs runs inside workerd, the Worker's runtime.

use argon2::{Algorithm, Argon2, Params, Version};

/// Hashes `password` once; returns the first two output bytes (so the work cannot be skipped,
/// and native and wasm builds can be compared for the same input).
pub fn hash_once(password: &[u8]) -> [u8; 2] {
    let params = Params::new(19_456, 2, 1, None).expect("valid parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = *b"edgeward-bench-s"; // 16 bytes, like the Worker's salts
    let mut out = [0u8; 32];
    // The Worker allocates the 19 MiB block memory per hash (hash_password_into does), so
    // this does too.
    argon2
        .hash_password_into(password, &salt, &mut out)
        .expect("hash");
    [out[0], out[1]]
}

/// The wasm entry point: `n` hashes of "benchmark password {i}"; returns the last hash's first
/// two bytes as a number (the caller checks it against the native build's).
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn hash_n(n: u32) -> u32 {
    let mut last = [0u8; 2];
    for i in 0..n {
        last = hash_once(format!("benchmark password {i}").as_bytes());
    }
    u32::from(last[0]) << 8 | u32::from(last[1])
}

/// A signed message the size of an access token's signing input, and its key: fixed, so that
/// native and wasm verify the same thing. (public key, message, signature)
pub fn ed25519_fixture() -> ([u8; 32], Vec<u8>, [u8; 64]) {
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let message = vec![b'e'; 260];
    let signature = key.sign(&message).to_bytes();
    (key.verifying_key().to_bytes(), message, signature)
}

/// Verifies `signature` over `message` with `public`, as the Worker does for every access token
/// (`VerifyingKey::verify`, the key already parsed).
pub fn ed25519_verify(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    use ed25519_dalek::Verifier;
    key.verify(message, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// The wasm entry point: `n` verifications of the fixture; returns how many succeeded.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn ed25519_verify_n(n: u32) -> u32 {
    let (public, message, signature) = ed25519_fixture();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).expect("valid key");
    (0..n)
        .filter(|_| ed25519_verify(&key, &message, &signature))
        .count() as u32
}
