use super::ValidationError;

/// A normalised e-mail address: trimmed, lowercased, `local@domain` with a dotted domain.
/// Length limits of RFC 5321: local part at most 64 octets, whole address at most 254.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim().to_lowercase();
        if s.len() > 254 {
            return Err(ValidationError::EmailTooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(ValidationError::EmailInvalid)?;
        if local.len() > 64 {
            return Err(ValidationError::EmailTooLong);
        }
        if !valid_local(local) || !valid_domain(domain) {
            return Err(ValidationError::EmailInvalid);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Dot-atom local part (RFC 5322 section 3.2.3); quoted local parts are refused on purpose.
fn valid_local(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIALS.contains(c))
}

/// A host name with at least two labels; each label 1-63 of [a-z0-9-], not starting or ending
/// with '-'. The last label is not all digits (no bare IPs), nor `invalid` (RFC 2606: never a
/// real address; Edgeward's placeholder addresses for external identities live there).
fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()) || *tld == "invalid")
}

#[cfg(test)]
mod reserved_tests {
    #[test]
    fn an_address_under_the_invalid_tld_is_refused() {
        assert!(super::Email::parse("someone@external-identity.invalid").is_err());
        assert!(super::Email::parse("someone@invalid.example.com").is_ok());
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(
            Email::parse("  MiXeD@Example.Test ").unwrap().as_str(),
            "mixed@example.test"
        );
    }

    #[test]
    fn accepts_plus_addressing_and_subdomains() {
        assert!(Email::parse("a.b+tag@mail.example.co.uk").is_ok());
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.test",
            "a@",
            "a@localhost",
            "a@@example.test",
            "a b@example.test",
            ".a@example.test",
            "a.@example.test",
            "a..b@example.test",
            "a@-example.test",
            "a@example..test",
            "a@1.2.3.4",
            "a@exa_mple.test",
            "\"quoted\"@example.test",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(ValidationError::EmailInvalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn enforces_rfc_5321_lengths() {
        let local64 = "a".repeat(64);
        assert!(Email::parse(&format!("{local64}@example.test")).is_ok());
        let local65 = "a".repeat(65);
        assert_eq!(
            Email::parse(&format!("{local65}@example.test")),
            Err(ValidationError::EmailTooLong)
        );
        let long_domain = format!("{}.test", vec!["a".repeat(63); 4].join("."));
        let whole = format!("b@{long_domain}");
        assert!(whole.len() > 254);
        assert_eq!(Email::parse(&whole), Err(ValidationError::EmailTooLong));
    }
}
