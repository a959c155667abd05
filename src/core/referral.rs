//! Invite-only signup: referral keys, what a registration needs under each signup mode, and
//! what a redemption that changed nothing meant.

use crate::core::crypto::looks_like_opaque_token;
use crate::core::domain::Email;
use crate::core::error::AppError;

/// `SIGNUP_MODE`: anyone may register, or only the holder of a referral key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMode {
    Open,
    InviteOnly,
}

/// Referral keys are `ewr_` + 43 base64url characters (256 random bits), stored hashed.
pub const PREFIX: &str = "ewr_";

pub fn key_token(opaque: &str) -> String {
    format!("{PREFIX}{opaque}")
}

pub fn looks_like_key(s: &str) -> bool {
    s.strip_prefix(PREFIX).is_some_and(looks_like_opaque_token)
}

/// What an administrator's list shows of a key it can no longer read: its first characters.
pub fn hint(key: &str) -> String {
    key.chars().take(PREFIX.len() + 6).collect()
}

/// How a registration proceeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// No key needed and none given.
    Open,
    /// Redeem this key in the batch that creates the account.
    Redeem(String),
}

pub fn referral_required() -> AppError {
    AppError::Denied {
        code: "referral_required",
        detail: "registration needs a valid, unused referral key".into(),
    }
}

/// A key given is always redeemed (in either mode, so an open signup can still track its
/// referrals); a malformed one is refused like an unknown one. An address listed in
/// ADMIN_EMAILS registers without a key: otherwise an invite-only deployment could never get
/// its first administrator (and the list is the operator's, not a secret of anyone's).
pub fn gate(mode: SignupMode, key: Option<&str>, listed_admin: bool) -> Result<Gate, AppError> {
    match key {
        Some(k) if looks_like_key(k) => Ok(Gate::Redeem(k.to_owned())),
        Some(_) => Err(referral_required()),
        None if mode == SignupMode::InviteOnly && !listed_admin => Err(referral_required()),
        None => Ok(Gate::Open),
    }
}

/// The redeeming batch's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redemption {
    /// The key was used and the account created, together.
    Created,
    /// The address has an account: the key is spent all the same and nothing else written,
    /// and the answer is the same as for a free address. Neither the answer nor what became
    /// of the key tells whether the address has an account.
    AddressTaken,
}

/// What the batch did: `redeemed` (this registration spent the key) and `created` (it made
/// the account). Not redeemed: another registration spent the key first.
pub fn settle(redeemed: bool, created: bool) -> Result<Redemption, AppError> {
    match (redeemed, created) {
        (true, true) => Ok(Redemption::Created),
        (true, false) => Ok(Redemption::AddressTaken),
        (false, _) => Err(referral_required()),
    }
}

/// `{count (1-100), email?, note?}` of a batch of new keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeys {
    pub count: usize,
    pub email: Option<Email>,
    pub note: Option<String>,
}

impl NewKeys {
    pub fn parse(count: i64, email: Option<&str>, note: Option<&str>) -> Result<Self, AppError> {
        if !(1..=100).contains(&count) {
            return Err(AppError::InvalidRequest("count is 1-100".into()));
        }
        let email = email.map(Email::parse).transpose()?;
        let note = match note.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) if n.chars().count() > 500 || n.chars().any(char::is_control) => {
                return Err(AppError::InvalidRequest(
                    "note is at most 500 characters without control characters".into(),
                ))
            }
            n => n.map(str::to_owned),
        };
        Ok(Self {
            count: count as usize,
            email,
            note,
        })
    }
}

/// `?status=unused|used` of the list (absent: all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Unused,
    Used,
}

impl StatusFilter {
    pub fn parse(s: Option<&str>) -> Result<Self, AppError> {
        match s {
            None | Some("") => Ok(Self::All),
            Some("unused") => Ok(Self::Unused),
            Some("used") => Ok(Self::Used),
            Some(_) => Err(AppError::InvalidRequest("status is unused or used".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crypto::opaque_token;

    fn a_key() -> String {
        key_token(&opaque_token([3; 32]))
    }

    #[test]
    fn invite_only_needs_a_well_formed_key_and_open_signup_redeems_one_when_given() {
        use SignupMode::*;
        assert_eq!(gate(Open, None, false), Ok(Gate::Open));
        assert_eq!(
            gate(InviteOnly, None, false).unwrap_err().code(),
            "referral_required"
        );
        assert_eq!(
            gate(InviteOnly, Some("guess"), false).unwrap_err().status(),
            403
        );
        assert_eq!(
            gate(Open, Some("guess"), false).unwrap_err().code(),
            "referral_required"
        );
        assert_eq!(
            gate(InviteOnly, Some(&a_key()), false),
            Ok(Gate::Redeem(a_key()))
        );
        assert_eq!(gate(Open, Some(&a_key()), false), Ok(Gate::Redeem(a_key())));
    }

    #[test]
    fn an_address_in_admin_emails_registers_without_a_key_even_when_invite_only() {
        assert_eq!(gate(SignupMode::InviteOnly, None, true), Ok(Gate::Open));
    }

    #[test]
    fn a_registration_that_made_no_account_is_a_taken_address_or_a_key_spent_elsewhere() {
        assert_eq!(settle(true, true), Ok(Redemption::Created));
        assert_eq!(settle(true, false), Ok(Redemption::AddressTaken));
        assert_eq!(
            settle(false, false).unwrap_err().code(),
            "referral_required"
        );
    }

    #[test]
    fn batches_are_1_to_100_with_an_optional_address_and_note() {
        let k = NewKeys::parse(100, Some("Ada@Example.test"), Some(" beta ")).unwrap();
        assert_eq!(k.count, 100);
        assert_eq!(k.email.unwrap().as_str(), "ada@example.test");
        assert_eq!(k.note.as_deref(), Some("beta"));
        assert!(NewKeys::parse(0, None, None).is_err());
        assert!(NewKeys::parse(101, None, None).is_err());
        assert!(NewKeys::parse(1, Some("nope"), None).is_err());
        assert!(NewKeys::parse(1, None, Some(&"x".repeat(501))).is_err());
    }

    #[test]
    fn the_hint_shows_only_the_start_of_a_key() {
        let k = a_key();
        assert!(looks_like_key(&k));
        assert_eq!(hint(&k).len(), 10);
        assert!(k.starts_with(&hint(&k)));
        assert!(!looks_like_key(&k[4..]));
    }

    #[test]
    fn the_status_filter_is_unused_used_or_all() {
        assert_eq!(StatusFilter::parse(None), Ok(StatusFilter::All));
        assert_eq!(
            StatusFilter::parse(Some("unused")),
            Ok(StatusFilter::Unused)
        );
        assert!(StatusFilter::parse(Some("spent")).is_err());
    }
}
