//! Policy for new passwords beyond length (NIST SP 800-63B 5.1.1.2): not the account's e-mail,
//! not a commonly used password, not in a breach corpus. The breach check is a k-anonymity
//! range query: only the first 5 hex characters of the SHA-1 leave the Worker.

use crate::core::domain::{Email, Password};
use sha1::{Digest, Sha1};

/// Frequently used passwords of 8+ characters (from public breach-frequency lists).
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "12345678910",
    "123123123",
    "11111111",
    "00000000",
    "88888888",
    "87654321",
    "987654321",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty1234",
    "asdfghjkl",
    "asdfasdf",
    "zxcvbnm1",
    "iloveyou",
    "iloveyou1",
    "iloveyou2",
    "sunshine",
    "sunshine1",
    "princess",
    "princess1",
    "football",
    "football1",
    "baseball",
    "baseball1",
    "basketball",
    "superman",
    "batman123",
    "welcome1",
    "welcome123",
    "letmein1",
    "letmein123",
    "trustno1",
    "whatever",
    "starwars",
    "computer",
    "corvette",
    "michelle",
    "jennifer",
    "jordan23",
    "charlie1",
    "master123",
    "passpass",
    "changeme",
    "changeme1",
    "abc12345",
    "abcd1234",
    "abcdefgh",
    "aa123456",
    "a1234567",
    "qazwsxedc",
    "zaq12wsx",
    "1qazxsw2",
    "google123",
    "monkey123",
    "dragon123",
    "shadow123",
    "freedom1",
    "mustang1",
    "chocolate",
    "butterfly",
    "liverpool",
    "chelsea1",
    "arsenal1",
    "pokemon1",
    "minecraft",
    "fuckyou1",
    "secret123",
    "admin123",
    "administrator",
    "root1234",
    "test1234",
    "testtest",
    "hello123",
    "helloworld",
    "internet",
    "samsung1",
    "killer123",
    "hunter22",
    "hunter123",
    "ashley12",
    "michael1",
    "daniel123",
    "jessica1",
    "nicole12",
    "summer2024",
    "summer2025",
    "summer2026",
    "winter2025",
    "spring2026",
    "autumn2026",
    "qwer1234",
    "1234qwer",
    "1234abcd",
    "asdf1234",
    "zxcv1234",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "112233445566",
    "123654789",
    "147258369",
    "159753456",
    "741852963",
    "789456123",
    "999999999",
    "777777777",
    "666666666",
    "55555555",
    "22222222",
    "12341234",
    "11223344",
    "123qweasd",
    "qweasdzxc",
    "passw0rd1",
    "p4ssw0rd",
    "loveyou1",
    "lovelove",
    "babygirl1",
    "angel123",
    "rockyou1",
    "edgeward",
    "edgeward1",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    IsEmail,
    Common,
    Breached,
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::IsEmail => "the password must not be your e-mail address",
            Self::Common => "this password is too common; choose another",
            Self::Breached => "this password appears in a known data breach; choose another",
        })
    }
}

/// The local rules (no I/O).
pub fn check_local(password: &Password, email: &Email) -> Result<(), Weakness> {
    let p = password.expose().trim().to_lowercase();
    let local = email.as_str().split('@').next().unwrap_or_default();
    if p == email.as_str() || (local.len() >= 8 && p == local) {
        return Err(Weakness::IsEmail);
    }
    if COMMON.contains(&p.as_str()) {
        return Err(Weakness::Common);
    }
    Ok(())
}

/// (first 5, remaining 35) uppercase hex characters of SHA-1(password).
pub fn range_query(password: &Password) -> (String, String) {
    let digest =
        crate::core::crypto::hex(&Sha1::digest(password.expose().as_bytes())).to_uppercase();
    (digest[..5].to_owned(), digest[5..].to_owned())
}

/// How often `suffix` occurs in a range response (`SUFFIX:COUNT` lines; padding entries have
/// count 0).
pub fn breach_count(body: &str, suffix: &str) -> u64 {
    body.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(s, _)| s.eq_ignore_ascii_case(suffix))
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse_new(s.into()).unwrap()
    }

    fn email() -> Email {
        Email::parse("ada.lovelace@example.test").unwrap()
    }

    #[test]
    fn the_email_itself_is_refused() {
        assert_eq!(
            check_local(&pw("Ada.Lovelace@example.test"), &email()),
            Err(Weakness::IsEmail)
        );
        assert_eq!(
            check_local(&pw("ada.lovelace"), &email()),
            Err(Weakness::IsEmail)
        );
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively() {
        assert_eq!(
            check_local(&pw("Password123"), &email()),
            Err(Weakness::Common)
        );
        assert_eq!(
            check_local(&pw("qwertyuiop"), &email()),
            Err(Weakness::Common)
        );
        assert!(check_local(&pw("correct horse battery staple"), &email()).is_ok());
    }

    #[test]
    fn every_common_entry_is_a_valid_length() {
        for p in COMMON {
            assert!(p.len() >= 8, "{p} could never be chosen anyway");
        }
    }

    #[test]
    fn only_five_hex_characters_form_the_query() {
        let (prefix, suffix) = range_query(&pw("password1"));
        // SHA-1("password1") = E38AD214943DAAD1D64C102FAEC29DE4AFE9DA3D
        assert_eq!(prefix, "E38AD");
        assert_eq!(suffix, "214943DAAD1D64C102FAEC29DE4AFE9DA3D");
    }

    #[test]
    fn range_responses_are_read_with_counts() {
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n214943DAAD1D64C102FAEC29DE4AFE9DA3D:2413945\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0\n";
        assert_eq!(
            breach_count(body, "214943DAAD1D64C102FAEC29DE4AFE9DA3D"),
            2_413_945
        );
        assert_eq!(breach_count(body, "00D4F6E8FA6EECAD2A3AA415EEC418D38EC"), 0);
        assert_eq!(breach_count(body, "FFFFF"), 0);
        assert_eq!(breach_count("garbage", "X"), 0);
    }
}
