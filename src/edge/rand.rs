//! Randomness for the core, from the platform CSPRNG (crypto.getRandomValues). Only callable
//! inside handlers: workerd refuses random values at module scope.

use crate::core::error::{AppError, Faulty};

pub fn bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).fault("rand.bytes")?;
    Ok(b)
}

pub fn uuid() -> Result<String, AppError> {
    Ok(crate::core::domain::new_uuid(bytes()?).to_string())
}
