//! Second factors: TOTP (RFC 6238 over RFC 4226 HOTP, HMAC-SHA1, 6 digits, 30 s steps),
//! recovery codes, the codes a client presents, and how a session was authenticated (`amr`).
//! Time and random bytes are inputs; the edge stores what is decided here.

use crate::core::crypto::token_hash;
use crate::core::error::AppError;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per TOTP step (RFC 6238 default, what every authenticator app assumes).
pub const STEP_S: i64 = 30;
/// Steps either side of now that are accepted: clocks drift and people type slowly.
pub const SKEW_STEPS: i64 = 1;
pub const DIGITS: u32 = 6;
/// 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
pub const RECOVERY_CODES: usize = 10;
/// Wrong codes a single `mfa_token` survives; the next wrong one kills it.
pub const CHALLENGE_ATTEMPTS: i64 = 3;
/// Seconds an `mfa_token` lives: long enough to open the app and type a code.
pub const CHALLENGE_TTL_S: i64 = 300;

/// An account's TOTP factor as stored (built by `edge::d1::mfa`). The seed stays sealed until
/// a code is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub sealed_secret: String,
    /// The highest time step whose code was accepted.
    pub last_step: i64,
    /// A pending factor (no code proved yet) is not asked for at sign-in.
    pub confirmed: bool,
}

/// What `mfa_token`'s row says of the sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub user_id: String,
    pub cookie_mode: bool,
    pub device_name: Option<String>,
}

/// What the associated data of a sealed TOTP seed is: its owner.
pub fn seal_aad(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// RFC 4226 HOTP value of `counter`, truncated to `DIGITS` digits.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    bin % 10u32.pow(DIGITS)
}

/// The time step of `now` (seconds since the epoch).
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP_S)
}

/// What a presented TOTP code proves, given the highest step already used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// Right, for this step; the store must record it as used (atomically, above `last_step`).
    Accepted {
        step: i64,
    },
    /// Right, but for a step already used (or older than one used): a replay.
    Replayed,
    Wrong,
}

/// Checks `code` against the steps around `now`. A step at or below `last_step` is never
/// accepted again, so a code (or an older one seen over a shoulder) works once.
pub fn check_totp(secret: &[u8], code: &str, now: i64, last_step: i64) -> TotpCheck {
    let Ok(value) = code.parse::<u32>() else {
        return TotpCheck::Wrong;
    };
    if code.len() != DIGITS as usize {
        return TotpCheck::Wrong;
    }
    let current = step_of(now);
    // Newest first: when two steps match (they cannot, but the order costs nothing), the one
    // that burns the most is recorded.
    for step in (current - SKEW_STEPS..=current + SKEW_STEPS).rev() {
        if step < 0 {
            continue;
        }
        if constant_time_eq(hotp(secret, step as u64), value) {
            return if step <= last_step {
                TotpCheck::Replayed
            } else {
                TotpCheck::Accepted { step }
            };
        }
    }
    TotpCheck::Wrong
}

fn constant_time_eq(a: u32, b: u32) -> bool {
    (a ^ b) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how authenticator apps take the secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI (Key Uri Format) an authenticator app scans as a QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let label = format!("{}:{}", pct(issuer), pct(account));
    format!(
        "otpauth://totp/{label}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}",
        pct(issuer)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lower-case letters and digits without the look-alikes people misread from a printout
/// (i, l, o, 0, 1): 31 symbols.
const RECOVERY_ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A recovery code from 7 random bytes: `xxxxx-xxxxx`, ten symbols of 31 (about 49.5 bits).
/// Ten of them are shown once, at enrolment.
pub fn recovery_code(random: [u8; 7]) -> String {
    let mut n = random
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut s = String::with_capacity(11);
    for i in 0..10 {
        if i == 5 {
            s.push('-');
        }
        // 31 letters: the modulo bias on 56 random bits is negligible.
        s.push(RECOVERY_ALPHABET[(n % 31) as usize] as char);
        n /= 31;
    }
    s
}

/// What is stored for a recovery code: the SHA-256 of its normalised form (50 random bits,
/// single use and lockout-counted, so a fast hash suffices; no code is stored in clear).
pub fn recovery_code_hash(normalised: &str) -> String {
    token_hash(&format!("recovery:{normalised}"))
}

/// A code as presented by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// Six digits from the authenticator app.
    Totp(String),
    /// A recovery code, normalised (lower case, no dash or spaces).
    Recovery(String),
}

impl Code {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if compact.len() == DIGITS as usize && compact.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::Totp(compact));
        }
        if compact.len() == 10 && compact.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
            // Stored codes are hashed with their dash, as shown.
            return Ok(Self::Recovery(format!(
                "{}-{}",
                &compact[..5],
                &compact[5..]
            )));
        }
        Err(AppError::InvalidRequest(
            "invalid code: six digits from the authenticator app, or a recovery code".into(),
        ))
    }
}

