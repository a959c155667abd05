//! The one error type of the API. Every failure a client can see is a variant here with a
//! stable `code`; everything else is `Unexpected`, rendered as an opaque 500 by the edge.

use std::fmt;

/// `Retry-After` of a 503 for a dependency that is down.
const UNAVAILABLE_RETRY_AFTER_S: u64 = 5;

/// What a handler can fail with. The edge renders it as RFC 9457 problem+json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    InvalidRequest(String),
    /// A 400 with its own code (an OAuth redirect URI, state or grant that is not acceptable).
    BadRequest {
        code: &'static str,
        detail: String,
    },
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed {
        allow: String,
    },
    InvalidCredentials,
    EmailNotVerified,
    AccountDeactivated,
    AccountPendingDeletion,
    WeakPassword(String),
    PreconditionRequired,
    InvalidToken,
    InvalidTicket,
    InsufficientCredits,
    /// A workspace invitation token that is unknown, used, revoked or expired.
    InvalidInvitation,
    Unprocessable {
        code: &'static str,
        detail: String,
    },
    UpgradeRequired,
    SessionRevoked,
    RefreshTokenReused,
    InvalidRefreshToken,
    /// A second-factor code that is wrong, already used (a TOTP step or a recovery code) or
    /// not for this account.
    InvalidMfaCode,
    /// An `mfa_token` that is unknown, expired, used, or spent by wrong codes: sign in again.
    InvalidMfaToken,
    /// A Sign-in-with-Ethereum message that does not parse (EIP-4361), names another domain,
    /// URI or chain, is expired, not yet valid, too old, or whose nonce is unknown, used or
    /// expired.
    InvalidSiweMessage,
    /// A SIWE signature that is malformed, malleable (high s), or not by the message's address.
    InvalidSignature,
    /// A sensitive action on a session whose last authentication is too old, or lacks the
    /// account's second factor (RFC 9470 step-up).
    ReauthenticationRequired,
    /// A passkey ceremony refused (challenge, origin, RP, flags, signature, counter or an
    /// unknown credential): the reason is safe to show.
    InvalidPasskey(&'static str),
    Forbidden(String),
    /// A cookie-authenticated unsafe request without its session's CSRF token, or from
    /// another site: refused before anything changes.
    CsrfFailed(&'static str),
    /// A 403 with its own code (e.g. `referral_required`), for refusals a client tells apart.
    Denied {
        code: &'static str,
        detail: String,
    },
    Conflict {
        code: &'static str,
        detail: String,
    },
    RateLimited {
        retry_after_s: u64,
    },
    Unavailable(String),
    /// Too much work in flight here right now (e.g. password hashing); try again shortly.
    Overloaded {
        retry_after_s: u64,
    },
    /// A fault of ours (storage, bindings, config). The fault is logged, never returned.
    Unexpected(Fault),
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest(_)
            | Self::WeakPassword(_)
            | Self::InvalidInvitation
            | Self::BadRequest { .. } => 400,
            Self::PreconditionRequired => 428,
            Self::InvalidTicket => 401,
            Self::InsufficientCredits => 402,
            Self::Unprocessable { .. } => 422,
            Self::UpgradeRequired => 426,
            Self::UnsupportedMediaType => 415,
            Self::PayloadTooLarge => 413,
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::InvalidCredentials
            | Self::InvalidToken
            | Self::SessionRevoked
            | Self::RefreshTokenReused
            | Self::InvalidRefreshToken
            | Self::InvalidMfaCode
            | Self::InvalidMfaToken
            | Self::InvalidSiweMessage
            | Self::InvalidSignature
            | Self::ReauthenticationRequired
            | Self::InvalidPasskey(_) => 401,
            Self::EmailNotVerified
            | Self::AccountDeactivated
            | Self::AccountPendingDeletion
            | Self::Forbidden(_)
            | Self::CsrfFailed(_)
            | Self::Denied { .. } => 403,
            Self::Conflict { .. } => 409,
            Self::RateLimited { .. } => 429,
            Self::Unavailable(_) | Self::Overloaded { .. } => 503,
            Self::Unexpected(_) => 500,
        }
    }

    /// Stable snake_case identifier clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::BadRequest { code, .. } => code,
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailNotVerified => "email_not_verified",
            Self::AccountDeactivated => "account_deactivated",
            Self::AccountPendingDeletion => "account_pending_deletion",
            Self::WeakPassword(_) => "weak_password",
            Self::PreconditionRequired => "precondition_required",
            Self::InvalidToken => "invalid_token",
            Self::InvalidTicket => "invalid_ticket",
            Self::InsufficientCredits => "insufficient_credits",
            Self::InvalidInvitation => "invalid_invitation",
            Self::Unprocessable { code, .. } => code,
            Self::UpgradeRequired => "upgrade_required",
            Self::SessionRevoked => "session_revoked",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::InvalidMfaCode => "invalid_mfa_code",
            Self::InvalidMfaToken => "invalid_mfa_token",
            Self::InvalidSiweMessage => "invalid_siwe_message",
            Self::InvalidSignature => "invalid_signature",
            Self::ReauthenticationRequired => "reauthentication_required",
            Self::InvalidPasskey(_) => "invalid_passkey",
            Self::Forbidden(_) => "forbidden",
            Self::CsrfFailed(_) => "csrf_failed",
            Self::Denied { code, .. } => code,
            Self::Conflict { code, .. } => code,
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded { .. } => "overloaded",
            Self::Unexpected(_) => "internal_error",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::BadRequest { .. } => "Invalid request",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::PayloadTooLarge => "Payload too large",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::InvalidCredentials => "Invalid credentials",
            Self::EmailNotVerified => "E-mail not verified",
            Self::AccountDeactivated => "Account deactivated",
            Self::AccountPendingDeletion => "Account pending deletion",
            Self::WeakPassword(_) => "Weak password",
            Self::PreconditionRequired => "Precondition required",
            Self::InvalidToken => "Invalid access token",
            Self::InvalidTicket => "Invalid ticket",
            Self::InsufficientCredits => "Insufficient credits",
            Self::InvalidInvitation => "Invalid invitation",
            Self::Unprocessable { .. } => "Unprocessable request",
            Self::UpgradeRequired => "Upgrade required",
            Self::SessionRevoked => "Session revoked",
            Self::RefreshTokenReused => "Refresh token reused",
            Self::InvalidRefreshToken => "Invalid refresh token",
            Self::InvalidMfaCode => "Invalid second-factor code",
            Self::InvalidMfaToken => "Invalid MFA token",
            Self::InvalidSiweMessage => "Invalid SIWE message",
            Self::InvalidSignature => "Invalid signature",
            Self::ReauthenticationRequired => "Reauthentication required",
            Self::InvalidPasskey(_) => "Passkey refused",
            Self::Forbidden(_) | Self::Denied { .. } => "Forbidden",
            Self::CsrfFailed(_) => "CSRF check failed",
            Self::Conflict { .. } => "Conflict",
            Self::RateLimited { .. } => "Too many requests",
            Self::Unavailable(_) | Self::Overloaded { .. } => "Service unavailable",
            Self::Unexpected(_) => "Internal server error",
        }
    }

    /// The client-facing explanation. Never includes internal causes.
    pub fn detail(&self) -> String {
        match self {
            Self::InvalidRequest(d)
            | Self::Forbidden(d)
            | Self::Unavailable(d)
            | Self::WeakPassword(d) => d.clone(),
            Self::CsrfFailed(d) | Self::InvalidPasskey(d) => (*d).to_owned(),
            Self::AccountPendingDeletion => {
                "this account is scheduled for deletion; POST /v1/auth/restore cancels it".into()
            }
            Self::PreconditionRequired => {
                "send the user's version in If-Match (or `version` in the body)".into()
            }
            Self::Conflict { detail, .. }
            | Self::Unprocessable { detail, .. }
            | Self::Denied { detail, .. }
            | Self::BadRequest { detail, .. } => detail.clone(),
            Self::InvalidTicket => {
                "the ticket is missing, unknown, expired or already used; get a new one".into()
            }
            Self::InsufficientCredits => "the balance does not cover this amount".into(),
            Self::InvalidInvitation => {
                "the invitation is unknown, already used, revoked or expired; ask for a new one"
                    .into()
            }
            Self::UpgradeRequired => "this endpoint speaks WebSocket only".into(),
            Self::UnsupportedMediaType => "the request body must be application/json".into(),
            Self::PayloadTooLarge => "the request body exceeds 1 MiB".into(),
            Self::NotFound => "no such resource".into(),
            Self::MethodNotAllowed { allow } => format!("allowed methods: {allow}"),
            Self::InvalidCredentials => "the e-mail or password is incorrect".into(),
            Self::EmailNotVerified => "verify your e-mail address before signing in".into(),
            Self::AccountDeactivated => {
                "this account is deactivated; POST /v1/auth/reactivate restores it".into()
            }
            Self::InvalidToken => {
                "the access token is missing, malformed, expired or not ours".into()
            }
            Self::SessionRevoked => "the session of this token has been revoked".into(),
            Self::RefreshTokenReused => {
                "this refresh token was already used; the session has been revoked".into()
            }
            Self::InvalidRefreshToken => "the refresh token is unknown, expired or revoked".into(),
            Self::InvalidMfaCode => "the code is wrong or was already used".into(),
            Self::InvalidMfaToken => {
                "the mfa_token is unknown, expired, used or spent; sign in again".into()
            }
            Self::InvalidSiweMessage => {
                "the message is not an acceptable EIP-4361 message for this service (domain, URI, \
                 chain id, times), or its nonce is unknown, used or expired; \
                 get a new nonce from POST /v1/auth/siwe/nonce"
                    .into()
            }
            Self::InvalidSignature => {
                "the signature is not a valid personal_sign signature of the message by its address"
                    .into()
            }
            Self::ReauthenticationRequired => {
                "this action needs a recent sign-in, with the second \
                 factor if the account has one: POST /v1/auth/reauthenticate"
                    .into()
            }
            Self::RateLimited { retry_after_s } => {
                format!("too many requests; retry after {retry_after_s} s")
            }
            Self::Overloaded { retry_after_s } => {
                format!("the server is busy; retry after {retry_after_s} s")
            }
            Self::Unexpected(_) => "an internal error occurred; quote the request id".into(),
        }
    }

    /// Value of `WWW-Authenticate` for 401 answers (RFC 6750 section 3).
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            Self::InvalidCredentials
            | Self::InvalidMfaCode
            | Self::InvalidMfaToken
            | Self::InvalidSiweMessage
            | Self::InvalidSignature
            | Self::InvalidPasskey(_) => {
                Some(r#"Bearer realm="edgeward""#.into())
            }
            Self::InvalidTicket => Some(r#"Bearer realm="edgeward", error="invalid_token", error_description="invalid_ticket""#.into()),
            Self::InvalidToken | Self::SessionRevoked => Some(format!(
                r#"Bearer realm="edgeward", error="invalid_token", error_description="{}""#,
                self.code()
            )),
            Self::ReauthenticationRequired => Some(
                r#"Bearer realm="edgeward", error="insufficient_user_authentication", error_description="reauthentication_required""#.into(),
            ),
            Self::RefreshTokenReused | Self::InvalidRefreshToken => Some(format!(
                r#"Bearer realm="edgeward", error="invalid_grant", error_description="{}""#,
                self.code()
            )),
            _ => None,
        }
    }

    /// Seconds for `Retry-After`: on every 429 and every 503.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_s } | Self::Overloaded { retry_after_s } => {
                Some((*retry_after_s).max(1))
            }
            // A dependency is down: worth a retry, not at once.
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_S),
            _ => None,
        }
    }

    /// A fault of ours with no error value behind it (an invariant that did not hold).
    pub fn fault(op: &'static str, cause: impl fmt::Display) -> Self {
        Self::Unexpected(Fault::new(op, cause))
    }

    /// The error as a structured log field: the fault (operations and cause) when it is ours,
    /// the code and detail otherwise.
    pub fn log_json(&self) -> serde_json::Value {
        match self {
            Self::Unexpected(fault) => fault.to_json(),
            other => serde_json::json!({"code": other.code(), "detail": other.detail()}),
        }
    }

    /// The problem+json body (RFC 9457).
    pub fn problem_json(&self, request_id: &str) -> serde_json::Value {
        serde_json::json!({
            "type": format!("urn:edgeward:problem:{}", self.code()),
            "title": self.title(),
            "status": self.status(),
            "detail": self.detail(),
            "code": self.code(),
            "request_id": request_id,
        })
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unexpected(cause) => write!(f, "unexpected: {cause}"),
            other => write!(f, "{}: {}", other.code(), other.detail()),
        }
    }
}

