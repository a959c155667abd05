//! D1 read replication (`D1_READ_REPLICATION`): which routes may read from a replica, and the
//! bookmark that carries a client's own writes to whichever replica serves its next read.
//!
//! With it on, the routes classed `Replica` below run their session check and their reads in
//! a D1 session (the Sessions API): the first query may go to any replica, or to one at least
//! as new as the bookmark the client sent back in `x-d1-bookmark`. Every other route reads and
//! writes the primary exactly as with it off. See README, "Read replication".

use crate::core::routes::Route;

/// The request and response header that carries a D1 bookmark.
pub const BOOKMARK_HEADER: &str = "x-d1-bookmark";

/// The longest bookmark accepted. D1's are about 60 characters
/// (`00000001-00000002-00004e3c-<32 hex digits>`); the bound leaves room for a longer
/// format while keeping a forged value from growing log lines and D1 requests.
pub const BOOKMARK_MAX_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReplication {
    /// Every query goes to the primary (D1's plain binding); no bookmark header either way.
    Off,
    /// The `Replica` routes read in a D1 session; every D1 route answers with a bookmark.
    On,
}

impl ReadReplication {
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("off") => Ok(Self::Off),
            Some("on") => Ok(Self::On),
            Some(other) => Err(format!("expected off or on, got {other:?}")),
        }
    }
}

/// Where a route's D1 reads may be served from, with the mode on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum D1Access {
    /// Read-only, and stale by a replica's lag is acceptable: its session check and reads go
    /// through a D1 session that starts at the client's bookmark (or anywhere without one).
    Replica,
    /// Read-only, but it must see the latest row (an authorization decision, a job's state,
    /// an admin's view) or it reads no D1 at all: primary; its answer echoes the client's
    /// bookmark, since it wrote nothing the client's next read must wait for.
    PrimaryRead,
    /// May write (or acts on what it reads): primary; a successful answer carries the
    /// primary's bookmark taken after its writes.
    PrimaryWrite,
    /// Anonymous, writes on the primary, but its answer hands back only the bookmark it was
    /// sent: register, resend and forgot answer alike for known and unknown addresses, and
    /// the primary's position read after them would tell a caller on a quiet database
    /// whether they wrote (an account exists); the others (a referral-key check, a SIWE
    /// nonce, passkey sign-in options) write nothing a replica route shows. None of them
    /// then costs a second primary read per anonymous request.
    PrimaryWriteUndisclosed,
}

