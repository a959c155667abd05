//! The account: the `User` entity and the decisions about it (may it sign in, may it move to
//! another status, does an access token still stand for it). The edge loads and stores; what
//! is allowed is decided here.

use crate::core::admin::Role;
use crate::core::api::{rfc3339, AdminUserView, UserView};
use crate::core::domain::{UserId, UserStatus};
use crate::core::error::AppError;

/// An account as stored. Built by `edge::d1::users` from its row; nothing else makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub status: UserStatus,
    pub email_verified: bool,
    pub created_at: i64,
    /// Optimistic-locking version, bumped by every change (the profile's ETag).
    pub version: i64,
    pub password_hash: String,
    pub deletion_due_at: Option<i64>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub avatar_url: Option<String>,
    pub notification_prefs: Option<String>,
    /// The global role, read from the row on every request (never carried in a token).
    pub role: Role,
}

impl User {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.to_string(),
            email: self.email.clone(),
            name: self.name.clone(),
            status: self.status.as_str(),
            email_verified: self.email_verified,
            created_at: rfc3339(self.created_at),
            version: self.version,
            locale: self.locale.clone(),
            timezone: self.timezone.clone(),
            avatar_url: self.avatar_url.clone(),
            deletion_due_at: self.deletion_due_at.map(rfc3339),
        }
    }

    pub fn admin_view(&self) -> AdminUserView {
        AdminUserView {
            user: self.view(),
            role: self.role.as_str(),
        }
    }

    /// May this account open a session, its password (or another proof) being right?
    pub fn sign_in(&self) -> SignIn {
        match self.status {
            UserStatus::Active if self.email_verified => SignIn::Allowed,
            UserStatus::Active | UserStatus::PendingVerification => SignIn::EmailNotVerified,
            UserStatus::Deactivated => SignIn::Deactivated,
            UserStatus::PendingDeletion => SignIn::PendingDeletion,
        }
    }

    /// Does the account still stand behind its sessions' access tokens and refresh tokens?
    /// Deactivating or deleting it stops them at once, whatever became of the revocations.
    pub fn holds_sessions(&self) -> bool {
        self.sign_in() == SignIn::Allowed
    }
}

/// The answer to "may this account sign in". Only revealed to someone who proved the password,
/// so it tells them why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    Allowed,
    EmailNotVerified,
    Deactivated,
    PendingDeletion,
}

impl SignIn {
    pub fn into_result(self) -> Result<(), AppError> {
        match self {
            Self::Allowed => Ok(()),
            Self::EmailNotVerified => Err(AppError::EmailNotVerified),
            Self::Deactivated => Err(AppError::AccountDeactivated),
            Self::PendingDeletion => Err(AppError::AccountPendingDeletion),
        }
    }
}

/// A self-service move of the account's status. The store applies it with a statement
/// guarded by the same precondition (`sql::users::{DEACTIVATE, …}`), so a concurrent move
/// makes it change nothing, and the answer is then the same refusal as here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Deactivate,
    Reactivate,
    RequestDeletion,
    Restore,
}

impl Transition {
    /// The status the account must be in for this move.
    pub fn allowed_from(self, status: UserStatus) -> bool {
        match self {
            Self::Deactivate => status == UserStatus::Active,
            Self::Reactivate => status == UserStatus::Deactivated,
            Self::RequestDeletion => {
                matches!(status, UserStatus::Active | UserStatus::Deactivated)
            }
            Self::Restore => status == UserStatus::PendingDeletion,
        }
    }

    /// `Ok` when the move may be attempted; otherwise the 409 the client gets.
    pub fn decide(self, status: UserStatus) -> Result<(), AppError> {
        if self.allowed_from(status) {
            Ok(())
        } else {
            Err(self.refused())
        }
    }

    /// The 409 for a move from the wrong status (also when a concurrent change won the race).
    pub fn refused(self) -> AppError {
        let (code, detail) = match self {
            Self::Deactivate => (
                "account_not_active",
                "only an active account can be deactivated",
            ),
            Self::Reactivate => ("account_not_deactivated", "this account is not deactivated"),
            Self::RequestDeletion => ("account_not_active", "this account cannot be deleted now"),
            Self::Restore => (
                "account_not_pending_deletion",
                "this account is not scheduled for deletion",
            ),
        };
        AppError::Conflict {
            code,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn user(status: UserStatus, verified: bool) -> User {
        User {
            id: UserId::new([1; 16]),
            email: "ada@example.com".into(),
            name: None,
            status,
            email_verified: verified,
            created_at: 0,
            version: 1,
            password_hash: String::new(),
            deletion_due_at: None,
            locale: None,
            timezone: None,
            avatar_url: None,
            notification_prefs: None,
            role: Role::User,
        }
    }

    #[test]
    fn only_an_active_verified_account_signs_in_and_the_others_learn_why_not() {
        use UserStatus::*;
        let cases = [
            (Active, true, SignIn::Allowed),
            (Active, false, SignIn::EmailNotVerified),
            (PendingVerification, false, SignIn::EmailNotVerified),
            (Deactivated, true, SignIn::Deactivated),
            (PendingDeletion, true, SignIn::PendingDeletion),
        ];
        for (status, verified, want) in cases {
            assert_eq!(user(status, verified).sign_in(), want, "{status:?}");
        }
        assert_eq!(
            SignIn::Deactivated.into_result(),
            Err(AppError::AccountDeactivated)
        );
        assert!(user(Active, true).holds_sessions());
        assert!(!user(PendingDeletion, true).holds_sessions());
    }

    #[test]
    fn each_status_move_starts_from_its_own_status_only() {
        use Transition::*;
        use UserStatus::*;
        let all = [PendingVerification, Active, Deactivated, PendingDeletion];
        let from = |t: Transition| -> Vec<UserStatus> {
            all.into_iter().filter(|s| t.allowed_from(*s)).collect()
        };
        assert_eq!(from(Deactivate), [Active]);
        assert_eq!(from(Reactivate), [Deactivated]);
        assert_eq!(from(RequestDeletion), [Active, Deactivated]);
        assert_eq!(from(Restore), [PendingDeletion]);
        let refused = Reactivate.decide(Active).unwrap_err();
        assert_eq!(
            (refused.status(), refused.code()),
            (409, "account_not_deactivated")
        );
        assert_eq!(RequestDeletion.decide(Deactivated), Ok(()));
    }

    #[test]
    fn the_view_shows_the_status_and_dates_but_never_the_hash() {
        let mut u = user(UserStatus::PendingDeletion, true);
        u.password_hash = "$argon2id$secret".into();
        u.deletion_due_at = Some(86_400);
        let v = serde_json::to_value(u.view()).unwrap();
        assert_eq!(v["status"], "pending_deletion");
        assert_eq!(v["deletion_due_at"], "1970-01-02T00:00:00Z");
        assert!(!v.to_string().contains("argon2"));
    }
}
