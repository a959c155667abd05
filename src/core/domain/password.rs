use super::ValidationError;

/// A password as the user typed it, 8-128 characters (NIST SP 800-63B: length only, no
/// composition rules). Deliberately not `Debug`, `Display`, `Clone` or `Serialize`.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Policy for a new password. Counts Unicode scalar values, not bytes.
    pub fn parse_new(raw: String) -> Result<Self, ValidationError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(ValidationError::PasswordTooShort {
                min: Self::MIN_CHARS,
            });
        }
        if n > Self::MAX_CHARS {
            return Err(ValidationError::PasswordTooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(raw))
    }

    /// A password presented for checking (login, current password). Only the upper bound is
    /// enforced, so hashing cost stays bounded; anything else simply fails to match.
    pub fn parse_presented(raw: String) -> Result<Self, ValidationError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::PasswordTooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_are_8_to_128_characters() {
        assert!(Password::parse_new("1234567".into()).is_err());
        assert!(Password::parse_new("12345678".into()).is_ok());
        assert!(Password::parse_new("x".repeat(128)).is_ok());
        assert!(Password::parse_new("x".repeat(129)).is_err());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(Password::parse_new("ééééééé".into()).is_err());
        assert!(Password::parse_new("éééééééé".into()).is_ok());
    }

    #[test]
    fn debug_output_is_redacted() {
        let p = Password::parse_new("hunter2hunter2".into()).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