/// How a session was authenticated: the access token's `amr` (RFC 8176 values) and `acr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    Password,
    PasswordAndTotp,
    PasswordAndRecoveryCode,
    /// A passkey with user verification (phishing-resistant, two factors in one): a
    /// device-bound one is a hardware-secured key (`hwk`), a synced one (backup eligible) a
    /// software-secured key (`swk`).
    PasskeyHardware,
    PasskeySynced,
}

impl Authentication {
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::PasswordAndTotp => &["pwd", "otp", "mfa"],
            // A recovery code is a one-time secret the user holds: a second factor too.
            Self::PasswordAndRecoveryCode => &["pwd", "mfa"],
            Self::PasskeyHardware => &["hwk", "user", "mfa"],
            Self::PasskeySynced => &["swk", "user", "mfa"],
        }
    }

    /// NIST SP 800-63B assurance level: two factors make `aal2`.
    pub fn acr(self) -> &'static str {
        match self {
            Self::Password => "aal1",
            // A passkey is phishing-resistant, but a synced one is not bound to a device
            // (SP 800-63B-4: AAL2); a device-bound passkey is not claimed AAL3 either (no
            // attestation proves its hardware).
            Self::PasswordAndTotp
            | Self::PasswordAndRecoveryCode
            | Self::PasskeyHardware
            | Self::PasskeySynced => "aal2",
        }
    }

    /// As stored with the session (space-separated `amr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::PasswordAndTotp => "pwd otp mfa",
            Self::PasswordAndRecoveryCode => "pwd mfa",
            Self::PasskeyHardware => "hwk user mfa",
            Self::PasskeySynced => "swk user mfa",
        }
    }

    /// A stored value; anything unknown (or a session from before second factors) is a
    /// password sign-in, the weakest claim.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("pwd otp mfa") => Self::PasswordAndTotp,
            Some("pwd mfa") => Self::PasswordAndRecoveryCode,
            Some("hwk user mfa") => Self::PasskeyHardware,
            Some("swk user mfa") => Self::PasskeySynced,
            _ => Self::Password,
        }
    }
}

impl Authentication {
    /// A passkey sign-in of a passkey that is (not) backup eligible.
    pub fn passkey(backup_eligible: bool) -> Self {
        if backup_eligible {
            Self::PasskeySynced
        } else {
            Self::PasskeyHardware
        }
    }

    /// Did it include a second factor?
    pub fn multi_factor(self) -> bool {
        self != Self::Password
    }
}

/// A session's last authentication: when, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastAuthentication {
    pub at: i64,
    pub how: Authentication,
}

/// May a session do a sensitive action now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUp {
    Fresh,
    /// 401 `reauthentication_required`: too old, or without the account's second factor.
    Required,
}

pub fn step_up(last: LastAuthentication, second_factor: bool, now: i64, window_s: i64) -> StepUp {
    let recent = now - last.at <= window_s;
    if recent && (!second_factor || last.how.multi_factor()) {
        StepUp::Fresh
    } else {
        StepUp::Required
    }
}

/// After a correct password: open the session, or ask for the second factor first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    Session,
    SecondFactor { methods: Vec<&'static str> },
}

