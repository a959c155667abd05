//! Security events of the audit log, and its cursor.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Register,
    EmailVerified,
    LoginSucceeded,
    LoginFailed,
    AccountLocked,
    RefreshTokenReused,
    Logout,
    SessionRevoked,
    PasswordResetRequested,
    PasswordReset,
    PasswordChanged,
    AccountDeactivated,
    AccountReactivated,
    DeletionRequested,
    AccountRestored,
    EmailChangeRequested,
    EmailChanged,
    /// Second factors: a TOTP enrolment started (pending), confirmed (now required at
    /// sign-in), removed; a recovery code spent; a wrong second-factor code.
    TotpEnrolmentStarted,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodeUsed,
    MfaFailed,
    /// `POST /v1/auth/reauthenticate` refreshed a session's authentication (step-up).
    Reauthenticated,
    /// Workspaces: each written to the log of the user whose membership changed (the creator,
    /// the one who joined, whose role changed, who was removed or left), or of the admin who
    /// sent, revoked or deleted.
    WorkspaceCreated,
    WorkspaceJoined,
    WorkspaceRoleChanged,
    WorkspaceMemberRemoved,
    WorkspaceLeft,
    WorkspaceInvitationSent,
    WorkspaceInvitationRevoked,
    WorkspaceDeletionRequested,
    /// Administration (written to the target's log, with the actor).
    AdminDeactivated,
    AdminActivated,
    AdminUnlocked,
    RolePromoted,
    RoleDemoted,
    AdminSessionsRevoked,
    CreditsGranted,
    /// Written to the acting administrator's own log.
    ApiKeyCreated,
    ApiKeyRevoked,
    ReferralKeysCreated,
    SigningKeyRotated,
    IdentityLinked,
    IdentityUnlinked,
    /// An administrator removed the user's second factors (written to the user's log, with
    /// the actor).
    SecondFactorsReset,
    /// Sign in with Ethereum: a wallet linked to or unlinked from the account, and a verified
    /// SIWE message (the first factor: the session, or the second-factor challenge, follows).
    WalletLinked,
    WalletUnlinked,
    SiweSignedIn,
    /// Passkeys: registered, renamed, removed, a sign-in with one, and an assertion refused
    /// because its signature counter did not grow (perhaps a cloned authenticator).
    PasskeyRegistered,
    PasskeyRenamed,
    PasskeyRemoved,
    PasskeySignedIn,
    PasskeySignCountRegressed,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::EmailVerified => "email_verified",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::AccountLocked => "account_locked",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::Logout => "logout",
            Self::SessionRevoked => "session_revoked",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::AccountDeactivated => "account_deactivated",
            Self::AccountReactivated => "account_reactivated",
            Self::DeletionRequested => "deletion_requested",
            Self::AccountRestored => "account_restored",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::TotpEnrolmentStarted => "totp_enrolment_started",
            Self::TotpEnabled => "totp_enabled",
            Self::TotpDisabled => "totp_disabled",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::MfaFailed => "mfa_failed",
            Self::Reauthenticated => "reauthenticated",
            Self::WorkspaceCreated => "workspace_created",
            Self::WorkspaceJoined => "workspace_joined",
            Self::WorkspaceRoleChanged => "workspace_role_changed",
            Self::WorkspaceMemberRemoved => "workspace_member_removed",
            Self::WorkspaceLeft => "workspace_left",
            Self::WorkspaceInvitationSent => "workspace_invitation_sent",
            Self::WorkspaceInvitationRevoked => "workspace_invitation_revoked",
            Self::WorkspaceDeletionRequested => "workspace_deletion_requested",
            Self::AdminDeactivated => "admin_deactivated",
            Self::AdminActivated => "admin_activated",
            Self::AdminUnlocked => "admin_unlocked",
            Self::RolePromoted => "role_promoted",
            Self::RoleDemoted => "role_demoted",
            Self::AdminSessionsRevoked => "admin_sessions_revoked",
            Self::CreditsGranted => "credits_granted",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ReferralKeysCreated => "referral_keys_created",
            Self::SigningKeyRotated => "signing_key_rotated",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
            Self::SecondFactorsReset => "second_factors_reset",
            Self::WalletLinked => "wallet_linked",
            Self::WalletUnlinked => "wallet_unlinked",
            Self::SiweSignedIn => "siwe_signed_in",
            Self::PasskeyRegistered => "passkey_registered",
            Self::PasskeyRenamed => "passkey_renamed",
            Self::PasskeyRemoved => "passkey_removed",
            Self::PasskeySignedIn => "passkey_signed_in",
            Self::PasskeySignCountRegressed => "passkey_sign_count_regressed",
        }
    }
}

