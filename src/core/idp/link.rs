//! Which account an external identity signs in to. The account-takeover rules: an identity is
//! unique by (provider, subject); it joins an existing account by e-mail only when the provider
//! asserts the address verified *and* the account's own address is verified; an explicit link
//! from a signed-in session attaches it to that session's user; otherwise it opens a new
//! account, which needs an address the provider asserts verified.

use crate::core::account::User;

/// What the provider asserted, after its token or API answer was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub provider: String,
    pub subject: String,
    /// Lower-cased by the caller.
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The identity is known: sign in to its account.
    Known,
    /// Attach the identity to this existing account (verified e-mails on both sides).
    Join,
    /// Attach the identity to the signed-in user who asked for the link.
    Link,
    /// Open a new, verified account for the provider's verified address.
    Create,
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A link was asked for an identity that belongs to another account.
    IdentityTaken,
    /// The address belongs to an account, but one of the two sides has not proven it: signing
    /// in there would hand the account to whoever controls the provider account (or the other
    /// way round). The owner signs in and links explicitly.
    AccountExists,
    /// No address the provider vouches for, so no account can be opened.
    EmailUnverified,
}

impl Refusal {
    /// The `error` the app receives on its redirect URI.
    pub fn code(self) -> &'static str {
        match self {
            Self::IdentityTaken => "identity_taken",
            Self::AccountExists => "account_exists",
            Self::EmailUnverified => "email_not_verified",
        }
    }
}

/// `owner`: the account the identity is linked to, if any; `linking`: the signed-in user who
/// started the flow to link it; `by_email`: the account holding the provider's address.
pub fn resolve(
    ext: &External,
    owner: Option<&User>,
    linking: Option<&User>,
    by_email: Option<&User>,
) -> Resolution {
    match (owner, linking) {
        (Some(o), Some(l)) if o.id != l.id => return Resolution::Refused(Refusal::IdentityTaken),
        (Some(_), _) => return Resolution::Known,
        (None, Some(_)) => return Resolution::Link,
        (None, None) => {}
    }
    if ext.email.is_none() || !ext.email_verified {
        return match by_email {
            Some(_) => Resolution::Refused(Refusal::AccountExists),
            None => Resolution::Refused(Refusal::EmailUnverified),
        };
    }
    match by_email {
        Some(u) if u.email_verified => Resolution::Join,
        Some(_) => Resolution::Refused(Refusal::AccountExists),
        None => Resolution::Create,
    }
}

/// Token exchange: the same rules, except that an identity without a verified address (an
/// external wallet service's user, say) still gets an account on first use, under
/// `placeholder_email`. An unverified address is never stored as the account's.
pub fn resolve_exchange(
    ext: &External,
    owner: Option<&User>,
    by_email: Option<&User>,
) -> Resolution {
    match resolve(ext, owner, None, by_email) {
        Resolution::Refused(Refusal::EmailUnverified) => Resolution::Create,
        r => r,
    }
}

/// The address of an account opened for an identity without a verified one: unique per
/// (provider, subject), undeliverable (`.invalid`, RFC 2606), and refused by `Email::parse`
/// (which refuses the `.invalid` TLD), so nobody can register or claim it.
pub fn placeholder_email(provider: &str, subject: &str) -> String {
    let digest = crate::core::crypto::token_hash(&format!("{provider}\n{subject}"));
    format!("{provider}.{}@external-identity.invalid", &digest[..32])
}

