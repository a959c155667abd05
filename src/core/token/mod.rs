//! Access tokens: EdDSA (Ed25519) JWTs per RFC 9068, signed and verified over a `KeySet`.

mod access;
mod keys;

pub use access::{sign, verify, AccessClaims, TokenError, VerifyPolicy};
pub use keys::{KeyEntry, KeySet, KeySetError};