/// The class of each route. Exhaustive on purpose: a new route does not compile until
/// someone decides where it reads.
pub fn access(route: Route) -> D1Access {
    use D1Access::*;
    match route {
        // Display reads of the caller's own data, nothing decided from them but the
        // session check itself (whose staleness is bounded: README, "Read replication").
        Route::Me
        | Route::ListSessions
        | Route::Audit
        | Route::Credits
        | Route::ListTips
        | Route::ListStreams
        | Route::GetStream => Replica,
        // Answered before configuration is read, or from the isolate's memory and the
        // primary (keys: a token signed with a new key must verify at once).
        Route::Health | Route::Ready | Route::OpenApi | Route::Jwks | Route::AuthProviders => {
            PrimaryRead
        }
        // Reads that decide access or show state that moves under the caller: workspace
        // membership (a removed member must lose access at once), jobs (polled right after a
        // submit), admin views, second-factor and sign-in method lists shown on the pages that
        // change them, realtime presence, the dev mailbox.
        Route::GetPreferences
        | Route::ListPasskeys
        | Route::ListIdentities
        | Route::ListWallets
        | Route::ListWorkspaces
        | Route::GetWorkspace
        | Route::ListMembers
        | Route::ListInvitations
        | Route::ListJobs
        | Route::GetJob
        | Route::JobStats
        | Route::RealtimeMe
        | Route::DevMailbox
        | Route::AdminListUsers
        | Route::AdminGetUser
        | Route::AdminUserSessions
        | Route::AdminUserAudit
        | Route::AdminStats
        | Route::AdminListApiKeys
        | Route::AdminListReferralKeys => PrimaryRead,
        Route::Register
        | Route::ResendVerification
        | Route::ForgotPassword
        | Route::CheckReferralKey
        | Route::SiweNonce
        | Route::PasskeyAuthenticationOptions => PrimaryWriteUndisclosed,
        // Everything else writes, redeems or spends: the WebSocket upgrade of a stream's chat
        // and the OAuth start/callback included (GETs that write).
        Route::VerifyEmail
        | Route::Login
        | Route::Refresh
        | Route::Logout
        | Route::RevokeSession
        | Route::RevokeSessions
        | Route::RenameSession
        | Route::ChangeEmail
        | Route::ResetPassword
        | Route::ChangePassword
        | Route::PatchMe
        | Route::DeleteMe
        | Route::Deactivate
        | Route::Reactivate
        | Route::Restore
        | Route::PatchPreferences
        | Route::ResetPreferences
        | Route::DevCredits
        | Route::AdminCredits
        | Route::CreateStream
        | Route::PatchStream
        | Route::EndStream
        | Route::StreamChat
        | Route::Tip
        | Route::RealtimeTicket
        | Route::SubmitJob
        | Route::RedeliverJob
        | Route::CreateWorkspace
        | Route::PatchWorkspace
        | Route::DeleteWorkspace
        | Route::JoinWorkspace
        | Route::PatchMember
        | Route::RemoveMember
        | Route::CreateInvitation
        | Route::RevokeInvitation
        | Route::AcceptInvitation
        | Route::AdminDeactivate
        | Route::AdminActivate
        | Route::AdminUnlock
        | Route::AdminPromote
        | Route::AdminDemote
        | Route::AdminRevokeUserSessions
        | Route::AdminResetSecondFactors
        | Route::AdminRotateKeys
        | Route::AdminCreateApiKey
        | Route::AdminRevokeApiKey
        | Route::AdminCreateReferralKeys
        | Route::OAuthStart
        | Route::OAuthCallback
        | Route::OAuthToken
        | Route::UnlinkIdentity
        | Route::Exchange
        | Route::SiweVerify
        | Route::LinkWallet
        | Route::UnlinkWallet
        | Route::MfaVerify
        | Route::PasskeyRegistrationOptions
        | Route::RegisterPasskey
        | Route::RenamePasskey
        | Route::RemovePasskey
        | Route::PasskeySignIn
        | Route::Reauthenticate
        | Route::StartTotp
        | Route::ConfirmTotp
        | Route::RemoveTotp => PrimaryWrite,
    }
}