/// Cursors are opaque to clients: `a` + the sequence number to continue below.
pub fn encode_cursor(seq: i64) -> String {
    format!("a{seq}")
}

pub fn decode_cursor(s: &str) -> Option<i64> {
    s.strip_prefix('a')?.parse().ok().filter(|n: &i64| *n > 0)
}

/// The pseudonym that replaces a purged user's id in the events the audit trail keeps.
pub fn pseudonym(user_id: &str) -> String {
    format!(
        "deleted:{}",
        &crate::core::crypto::token_hash(user_id)[..16]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_exactly_the_event_types() {
        use Event::*;
        // A new variant does not compile until added to this match, next to `all` below.
        fn exhaustive(e: Event) {
            match e {
                Register
                | EmailVerified
                | LoginSucceeded
                | LoginFailed
                | AccountLocked
                | RefreshTokenReused
                | Logout
                | SessionRevoked
                | PasswordResetRequested
                | PasswordReset
                | PasswordChanged
                | AccountDeactivated
                | AccountReactivated
                | DeletionRequested
                | AccountRestored
                | EmailChangeRequested
                | EmailChanged
                | WorkspaceCreated
                | WorkspaceJoined
                | WorkspaceRoleChanged
                | WorkspaceMemberRemoved
                | WorkspaceLeft
                | WorkspaceInvitationSent
                | WorkspaceInvitationRevoked
                | WorkspaceDeletionRequested
                | AdminDeactivated
                | AdminActivated
                | AdminUnlocked
                | RolePromoted
                | RoleDemoted
                | AdminSessionsRevoked
                | CreditsGranted
                | ApiKeyCreated
                | ApiKeyRevoked
                | ReferralKeysCreated
                | SigningKeyRotated
                | IdentityLinked
                | IdentityUnlinked
                | WalletLinked
                | WalletUnlinked
                | SiweSignedIn
                | TotpEnrolmentStarted
                | TotpEnabled
                | TotpDisabled
                | RecoveryCodeUsed
                | MfaFailed
                | Reauthenticated
                | SecondFactorsReset
                | PasskeyRegistered
                | PasskeyRenamed
                | PasskeyRemoved
                | PasskeySignedIn
                | PasskeySignCountRegressed => {}
            }
        }
        let all = [
            Register,
            EmailVerified,
            LoginSucceeded,
            LoginFailed,
            AccountLocked,
            RefreshTokenReused,
            Logout,
            SessionRevoked,
            PasswordResetRequested,
            PasswordReset,
            PasswordChanged,
            AccountDeactivated,
            AccountReactivated,
            DeletionRequested,
            AccountRestored,
            EmailChangeRequested,
            EmailChanged,
            WorkspaceCreated,
            WorkspaceJoined,
            WorkspaceRoleChanged,
            WorkspaceMemberRemoved,
            WorkspaceLeft,
            WorkspaceInvitationSent,
            WorkspaceInvitationRevoked,
            WorkspaceDeletionRequested,
            AdminDeactivated,
            AdminActivated,
            AdminUnlocked,
            RolePromoted,
            RoleDemoted,
            AdminSessionsRevoked,
            CreditsGranted,
            ApiKeyCreated,
            ApiKeyRevoked,
            ReferralKeysCreated,
            SigningKeyRotated,
            IdentityLinked,
            IdentityUnlinked,
            WalletLinked,
            WalletUnlinked,
            SiweSignedIn,
            TotpEnrolmentStarted,
            TotpEnabled,
            TotpDisabled,
            RecoveryCodeUsed,
            MfaFailed,
            Reauthenticated,
            SecondFactorsReset,
            PasskeyRegistered,
            PasskeyRenamed,
            PasskeyRemoved,
            PasskeySignedIn,
            PasskeySignCountRegressed,
        ];
        all.iter().copied().for_each(exhaustive);
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
        // The same set; the document's order is its own.
        let listed: std::collections::BTreeSet<&str> = doc["components"]["schemas"]["AuditEvent"]
            ["properties"]["type"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        let known: std::collections::BTreeSet<&str> = all.iter().map(|e| e.as_str()).collect();
        assert_eq!(listed, known);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        for bad in ["", "a", "42", "a-1", "a0", "ax"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn pseudonyms_are_stable_and_hide_the_id() {
        let p = pseudonym("6f8628c8-57e0-403a-83e3-69fbd9df0f02");
        assert_eq!(p, pseudonym("6f8628c8-57e0-403a-83e3-69fbd9df0f02"));
        assert!(!p.contains("6f8628c8"));
    }
}
