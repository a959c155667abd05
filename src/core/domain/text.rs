use super::ValidationError;

fn bounded_text(
    raw: &str,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > max {
        return Err(ValidationError::TextTooLong { field, max });
    }
    if t.chars().any(char::is_control) {
        return Err(ValidationError::TextHasControlCharacters { field });
    }
    Ok(Some(t.to_owned()))
}

/// A person's display name: trimmed, at most 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    /// `Ok(None)` for a blank name.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        Ok(bounded_text(raw, "name", Self::MAX_CHARS)?.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client-chosen label for a session ("Pixel 8", "Work laptop").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceName(String);

impl DeviceName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        Ok(bounded_text(raw, "device_name", Self::MAX_CHARS)?.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_names_are_none_and_names_are_trimmed() {
        assert_eq!(DisplayName::parse("   "), Ok(None));
        assert_eq!(
            DisplayName::parse(" Ada ").unwrap().unwrap().as_str(),
            "Ada"
        );
    }

    #[test]
    fn long_or_control_names_are_refused() {
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DeviceName::parse("a\u{0}b").is_err());
    }
}