/// The bookmark a request sent back: absent or blank is `None`; anything else must look like
/// a bookmark this API returned (ASCII letters, digits and `-_.:+/=~`, at most
/// `BOOKMARK_MAX_LEN`), else the request is refused with the reason. A comma (two
/// bookmarks joined by a proxy or a repeated header), a space or a control character is
/// never part of one; D1's session constraints (`first-primary`, `first-unconstrained`) are
/// not bookmarks either, and naming one would hand the client a routing choice that is ours.
pub fn parse_bookmark(header: Option<&str>) -> Result<Option<&str>, String> {
    let Some(v) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.len() > BOOKMARK_MAX_LEN {
        return Err(format!(
            "{BOOKMARK_HEADER} is at most {BOOKMARK_MAX_LEN} characters"
        ));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_.:+/=~".contains(&b);
    if !v.bytes().all(allowed) {
        return Err(format!(
            "{BOOKMARK_HEADER} must be one bookmark as a response carried it \
             (letters, digits and -_.:+/=~)"
        ));
    }
    if v == "first-primary" || v == "first-unconstrained" {
        return Err(format!(
            "{BOOKMARK_HEADER} takes a bookmark, not a session constraint"
        ));
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::routes::{Method, ROUTES};

    #[test]
    fn the_mode_is_off_unless_set_to_on() {
        assert_eq!(ReadReplication::parse(None), Ok(ReadReplication::Off));
        assert_eq!(
            ReadReplication::parse(Some("off")),
            Ok(ReadReplication::Off)
        );
        assert_eq!(ReadReplication::parse(Some("on")), Ok(ReadReplication::On));
        for bad in ["yes", "true", "1", "ON", "replica"] {
            let err = ReadReplication::parse(Some(bad)).unwrap_err();
            assert!(err.contains("expected off or on"), "{bad}: {err}");
        }
    }

    #[test]
    fn only_gets_read_from_a_replica_and_every_other_method_is_a_primary_write() {
        for (method, template, route) in ROUTES {
            match access(*route) {
                D1Access::Replica | D1Access::PrimaryRead => {
                    assert_eq!(*method, Method::Get, "{template} reads, so it is a GET")
                }
                D1Access::PrimaryWrite | D1Access::PrimaryWriteUndisclosed => {}
            }
            if *method != Method::Get {
                assert!(
                    matches!(
                        access(*route),
                        D1Access::PrimaryWrite | D1Access::PrimaryWriteUndisclosed
                    ),
                    "{template}"
                );
            }
        }
    }

    #[test]
    fn the_replica_routes_are_the_read_only_listings_of_the_readme() {
        let replica: Vec<&str> = ROUTES
            .iter()
            .filter(|(_, _, r)| access(*r) == D1Access::Replica)
            .map(|(_, t, _)| *t)
            .collect();
        assert_eq!(
            replica,
            [
                "/v1/auth/sessions",
                "/v1/me",
                "/v1/me/audit",
                "/v1/credits",
                "/v1/streams",
                "/v1/streams/{id}",
                "/v1/tips",
            ]
        );
        // Money movements, sign-in, tokens, jobs, admin and the chat upgrade stay on the primary.
        for r in [
            Route::Tip,
            Route::Login,
            Route::Refresh,
            Route::VerifyEmail,
            Route::ResetPassword,
            Route::SubmitJob,
            Route::GetJob,
            Route::AdminUserSessions,
            Route::StreamChat,
            Route::OAuthCallback,
        ] {
            assert_ne!(access(r), D1Access::Replica, "{r:?}");
        }
    }

    #[test]
    fn the_anonymous_routes_that_must_not_tell_what_they_found_hand_out_no_new_bookmark() {
        for r in [
            Route::Register,
            Route::ResendVerification,
            Route::ForgotPassword,
        ] {
            assert_eq!(access(r), D1Access::PrimaryWriteUndisclosed, "{r:?}");
        }
        // A sign-in tells its caller the outcome anyway: its bookmark tells nothing more.
        assert_eq!(access(Route::Login), D1Access::PrimaryWrite);
    }

    #[test]
    fn a_bookmark_as_d1_returns_it_is_accepted_and_blank_is_none() {
        let b = "00000001-00000002-00004e3c-8ef1b2d0c27b3f4c3f7bfcdb2f1d6b8e";
        assert_eq!(parse_bookmark(Some(b)), Ok(Some(b)));
        assert_eq!(parse_bookmark(Some(&format!("  {b} "))), Ok(Some(b)));
        assert_eq!(parse_bookmark(None), Ok(None));
        assert_eq!(parse_bookmark(Some("   ")), Ok(None));
        let longest = "a".repeat(BOOKMARK_MAX_LEN);
        assert_eq!(parse_bookmark(Some(&longest)), Ok(Some(longest.as_str())));
    }

    #[test]
    fn a_malformed_bookmark_is_refused_with_the_reason() {
        let too_long = "a".repeat(BOOKMARK_MAX_LEN + 1);
        assert!(parse_bookmark(Some(&too_long))
            .unwrap_err()
            .contains("at most 256"));
        for bad in [
            "0001-aa, 0002-bb",
            "a b",
            "a\tb",
            "é",
            "a;b",
            "\"quoted\"",
            "a\u{0}b",
        ] {
            let err = parse_bookmark(Some(bad)).unwrap_err();
            assert!(err.contains("one bookmark"), "{bad:?}: {err}");
        }
        for constraint in ["first-primary", "first-unconstrained"] {
            assert!(parse_bookmark(Some(constraint))
                .unwrap_err()
                .contains("not a session constraint"));
        }
    }
}