/// May one identity or wallet be unlinked, the account having `identities` external
/// identities and `wallets` wallets (the one to unlink included) and a password or not? The
/// last way to sign in stays.
pub fn may_unlink(has_password: bool, identities: usize, wallets: usize) -> bool {
    has_password || identities + wallets > 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::account::tests::user;
    use crate::core::domain::{UserId, UserStatus};

    fn ext(email: Option<&str>, verified: bool) -> External {
        External {
            provider: "corp".into(),
            subject: "s-1".into(),
            email: email.map(str::to_owned),
            email_verified: verified,
            name: None,
        }
    }

    fn other() -> User {
        let mut u = user(UserStatus::Active, true);
        u.id = UserId::new([2; 16]);
        u
    }

    #[test]
    fn a_known_identity_signs_in_to_its_account_and_cannot_be_linked_to_another() {
        let owner = user(UserStatus::Active, true);
        let e = ext(Some("ada@example.com"), false);
        assert_eq!(resolve(&e, Some(&owner), None, None), Resolution::Known);
        assert_eq!(
            resolve(&e, Some(&owner), Some(&owner), None),
            Resolution::Known
        );
        assert_eq!(
            resolve(&e, Some(&owner), Some(&other()), None),
            Resolution::Refused(Refusal::IdentityTaken)
        );
    }

    #[test]
    fn an_email_joins_an_account_only_when_both_sides_are_verified() {
        let verified = user(UserStatus::Active, true);
        let unverified = user(UserStatus::PendingVerification, false);
        assert_eq!(
            resolve(
                &ext(Some("ada@example.com"), true),
                None,
                None,
                Some(&verified)
            ),
            Resolution::Join
        );
        // The provider does not vouch for the address: no takeover of the local account.
        assert_eq!(
            resolve(
                &ext(Some("ada@example.com"), false),
                None,
                None,
                Some(&verified)
            ),
            Resolution::Refused(Refusal::AccountExists)
        );
        // The local account never proved the address (it may be a squatter's pre-registration).
        assert_eq!(
            resolve(
                &ext(Some("ada@example.com"), true),
                None,
                None,
                Some(&unverified)
            ),
            Resolution::Refused(Refusal::AccountExists)
        );
    }

    #[test]
    fn a_new_account_needs_a_verified_address_and_an_explicit_link_needs_none() {
        assert_eq!(
            resolve(&ext(Some("new@example.com"), true), None, None, None),
            Resolution::Create
        );
        assert_eq!(
            resolve(&ext(Some("new@example.com"), false), None, None, None),
            Resolution::Refused(Refusal::EmailUnverified)
        );
        assert_eq!(
            resolve(&ext(None, false), None, None, None),
            Resolution::Refused(Refusal::EmailUnverified)
        );
        let me = user(UserStatus::Active, true);
        assert_eq!(
            resolve(&ext(None, false), None, Some(&me), Some(&other())),
            Resolution::Link
        );
    }

    #[test]
    fn an_exchanged_identity_without_a_verified_address_gets_a_placeholder_account() {
        assert_eq!(
            resolve_exchange(&ext(None, false), None, None),
            Resolution::Create
        );
        assert_eq!(
            resolve_exchange(&ext(Some("new@example.com"), false), None, None),
            Resolution::Create
        );
        // but an unverified address still never joins the account that holds it
        let verified = user(UserStatus::Active, true);
        assert_eq!(
            resolve_exchange(&ext(Some("ada@example.com"), false), None, Some(&verified)),
            Resolution::Refused(Refusal::AccountExists)
        );
        assert_eq!(
            resolve_exchange(&ext(Some("ada@example.com"), true), None, Some(&verified)),
            Resolution::Join
        );
        let p = placeholder_email("privy", "did:privy:abc");
        assert_eq!(p, placeholder_email("privy", "did:privy:abc"));
        assert_ne!(p, placeholder_email("privy", "did:privy:abd"));
        assert!(p.ends_with("@external-identity.invalid"));
        assert!(crate::core::domain::Email::parse(&p).is_err());
        assert!(
            crate::core::domain::Email::parse(&p).is_err(),
            "nobody can register {p}"
        );
    }

    #[test]
    fn the_last_way_to_sign_in_cannot_be_unlinked() {
        assert!(!may_unlink(false, 1, 0));
        assert!(!may_unlink(false, 0, 1));
        assert!(may_unlink(false, 2, 0));
        assert!(
            may_unlink(false, 1, 1),
            "a wallet is another way to sign in"
        );
        assert!(may_unlink(false, 0, 2));
        assert!(may_unlink(true, 1, 0));
        assert!(may_unlink(true, 0, 1));
    }
}
