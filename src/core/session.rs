//! Refresh-token rotation, as a pure state machine over one session (a token family).
//!
//! Every session has a secret. The first refresh token of a session is random; each successor
//! is `HMAC(session secret, presented token)`. Only SHA-256 hashes of tokens are stored, so
//! neither a storage dump (no tokens) nor an old token (no secret) yields a live token, yet
//! the holder of a just-used token can be answered with the very successor it got the first
//! time. With the successor's access-token stamp (iat, jti, kid) kept beside the used token
//! and Ed25519 signing being deterministic, a replay inside the reuse window gets the same
//! pair, byte for byte.

use serde::{Deserialize, Serialize};

/// The state of a session as its serializer (the user's Durable Object) holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// One issued refresh token of a session, looked up by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenState {
    pub session_id: String,
    pub issued_at: i64,
    pub used_at: Option<i64>,
    /// Stamp of the access token issued with this token's successor.
    pub successor: Option<AccessStamp>,
}

/// What makes an access token reproducible: with the same claims and key, Ed25519 gives the
/// same signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessStamp {
    pub iat: i64,
    pub jti: String,
    pub kid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a used token may be presented again and get the same successor (seconds).
    pub reuse_window_s: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// First use: issue a successor, mark this token used with the successor's stamp.
    Rotate,
    /// A used token inside the reuse window: answer with the same successor again.
    Replay(AccessStamp),
    /// A used token after the window: treat as theft, revoke the whole session.
    Reused,
    /// Unknown token, or its session is revoked or past its absolute expiry.
    Invalid,
}

pub fn rotate(
    session: Option<&SessionState>,
    token: Option<&TokenState>,
    now: i64,
    policy: RotationPolicy,
) -> Rotation {
    let (Some(session), Some(token)) = (session, token) else {
        return Rotation::Invalid;
    };
    if session.id != token.session_id || session.revoked_at.is_some() || now >= session.expires_at {
        return Rotation::Invalid;
    }
    match (token.used_at, &token.successor) {
        (None, _) => Rotation::Rotate,
        (Some(used_at), Some(stamp)) if now - used_at <= policy.reuse_window_s => {
            Rotation::Replay(stamp.clone())
        }
        (Some(_), _) => Rotation::Reused,
    }
}

/// The end of a session after a refresh at `now`: the idle timeout slides from the last use,
/// never past the absolute cap counted from sign-in, and never earlier than it already was.
pub fn slide_expiry(
    created_at: i64,
    current_expires_at: i64,
    now: i64,
    idle_s: i64,
    absolute_s: i64,
) -> i64 {
    let cap = created_at.saturating_add(absolute_s);
    now.saturating_add(idle_s).max(current_expires_at).min(cap)
}

/// Is this session usable at `now`?
pub fn is_active(session: &SessionState, now: i64) -> bool {
    session.revoked_at.is_none() && now < session.expires_at
}

/// What the per-request check of a validly signed access token finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// The session is live and its account still holds sessions: serve the request.
    Active,
    /// The session was revoked or expired, or the account was deactivated or deleted.
    Revoked,
    /// The token names a session of another user: a forgery or a bug, never honoured.
    NotTheirs,
}

impl SessionCheck {
    pub fn into_result(self) -> Result<(), crate::core::error::AppError> {
        use crate::core::error::AppError;
        match self {
            Self::Active => Ok(()),
            Self::Revoked => Err(AppError::SessionRevoked),
            Self::NotTheirs => Err(AppError::InvalidToken),
        }
    }
}

/// Decides whether an access token for `token_subject` may use `session` (owned by
/// `session_owner`) of `account` at `now`. The session's row and the account are read fresh
/// for every request, so a revocation or a status change stops the token at once.
pub fn check(
    session: &SessionState,
    session_owner: &str,
    token_subject: &str,
    account: &crate::core::account::User,
    now: i64,
) -> SessionCheck {
    if session_owner != token_subject || account.id != *token_subject {
        SessionCheck::NotTheirs
    } else if !is_active(session, now) || !account.holds_sessions() {
        SessionCheck::Revoked
    } else {
        SessionCheck::Active
    }
}