/// `totp_active`: the account has a confirmed TOTP factor (recovery codes come with it).
pub fn login_step(totp_active: bool) -> LoginStep {
    if totp_active {
        LoginStep::SecondFactor {
            methods: vec!["totp", "recovery_code"],
        }
    } else {
        LoginStep::Session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 seed and its 8-digit values; the 6-digit value is the
    /// same number modulo 10^6.
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_test_vectors_for_sha1() {
        let vectors: [(i64, u32); 6] = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (t, eight) in vectors {
            assert_eq!(
                hotp(RFC_SEED, step_of(t) as u64),
                eight % 1_000_000,
                "T={t}"
            );
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in want.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SEED, counter as u64), code);
        }
    }

    fn code_at(t: i64) -> String {
        format!("{:06}", hotp(RFC_SEED, step_of(t) as u64))
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_not_two() {
        let now = 1_000_020;
        let step = step_of(now);
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now), now, 0),
            TotpCheck::Accepted { step }
        );
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now - 30), now, 0),
            TotpCheck::Accepted { step: step - 1 }
        );
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now + 30), now, 0),
            TotpCheck::Accepted { step: step + 1 }
        );
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now - 60), now, 0),
            TotpCheck::Wrong
        );
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now + 60), now, 0),
            TotpCheck::Wrong
        );
    }

    #[test]
    fn a_used_step_and_the_steps_before_it_are_replays() {
        let now = 1_000_020;
        let step = step_of(now);
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now), now, step),
            TotpCheck::Replayed
        );
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now - 30), now, step),
            TotpCheck::Replayed,
            "an older code after a newer one was used"
        );
        assert_eq!(
            check_totp(RFC_SEED, &code_at(now + 30), now, step),
            TotpCheck::Accepted { step: step + 1 }
        );
    }

    #[test]
    fn malformed_codes_are_wrong() {
        for bad in ["", "12345", "1234567", "abcdef", "+12345", "-12345"] {
            assert_eq!(
                check_totp(RFC_SEED, bad, 1_000_000, 0),
                TotpCheck::Wrong,
                "{bad}"
            );
        }
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(RFC_SEED), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32(&[0; SECRET_LEN]).len(), 32);
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Edgeward Dev", "ada+1@example.com", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/Edgeward%20Dev:ada%2B1%40example.com?secret=ABC&issuer=Edgeward%20Dev&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_have_a_fixed_readable_shape_and_parse_back() {
        let a = recovery_code([0; 7]);
        let b = recovery_code([0xff; 7]);
        let c = recovery_code([1, 2, 3, 4, 5, 6, 7]);
        for code in [&a, &b, &c] {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert_eq!(Code::parse(code).unwrap(), Code::Recovery(code.clone()));
            let typed = code.to_uppercase().replace('-', " ");
            assert_eq!(Code::parse(&typed).unwrap(), Code::Recovery(code.clone()));
        }
        assert_ne!(b, c);
        assert_ne!(recovery_code_hash(&b), recovery_code_hash(&c));
        assert!(!recovery_code_hash(&b).contains(&b));
    }

    #[test]
    fn a_code_is_six_digits_or_a_recovery_code_and_nothing_else() {
        assert_eq!(
            Code::parse(" 123 456 ").unwrap(),
            Code::Totp("123456".into())
        );
        for bad in [
            "",
            "12345",
            "1234567",
            "hello",
            "abcde-fghij1",
            "ilo01-abcde",
        ] {
            let e = Code::parse(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
    }

    #[test]
    fn tokens_say_how_the_session_was_authenticated() {
        for a in [
            Authentication::Password,
            Authentication::PasswordAndTotp,
            Authentication::PasswordAndRecoveryCode,
            Authentication::PasskeyHardware,
            Authentication::PasskeySynced,
        ] {
            assert_eq!(Authentication::parse(Some(a.as_str())), a);
            assert_eq!(a.amr().join(" "), a.as_str());
        }
        assert_eq!(Authentication::parse(None), Authentication::Password);
        assert_eq!(Authentication::PasswordAndTotp.acr(), "aal2");
        assert_eq!(Authentication::Password.acr(), "aal1");
        assert_eq!(Authentication::passkey(true).amr(), ["swk", "user", "mfa"]);
        assert_eq!(Authentication::passkey(false).amr(), ["hwk", "user", "mfa"]);
        assert!(Authentication::passkey(true).multi_factor());
    }

    #[test]
    fn a_sensitive_action_needs_a_recent_authentication_with_the_second_factor_if_there_is_one() {
        let pwd = |at| LastAuthentication {
            at,
            how: Authentication::Password,
        };
        let totp = |at| LastAuthentication {
            at,
            how: Authentication::PasswordAndTotp,
        };
        assert_eq!(step_up(pwd(400), false, 1_000, 600), StepUp::Fresh);
        assert_eq!(
            step_up(pwd(399), false, 1_000, 600),
            StepUp::Required,
            "too old"
        );
        assert_eq!(
            step_up(pwd(990), true, 1_000, 600),
            StepUp::Required,
            "recent, but the account's second factor is missing"
        );
        assert_eq!(step_up(totp(990), true, 1_000, 600), StepUp::Fresh);
        assert_eq!(step_up(totp(300), true, 1_000, 600), StepUp::Required);
        let recovery = LastAuthentication {
            at: 990,
            how: Authentication::PasswordAndRecoveryCode,
        };
        assert_eq!(step_up(recovery, true, 1_000, 600), StepUp::Fresh);
    }

    #[test]
    fn only_an_account_with_a_confirmed_factor_is_asked_for_one() {
        assert_eq!(login_step(false), LoginStep::Session);
        assert_eq!(
            login_step(true),
            LoginStep::SecondFactor {
                methods: vec!["totp", "recovery_code"]
            }
        );
    }
}
