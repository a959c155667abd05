//! An OAuth sign-in in flight: the server-side record behind a `state`, the one-time code the
//! app redeems, and the identities a user has linked. The checks on redemption are decided here.

use crate::core::api::rfc3339;
use crate::core::browser::cookies::Mode;
use crate::core::error::AppError;
use crate::core::idp::oauth::pkce_matches;
use serde::Serialize;

/// How long a started sign-in may take at the provider.
pub const STATE_TTL_S: i64 = 600;
/// The one-time code's life (API.md: 60 s, single use).
pub const CODE_TTL_S: i64 = 60;
/// The cookie that binds a state to the browser that started it.
pub const BINDING_COOKIE: &str = "ew_oauth";
pub const BINDING_COOKIE_PATH: &str = "/v1/auth/oauth";

/// `Set-Cookie` of the browser binding: `SameSite=Lax`, because the callback arrives as a
/// top-level navigation from the provider's site; limited to the OAuth paths.
pub fn binding_cookie(value: &str) -> String {
    format!(
        "{BINDING_COOKIE}={value}; Max-Age={STATE_TTL_S}; Path={BINDING_COOKIE_PATH}; Secure; HttpOnly; SameSite=Lax"
    )
}

/// Deletes the binding cookie once its state is spent.
pub fn binding_cookie_cleared() -> String {
    format!(
        "{BINDING_COOKIE}=; Max-Age=0; Path={BINDING_COOKIE_PATH}; Secure; HttpOnly; SameSite=Lax"
    )
}

/// The record behind a `state` (stored under the state's digest, taken once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub redirect_uri: String,
    pub mode: Mode,
    pub nonce: String,
    /// Our PKCE verifier toward the provider.
    pub code_verifier: String,
    /// The app's own S256 challenge, checked when it redeems the one-time code.
    pub app_code_challenge: Option<String>,
    /// Digest of the binding cookie, when the state is bound to the browser.
    pub browser_hash: Option<String>,
    pub link_user_id: Option<String>,
    pub expires_at: i64,
}

impl Pending {
    /// Bound to the browser unless the app bound it to its own PKCE (a bearer-mode app
    /// redeems the code with its verifier, so a stolen callback URL is useless without it).
    pub fn needs_browser_binding(mode: Mode, app_code_challenge: Option<&str>) -> bool {
        mode == Mode::Cookie || app_code_challenge.is_none()
    }
}

/// Why the callback's `state` is refused: all 400 `invalid_state` to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    Unknown,
    Expired,
    OtherBrowser,
}

/// Checks the taken record: present (unknown or already used otherwise), unexpired, and, when
/// bound to a browser, presented by that browser (`browser_hash`: digest of its cookie).
pub fn check_state(
    taken: Option<Pending>,
    browser_hash: Option<&str>,
    now: i64,
) -> Result<Pending, StateRefusal> {
    let p = taken.ok_or(StateRefusal::Unknown)?;
    if p.expires_at <= now {
        return Err(StateRefusal::Expired);
    }
    if let Some(want) = p.browser_hash.as_deref() {
        if browser_hash != Some(want) {
            return Err(StateRefusal::OtherBrowser);
        }
    }
    Ok(p)
}

pub fn invalid_state() -> AppError {
    AppError::BadRequest {
        code: "invalid_state",
        detail: "the state is unknown, used, expired or from another browser; start again".into(),
    }
}

/// A one-time code as stored (taken once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub user_id: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
}

pub fn invalid_grant() -> AppError {
    AppError::BadRequest {
        code: "invalid_grant",
        detail: "the code is unknown, used or expired, or the code_verifier does not match".into(),
    }
}

/// The user a code signs in, if it is unexpired and the verifier answers its challenge. A
/// verifier sent for a code started without a challenge is refused too: the app and we
/// disagree about the flow.
pub fn redeem(taken: Option<Code>, verifier: Option<&str>, now: i64) -> Result<String, AppError> {
    let code = taken.ok_or_else(invalid_grant)?;
    if code.expires_at <= now {
        return Err(invalid_grant());
    }
    match (code.code_challenge.as_deref(), verifier) {
        (Some(c), Some(v)) if pkce_matches(v, c) => Ok(code.user_id),
        (None, None) => Ok(code.user_id),
        _ => Err(invalid_grant()),
    }
}

/// A linked identity as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Serialize)]
pub struct IdentityView {
    pub id: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: String,
}

impl Identity {
    pub fn view(&self) -> IdentityView {
        IdentityView {
            id: self.id.clone(),
            provider: self.provider.clone(),
            subject: self.subject.clone(),
            email: self.email.clone(),
            created_at: rfc3339(self.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::idp::oauth::s256;

    fn pending(browser: Option<&str>) -> Pending {
        Pending {
            redirect_uri: "https://app.example/cb".into(),
            mode: Mode::Bearer,
            nonce: "n".into(),
            code_verifier: "v".into(),
            app_code_challenge: None,
            browser_hash: browser.map(str::to_owned),
            link_user_id: None,
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_state_is_refused_when_unknown_expired_or_brought_by_another_browser() {
        assert_eq!(check_state(None, None, 0), Err(StateRefusal::Unknown));
        assert_eq!(
            check_state(Some(pending(None)), None, 1_000),
            Err(StateRefusal::Expired)
        );
        assert_eq!(
            check_state(Some(pending(Some("b1"))), Some("b2"), 0),
            Err(StateRefusal::OtherBrowser)
        );
        assert_eq!(
            check_state(Some(pending(Some("b1"))), None, 0),
            Err(StateRefusal::OtherBrowser)
        );
        assert!(check_state(Some(pending(Some("b1"))), Some("b1"), 999).is_ok());
        assert!(check_state(Some(pending(None)), Some("any"), 999).is_ok());
    }

    #[test]
    fn only_a_bearer_start_with_the_apps_own_challenge_skips_the_browser_binding() {
        assert!(Pending::needs_browser_binding(Mode::Cookie, Some("c")));
        assert!(Pending::needs_browser_binding(Mode::Bearer, None));
        assert!(!Pending::needs_browser_binding(Mode::Bearer, Some("c")));
    }

    #[test]
    fn a_code_redeems_with_its_verifier_only_and_before_it_expires() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let code = |challenge: Option<String>| Code {
            user_id: "u1".into(),
            code_challenge: challenge,
            expires_at: 60,
        };
        let with = Some(s256(verifier));
        assert_eq!(
            redeem(Some(code(with.clone())), Some(verifier), 59),
            Ok("u1".into())
        );
        assert_eq!(redeem(Some(code(None)), None, 59), Ok("u1".into()));
        let refused = |r: Result<String, AppError>| r.unwrap_err().code();
        assert_eq!(refused(redeem(None, None, 0)), "invalid_grant");
        assert_eq!(
            refused(redeem(Some(code(with.clone())), None, 0)),
            "invalid_grant"
        );
        assert_eq!(
            refused(redeem(
                Some(code(with.clone())),
                Some(&format!("{verifier}x")),
                0
            )),
            "invalid_grant"
        );
        assert_eq!(
            refused(redeem(Some(code(None)), Some(verifier), 0)),
            "invalid_grant"
        );
        assert_eq!(
            refused(redeem(Some(code(with)), Some(verifier), 60)),
            "invalid_grant"
        );
    }
}