/// Why a session ended, as stored and audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Logout,
    Revoked,
    RefreshReuse,
    PasswordChange,
    PasswordReset,
    AccountDeactivated,
    AccountDeleted,
    EmailChanged,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::RefreshReuse => "refresh_reuse",
            Self::PasswordChange => "password_change",
            Self::PasswordReset => "password_reset",
            Self::AccountDeactivated => "account_deactivated",
            Self::AccountDeleted => "account_deleted",
            Self::EmailChanged => "email_changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;
    const POLICY: RotationPolicy = RotationPolicy { reuse_window_s: 10 };

    fn session() -> SessionState {
        SessionState {
            id: "s1".into(),
            expires_at: T0 + 30 * 86_400,
            revoked_at: None,
        }
    }

    fn fresh() -> TokenState {
        TokenState {
            session_id: "s1".into(),
            issued_at: T0,
            used_at: None,
            successor: None,
        }
    }

    fn stamp() -> AccessStamp {
        AccessStamp {
            iat: T0 + 100,
            jti: "j2".into(),
            kid: "k1".into(),
        }
    }

    fn used_at(t: i64) -> TokenState {
        TokenState {
            used_at: Some(t),
            successor: Some(stamp()),
            ..fresh()
        }
    }

    #[test]
    fn a_refresh_slides_the_idle_timeout_up_to_the_absolute_cap() {
        // Signed in at 0, idle 100, cap 250.
        assert_eq!(slide_expiry(0, 100, 50, 100, 250), 150);
        assert_eq!(slide_expiry(0, 150, 140, 100, 250), 240);
        assert_eq!(slide_expiry(0, 240, 200, 100, 250), 250, "capped");
        assert_eq!(slide_expiry(0, 250, 249, 100, 250), 250);
        assert_eq!(
            slide_expiry(0, 150, 10, 100, 250),
            150,
            "never earlier than it was"
        );
    }

    #[test]
    fn the_first_use_rotates() {
        assert_eq!(
            rotate(Some(&session()), Some(&fresh()), T0 + 100, POLICY),
            Rotation::Rotate
        );
    }

    #[test]
    fn a_reuse_inside_the_window_replays_the_same_successor() {
        let t = used_at(T0 + 100);
        assert_eq!(
            rotate(Some(&session()), Some(&t), T0 + 100, POLICY),
            Rotation::Replay(stamp())
        );
        assert_eq!(
            rotate(Some(&session()), Some(&t), T0 + 110, POLICY),
            Rotation::Replay(stamp())
        );
    }

    #[test]
    fn a_reuse_after_the_window_is_theft() {
        let t = used_at(T0 + 100);
        assert_eq!(
            rotate(Some(&session()), Some(&t), T0 + 111, POLICY),
            Rotation::Reused
        );
    }

    #[test]
    fn a_zero_window_makes_any_second_use_a_reuse_after_the_same_second() {
        let t = used_at(T0 + 100);
        let strict = RotationPolicy { reuse_window_s: 0 };
        assert_eq!(
            rotate(Some(&session()), Some(&t), T0 + 101, strict),
            Rotation::Reused
        );
    }

    #[test]
    fn a_revoked_family_accepts_nothing() {
        let revoked = SessionState {
            revoked_at: Some(T0 + 50),
            ..session()
        };
        assert_eq!(
            rotate(Some(&revoked), Some(&fresh()), T0 + 100, POLICY),
            Rotation::Invalid
        );
        assert_eq!(
            rotate(Some(&revoked), Some(&used_at(T0 + 99)), T0 + 100, POLICY),
            Rotation::Invalid
        );
    }

    #[test]
    fn an_expired_session_or_unknown_token_is_invalid() {
        let s = session();
        assert_eq!(
            rotate(Some(&s), Some(&fresh()), s.expires_at, POLICY),
            Rotation::Invalid
        );
        assert_eq!(rotate(Some(&s), None, T0, POLICY), Rotation::Invalid);
        assert_eq!(rotate(None, Some(&fresh()), T0, POLICY), Rotation::Invalid);
    }

    #[test]
    fn a_token_of_another_session_is_invalid() {
        let other = TokenState {
            session_id: "s2".into(),
            ..fresh()
        };
        assert_eq!(
            rotate(Some(&session()), Some(&other), T0, POLICY),
            Rotation::Invalid
        );
    }

    #[test]
    fn a_token_stands_only_for_a_live_session_of_its_own_active_account() {
        use crate::core::account::tests::user;
        use crate::core::domain::UserStatus;
        let account = user(UserStatus::Active, true);
        let me = account.id.to_string();
        let live = SessionState {
            id: "s".into(),
            expires_at: 100,
            revoked_at: None,
        };
        assert_eq!(check(&live, &me, &me, &account, 10), SessionCheck::Active);
        assert_eq!(
            check(&live, "someone-else", &me, &account, 10),
            SessionCheck::NotTheirs
        );
        assert_eq!(check(&live, &me, &me, &account, 100), SessionCheck::Revoked);
        let revoked = SessionState {
            revoked_at: Some(5),
            ..live.clone()
        };
        assert_eq!(
            check(&revoked, &me, &me, &account, 10),
            SessionCheck::Revoked
        );
        let deactivated = user(UserStatus::Deactivated, true);
        assert_eq!(
            check(&live, &me, &me, &deactivated, 10),
            SessionCheck::Revoked
        );
        assert_eq!(
            SessionCheck::Revoked.into_result().unwrap_err().code(),
            "session_revoked"
        );
    }
}
