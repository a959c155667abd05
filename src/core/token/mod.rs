//! Access tokens: EdDSA (Ed25519) JWTs per RFC 9068, signed and verified over a `KeySet`.

mod access;
mod keys;

#[cfg(test)]
pub use access::verify;
pub use access::{
    sign, verify_memoized, AccessClaims, SignatureMemo, TokenError, VerifiedClaims, VerifyPolicy,
};
pub use keys::{KeyEntry, KeySet, KeySetError};