impl std::error::Error for AppError {}

/// What went wrong inside, for the log only: the operations that were under way, outermost
/// first (each layer that passes the fault up names itself with [`Within::within`]), and the
/// cause that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    ops: Vec<&'static str>,
    cause: String,
}

impl Fault {
    pub fn new(op: &'static str, cause: impl fmt::Display) -> Self {
        Self {
            ops: vec![op],
            cause: cause.to_string(),
        }
    }

    /// The operations, outermost first: `["login", "user_sessions.create", "d1.batch"]`.
    #[cfg(test)]
    pub fn ops(&self) -> &[&'static str] {
        &self.ops
    }

    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// The fault as one structured log field.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"ops": self.ops, "cause": self.cause})
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.ops.join(" > "), self.cause)
    }
}

/// Turns a foreign error (D1, a binding, serde, a crate) into a fault of ours, naming the
/// operation that failed. Typed errors a client may see never go through here.
pub trait Faulty<T> {
    fn fault(self, op: &'static str) -> Result<T, AppError>;
}

impl<T, E: fmt::Display> Faulty<T> for Result<T, E> {
    fn fault(self, op: &'static str) -> Result<T, AppError> {
        self.map_err(|e| AppError::Unexpected(Fault::new(op, e)))
    }
}

/// Names the operation a fault passed through on its way up; any other error passes unchanged.
pub trait Within<T> {
    fn within(self, op: &'static str) -> Result<T, AppError>;
}

impl<T> Within<T> for Result<T, AppError> {
    fn within(self, op: &'static str) -> Result<T, AppError> {
        self.map_err(|e| match e {
            AppError::Unexpected(mut fault) => {
                fault.ops.insert(0, op);
                AppError::Unexpected(fault)
            }
            other => other,
        })
    }
}

/// The 400 for a JSON body that parsed but does not fit the endpoint's schema, from serde's
/// message. serde quotes the offending input (``unknown field `<key>` ``, `invalid type: string
/// "<value>"`); a problem's `detail` never echoes client input, so only the parts that come from
/// our own schema (field names we declare, what we expected) are kept.
pub fn body_mismatch(serde_message: &str) -> AppError {
    let message = serde_message
        .rsplit_once(" at line ")
        .map_or(serde_message, |(m, _)| m);
    // serde puts ", expected ..." last, after any quoted input: the last occurrence is ours.
    let expected = message.rsplit_once(", expected ").map(|(_, e)| e);
    let detail =
        if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
            // Names of fields we declare (a duplicate is a known field given twice).
            format!("invalid body: {message}")
        } else {
            let what = if message.starts_with("unknown field ") {
                "a field that is not allowed"
            } else if message.starts_with("unknown variant ") {
                "a value that is not allowed"
            } else {
                "a field of the wrong type or value"
            };
            match expected {
                Some(e) => format!("invalid body: {what}; expected {e}"),
                None => format!("invalid body: {what}"),
            }
        };
    AppError::InvalidRequest(detail)
}

impl From<crate::core::domain::ValidationError> for AppError {
    fn from(e: crate::core::domain::ValidationError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unexpected_errors_never_leak_their_cause() {
        let e = AppError::fault("d1.first", "D1_ERROR: no such table users");
        let body = e.problem_json("req-1");
        assert_eq!(body["status"], 500);
        assert!(!body.to_string().contains("D1_ERROR"));
        assert_eq!(body["request_id"], "req-1");
    }

    #[test]
    fn a_fault_names_every_operation_it_passed_through_and_typed_errors_pass_unchanged() {
        let failed: Result<(), &str> = Err("D1_ERROR: database is locked");
        let e = failed
            .fault("d1.batch")
            .within("credits.apply")
            .within("tip")
            .unwrap_err();
        let AppError::Unexpected(fault) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(fault.ops(), ["tip", "credits.apply", "d1.batch"]);
        assert_eq!(
            fault.to_string(),
            "tip > credits.apply > d1.batch: D1_ERROR: database is locked"
        );
        assert_eq!(fault.to_json()["ops"][2], "d1.batch");
        assert_eq!(e.status(), 500);
        let typed: Result<(), AppError> = Err(AppError::InsufficientCredits);
        assert_eq!(
            typed.within("tip").unwrap_err(),
            AppError::InsufficientCredits
        );
    }

    #[test]
    fn problem_type_is_the_urn_of_the_code() {
        let body = AppError::SessionRevoked.problem_json("r");
        assert_eq!(body["type"], "urn:edgeward:problem:session_revoked");
        assert_eq!(body["code"], "session_revoked");
        assert_eq!(body["status"], 401);
    }

    #[test]
    fn a_body_mismatch_never_echoes_the_client_input() {
        let echoes = [
            "unknown field `<script>alert(1)</script>`, expected `email` or `password` at line 1 column 30",
            "unknown field `x, expected <b>`, expected one of `token`, `password` at line 1 column 9",
            "invalid type: string \"<marker> at line 9\", expected u32 at line 1 column 20",
            "invalid value: integer `-77777`, expected u64 at line 1 column 12",
            "unknown variant `<marker>`, expected `render_svg` or `dev_fail` at line 1 column 17",
            "invalid length 77777, expected a tuple of size 2 at line 1 column 3",
            "some custom message quoting <marker> at line 1 column 2",
        ];
        for message in echoes {
            let detail = body_mismatch(message).detail();
            for input in ["<script>", "<b>", "<marker>", "77777"] {
                assert!(!detail.contains(input), "{detail:?} echoes {input:?}");
            }
            assert!(detail.starts_with("invalid body"), "{detail}");
        }
        assert_eq!(
            body_mismatch("invalid type: string \"7\", expected u32 at line 1 column 20").detail(),
            "invalid body: a field of the wrong type or value; expected u32"
        );
        assert_eq!(
            body_mismatch("missing field `password` at line 1 column 2").detail(),
            "invalid body: missing field `password`"
        );
        assert_eq!(
            body_mismatch("unknown field `zz`, expected `email` at line 1 column 2").code(),
            "invalid_request"
        );
    }

    #[test]
    fn rate_limits_and_overload_say_when_to_retry() {
        let limited = AppError::RateLimited { retry_after_s: 0 };
        assert_eq!((limited.status(), limited.retry_after_s()), (429, Some(1)));
        let busy = AppError::Overloaded { retry_after_s: 2 };
        assert_eq!((busy.status(), busy.code()), (503, "overloaded"));
        assert_eq!(busy.retry_after_s(), Some(2));
        assert_eq!(AppError::Unavailable("d1".into()).retry_after_s(), Some(5));
        assert_eq!(AppError::NotFound.retry_after_s(), None);
    }

    #[test]
    fn every_401_names_a_bearer_challenge() {
        for e in [
            AppError::InvalidCredentials,
            AppError::InvalidToken,
            AppError::SessionRevoked,
            AppError::RefreshTokenReused,
            AppError::InvalidRefreshToken,
            AppError::InvalidMfaCode,
            AppError::InvalidMfaToken,
            AppError::InvalidSiweMessage,
            AppError::InvalidSignature,
            AppError::ReauthenticationRequired,
        ] {
            assert_eq!(e.status(), 401);
            assert!(e.www_authenticate().unwrap().starts_with("Bearer "));
        }
    }
}
