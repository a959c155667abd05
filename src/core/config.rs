//! Typed configuration, parsed once from a lookup function (`env.var`/`env.secret` at the
//! edge, a map in tests). A bad value is a `ConfigError` naming the variable, never a panic.

use crate::core::browser::csrf::CsrfKey;
use crate::core::caps::Caps;
use crate::core::hash_gate;
use crate::core::lockout;
use crate::core::ratelimit::Rule;
use crate::core::referral::SignupMode;
use crate::core::token::{KeySet, KeySetError};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailProvider {
    /// Development: the message is kept in the dev mailbox (`GET /v1/dev/mailbox`) and logged.
    Log,
    /// A Resend-compatible HTTP API: `POST {api_url}/emails` with a bearer key.
    Http { api_url: String, api_key: Secret },
}

/// A secret string that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub issuer: String,
    pub audience: String,
    pub keys: KeySet,
    pub access_ttl_s: i64,
    /// Idle timeout of a session: a refresh token unused this long ends it; each rotation
    /// slides the session's end by this much, up to `session_absolute_s` after sign-in.
    pub refresh_ttl_s: i64,
    /// The absolute cap of a session's life, however active it is.
    pub session_absolute_s: i64,
    pub refresh_reuse_window_s: i64,
    pub verification_ttl_s: i64,
    pub reset_ttl_s: i64,
    pub app_base_url: String,
    pub email_from: String,
    pub email_provider: EmailProvider,
    /// Largest accepted `exp - iat` of an access token (defaults to the access TTL).
    pub max_token_lifetime_s: i64,
    /// Clock skew tolerated when checking `exp`, `nbf` and `iat`.
    pub token_leeway_s: i64,
    pub lockout: lockout::Policy,
    /// One entry per `Limit`, `None` when switched off.
    pub rate_limits: [Option<Rule>; Limit::ALL.len()],
    pub deletion_grace_s: i64,
    /// How recent a session's last authentication must be for a sensitive action (step-up).
    pub reauth_window_s: i64,
    /// A deleted workspace is purged after this.
    pub workspace_deletion_grace_s: i64,
    /// How long a workspace invitation can be accepted.
    pub invitation_ttl_s: i64,
    pub unverified_max_age_s: i64,
    pub audit_retention_s: i64,
    /// Dead letters (messages the queues gave up on) are deleted after this.
    pub dead_letter_retention_s: i64,
    /// Delivery attempts of an e-mail before it is dead-lettered.
    pub email_max_attempts: u32,
    /// Retry delay of an e-mail = base x 2^(attempt-1), capped at 10 minutes.
    pub email_retry_base_s: u32,
    /// Base URL of the k-anonymity range API, `None` when the check is off.
    pub breached_api_url: Option<String>,
    pub breached_timeout_ms: u32,
    /// Origins allowed to open WebSockets (`None`: any).
    pub allowed_origins: Option<Vec<String>>,
    pub job_max_attempts: u32,
    pub job_retry_base_s: u32,
    pub job_running_timeout_s: i64,
    pub job_queued_stale_s: i64,
    /// Normalised e-mails of the first administrators: a verified account at one of them
    /// is given the stored `admin` role (`core::admin::bootstrap_admin`).
    pub admin_emails: Vec<String>,
    /// `SIGNUP_MODE`: open registration, or only with a referral key.
    pub signup_mode: SignupMode,
    /// Signing-key rotation period; `None` when rotation is off.
    pub key_rotation_interval_s: Option<i64>,
    /// AES-256 key sealing rotated private keys (secret KEY_ENCRYPTION_KEY).
    pub key_encryption_key: Option<Secret>,
    /// HMAC key of the CSRF tokens of cookie sessions, derived from KEY_ENCRYPTION_KEY (or,
    /// where that is unset, from JWT_SIGNING_KEYS): no secret of its own to provision.
    pub csrf_key: CsrfKey,
    /// Seals TOTP seeds at rest: derived from KEY_ENCRYPTION_KEY (or, where that is unset, as
    /// in development, from JWT_SIGNING_KEYS).
    pub factor_key: crate::core::keyseal::FactorKey,
    /// Development only: named faults the end-to-end tests inject (e.g. `session_mirror`: the
    /// session object's D1 mirror writes fail).
    pub dev_faults: Vec<String>,
    /// Password operations admitted at once per isolate, and how many more may wait.
    pub hash_gate: hash_gate::Policy,
    pub caps: Caps,
    /// External identity providers (`AUTH_PROVIDERS`, with their secrets).
    pub auth_providers: Vec<crate::core::idp::providers::Provider>,
    /// Sign in with Ethereum: the lower-cased `host[:port]` a message's `domain` may name
    /// (APP_BASE_URL's, then SIWE_DOMAINS), and the EIP-155 chain ids it may name
    /// (SIWE_CHAIN_IDS, default Ethereum mainnet, 1).
    pub siwe_domains: Vec<String>,
    pub siwe_chain_ids: Vec<u64>,
    /// The passkeys' relying party (`WEBAUTHN_RP_ID`, `WEBAUTHN_ORIGINS`; named after the
    /// issuer, as TOTP apps show it).
    pub webauthn: crate::core::webauthn::RelyingParty,
    /// `D1_READ_REPLICATION`: whether the read-only listings read from D1 replicas (with
    /// bookmarks for read-your-writes) or everything stays on the primary.
    pub read_replication: crate::core::replication::ReadReplication,
    /// `ACCOUNT_OBJECTS_LOCATION_HINT`: where new `UserSessions` objects (and the probes an
    /// unknown address's login meets instead) and the rate limiters keyed by an e-mail address
    /// are created; `None` = near their first request.
    pub account_objects_location_hint: Option<&'static str>,
}

/// Durable Objects' location hints (Cloudflare's list).
pub const LOCATION_HINTS: [&str; 9] = [
    "wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me",
];

/// The rate-limited actions and what they are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    LoginIp,
    LoginEmail,
    RegisterIp,
    VerifyIp,
    ResendIp,
    ResendEmail,
    ForgotIp,
    ForgotEmail,
    ResetIp,
    RefreshIp,
    /// Registrations per address: each one mails that address.
    RegisterEmail,
    /// Per-user limits of authenticated writes.
    TicketUser,
    StreamUser,
    TipUser,
    JobUser,
    ProfileUser,
    PasswordChangeUser,
    DeactivateUser,
    DeleteUser,
    WorkspaceUser,
    /// Referral-key checks per client (no guessing keys by the thousand).
    ReferralCheckIp,
    /// Admin requests per service API key.
    ApiKey,
}

impl Limit {
    pub const ALL: [Limit; 22] = [
        Limit::LoginIp,
        Limit::LoginEmail,
        Limit::RegisterIp,
        Limit::VerifyIp,
        Limit::ResendIp,
        Limit::ResendEmail,
        Limit::ForgotIp,
        Limit::ForgotEmail,
        Limit::ResetIp,
        Limit::RefreshIp,
        Limit::RegisterEmail,
        Limit::TicketUser,
        Limit::StreamUser,
        Limit::TipUser,
        Limit::JobUser,
        Limit::ProfileUser,
        Limit::PasswordChangeUser,
        Limit::DeactivateUser,
        Limit::DeleteUser,
        Limit::WorkspaceUser,
        Limit::ReferralCheckIp,
        Limit::ApiKey,
    ];

    /// (variable, default, key name used in the limiter's object name)
    pub fn spec(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::LoginIp => ("RATE_LIMIT_LOGIN_IP", "20/60", "login:ip"),
            Self::LoginEmail => ("RATE_LIMIT_LOGIN_EMAIL", "10/60", "login:email"),
            Self::RegisterIp => ("RATE_LIMIT_REGISTER_IP", "10/3600", "register:ip"),
            Self::VerifyIp => ("RATE_LIMIT_VERIFY_IP", "30/60", "verify:ip"),
            Self::ResendIp => ("RATE_LIMIT_RESEND_IP", "10/3600", "resend:ip"),
            Self::ResendEmail => ("RATE_LIMIT_RESEND_EMAIL", "3/3600", "resend:email"),
            Self::ForgotIp => ("RATE_LIMIT_FORGOT_IP", "10/3600", "forgot:ip"),
            Self::ForgotEmail => ("RATE_LIMIT_FORGOT_EMAIL", "3/3600", "forgot:email"),
            Self::ResetIp => ("RATE_LIMIT_RESET_IP", "20/3600", "reset:ip"),
            Self::RefreshIp => ("RATE_LIMIT_REFRESH_IP", "120/60", "refresh:ip"),
            Self::RegisterEmail => ("RATE_LIMIT_REGISTER_EMAIL", "3/3600", "register:email"),
            Self::TicketUser => ("RATE_LIMIT_TICKET_USER", "60/60", "ticket:user"),
            Self::StreamUser => ("RATE_LIMIT_STREAM_USER", "30/60", "stream:user"),
            Self::TipUser => ("RATE_LIMIT_TIP_USER", "60/60", "tip:user"),
            Self::JobUser => ("RATE_LIMIT_JOB_USER", "30/60", "job:user"),
            Self::ProfileUser => ("RATE_LIMIT_PROFILE_USER", "30/60", "profile:user"),
            Self::PasswordChangeUser => (
                "RATE_LIMIT_PASSWORD_CHANGE_USER",
                "5/3600",
                "password-change:user",
            ),
            Self::DeactivateUser => ("RATE_LIMIT_DEACTIVATE_USER", "5/3600", "deactivate:user"),
            Self::DeleteUser => ("RATE_LIMIT_DELETE_USER", "5/3600", "delete:user"),
            Self::WorkspaceUser => ("RATE_LIMIT_WORKSPACE_USER", "60/60", "workspace:user"),
            Self::ReferralCheckIp => ("RATE_LIMIT_REFERRAL_CHECK_IP", "20/60", "referral-check:ip"),
            Self::ApiKey => ("RATE_LIMIT_API_KEY", "600/60", "api-key"),
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|l| *l == self).expect("listed")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Missing(&'static str),
    Invalid { var: &'static str, why: String },
    Keys(KeySetError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(v) => write!(f, "missing configuration: {v}"),
            Self::Invalid { var, why } => write!(f, "invalid configuration {var}: {why}"),
            Self::Keys(e) => write!(f, "invalid JWT_SIGNING_KEYS: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Names of every variable and secret, so the edge and the README agree.
pub mod vars {
    pub const ENVIRONMENT: &str = "ENVIRONMENT";
    pub const JWT_ISSUER: &str = "JWT_ISSUER";
    pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
    pub const JWT_SIGNING_KEYS: &str = "JWT_SIGNING_KEYS";
    pub const JWT_ACTIVE_KID: &str = "JWT_ACTIVE_KID";
    pub const ACCESS_TOKEN_TTL_SECONDS: &str = "ACCESS_TOKEN_TTL_SECONDS";
    pub const REFRESH_TOKEN_TTL_SECONDS: &str = "REFRESH_TOKEN_TTL_SECONDS";
    pub const SESSION_ABSOLUTE_LIFETIME_SECONDS: &str = "SESSION_ABSOLUTE_LIFETIME_SECONDS";
    pub const REFRESH_REUSE_WINDOW_SECONDS: &str = "REFRESH_REUSE_WINDOW_SECONDS";
    pub const VERIFICATION_TOKEN_TTL_SECONDS: &str = "VERIFICATION_TOKEN_TTL_SECONDS";
    pub const RESET_TOKEN_TTL_SECONDS: &str = "RESET_TOKEN_TTL_SECONDS";
    pub const APP_BASE_URL: &str = "APP_BASE_URL";
    pub const EMAIL_FROM: &str = "EMAIL_FROM";
    pub const EMAIL_PROVIDER: &str = "EMAIL_PROVIDER";
    pub const EMAIL_API_URL: &str = "EMAIL_API_URL";
    pub const EMAIL_API_KEY: &str = "EMAIL_API_KEY";
    pub const TOKEN_LEEWAY_SECONDS: &str = "TOKEN_LEEWAY_SECONDS";
    pub const LOCKOUT_THRESHOLD: &str = "LOCKOUT_THRESHOLD";
    pub const LOCKOUT_BASE_SECONDS: &str = "LOCKOUT_BASE_SECONDS";
    pub const LOCKOUT_MAX_SECONDS: &str = "LOCKOUT_MAX_SECONDS";
    pub const DELETION_GRACE_SECONDS: &str = "DELETION_GRACE_SECONDS";
    pub const REAUTH_WINDOW_SECONDS: &str = "REAUTH_WINDOW_SECONDS";
    pub const WORKSPACE_DELETION_GRACE_SECONDS: &str = "WORKSPACE_DELETION_GRACE_SECONDS";
    pub const INVITATION_TTL_SECONDS: &str = "INVITATION_TTL_SECONDS";
    pub const UNVERIFIED_ACCOUNT_MAX_AGE_SECONDS: &str = "UNVERIFIED_ACCOUNT_MAX_AGE_SECONDS";
    pub const AUDIT_RETENTION_SECONDS: &str = "AUDIT_RETENTION_SECONDS";
    pub const DEAD_LETTER_RETENTION_SECONDS: &str = "DEAD_LETTER_RETENTION_SECONDS";
    pub const EMAIL_MAX_ATTEMPTS: &str = "EMAIL_MAX_ATTEMPTS";
    pub const EMAIL_RETRY_BASE_SECONDS: &str = "EMAIL_RETRY_BASE_SECONDS";
    pub const BREACHED_PASSWORDS_API_URL: &str = "BREACHED_PASSWORDS_API_URL";
    pub const BREACHED_PASSWORDS_TIMEOUT_MS: &str = "BREACHED_PASSWORDS_TIMEOUT_MS";
    pub const ALLOWED_ORIGINS: &str = "ALLOWED_ORIGINS";
    pub const JOB_MAX_ATTEMPTS: &str = "JOB_MAX_ATTEMPTS";
    pub const JOB_RETRY_BASE_SECONDS: &str = "JOB_RETRY_BASE_SECONDS";
    pub const JOB_RUNNING_TIMEOUT_SECONDS: &str = "JOB_RUNNING_TIMEOUT_SECONDS";
    pub const JOB_QUEUED_STALE_SECONDS: &str = "JOB_QUEUED_STALE_SECONDS";
    pub const ADMIN_EMAILS: &str = "ADMIN_EMAILS";
    pub const SIGNUP_MODE: &str = "SIGNUP_MODE";
    pub const KEY_ROTATION_INTERVAL_SECONDS: &str = "KEY_ROTATION_INTERVAL_SECONDS";
    pub const KEY_ENCRYPTION_KEY: &str = "KEY_ENCRYPTION_KEY";
    pub const DEV_FAULTS: &str = "DEV_FAULTS";
    pub const PASSWORD_HASH_CONCURRENCY: &str = "PASSWORD_HASH_CONCURRENCY";
    pub const PASSWORD_HASH_QUEUE: &str = "PASSWORD_HASH_QUEUE";
    pub const MAX_TICKETS_PER_USER: &str = "MAX_TICKETS_PER_USER";
    pub const MAX_QUEUED_JOBS_PER_USER: &str = "MAX_QUEUED_JOBS_PER_USER";
    pub const MAX_LIVE_STREAMS_PER_USER: &str = "MAX_LIVE_STREAMS_PER_USER";
    pub const MAX_SOCKETS_PER_USER: &str = "MAX_SOCKETS_PER_USER";
    pub const AUTH_PROVIDERS: &str = "AUTH_PROVIDERS";
    pub const SIWE_DOMAINS: &str = "SIWE_DOMAINS";
    pub const SIWE_CHAIN_IDS: &str = "SIWE_CHAIN_IDS";
    pub const WEBAUTHN_RP_ID: &str = "WEBAUTHN_RP_ID";
    pub const WEBAUTHN_ORIGINS: &str = "WEBAUTHN_ORIGINS";
    pub const D1_READ_REPLICATION: &str = "D1_READ_REPLICATION";
    pub const ACCOUNT_OBJECTS_LOCATION_HINT: &str = "ACCOUNT_OBJECTS_LOCATION_HINT";

    /// Every name the Worker reads, for documentation tests.
    #[cfg(test)]
    pub const ALL: &[&str] = &[
        ENVIRONMENT,
        JWT_ISSUER,
        JWT_AUDIENCE,
        JWT_SIGNING_KEYS,
        JWT_ACTIVE_KID,
        ACCESS_TOKEN_TTL_SECONDS,
        REFRESH_TOKEN_TTL_SECONDS,
        SESSION_ABSOLUTE_LIFETIME_SECONDS,
        REFRESH_REUSE_WINDOW_SECONDS,
        VERIFICATION_TOKEN_TTL_SECONDS,
        RESET_TOKEN_TTL_SECONDS,
        APP_BASE_URL,
        EMAIL_FROM,
        EMAIL_PROVIDER,
        EMAIL_API_URL,
        EMAIL_API_KEY,
        TOKEN_LEEWAY_SECONDS,
        LOCKOUT_THRESHOLD,
        LOCKOUT_BASE_SECONDS,
        LOCKOUT_MAX_SECONDS,
        DELETION_GRACE_SECONDS,
        REAUTH_WINDOW_SECONDS,
        WORKSPACE_DELETION_GRACE_SECONDS,
        INVITATION_TTL_SECONDS,
        UNVERIFIED_ACCOUNT_MAX_AGE_SECONDS,
        AUDIT_RETENTION_SECONDS,
        DEAD_LETTER_RETENTION_SECONDS,
        EMAIL_MAX_ATTEMPTS,
        EMAIL_RETRY_BASE_SECONDS,
        BREACHED_PASSWORDS_API_URL,
        BREACHED_PASSWORDS_TIMEOUT_MS,
        ALLOWED_ORIGINS,
        JOB_MAX_ATTEMPTS,
        JOB_RETRY_BASE_SECONDS,
        JOB_RUNNING_TIMEOUT_SECONDS,
        JOB_QUEUED_STALE_SECONDS,
        ADMIN_EMAILS,
        SIGNUP_MODE,
        KEY_ROTATION_INTERVAL_SECONDS,
        KEY_ENCRYPTION_KEY,
        DEV_FAULTS,
        PASSWORD_HASH_CONCURRENCY,
        PASSWORD_HASH_QUEUE,
        MAX_TICKETS_PER_USER,
        MAX_QUEUED_JOBS_PER_USER,
        MAX_LIVE_STREAMS_PER_USER,
        MAX_SOCKETS_PER_USER,
        AUTH_PROVIDERS,
        SIWE_DOMAINS,
        SIWE_CHAIN_IDS,
        WEBAUTHN_RP_ID,
        WEBAUTHN_ORIGINS,
        D1_READ_REPLICATION,
        ACCOUNT_OBJECTS_LOCATION_HINT,
    ];
}

/// `scheme://host[:port]` of an absolute URL, lower case; `None` when it is not one.
fn origin_of(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') || !matches!(scheme, "http" | "https") {
        return None;
    }
    let host = if authority.starts_with('[') {
        authority.split(']').next()?.to_owned() + "]"
    } else {
        authority.split(':').next()?.to_owned()
    };
    Some((format!("{scheme}://{authority}"), host))
}

/// The passkeys' relying party. Unset, the RP ID is APP_BASE_URL's host (in development an IP
/// address becomes `localhost`: an IP is not a valid RP ID) and the origins are APP_BASE_URL's
/// origin (with that host). Every origin must be the RP ID or under it, and https in
/// production (browsers allow http only on localhost).
fn relying_party(
    rp_id: Option<String>,
    origins: Option<String>,
    app_base_url: &str,
    issuer: &str,
    environment: Environment,
) -> Result<crate::core::webauthn::RelyingParty, ConfigError> {
    use crate::core::webauthn::{host_within, RelyingParty};
    use vars::{WEBAUTHN_ORIGINS, WEBAUTHN_RP_ID};
    let dev = environment == Environment::Development;
    let (app_origin, app_host) = origin_of(app_base_url).ok_or(ConfigError::Invalid {
        var: vars::APP_BASE_URL,
        why: "must be an http(s) URL".into(),
    })?;
    let is_ip = |h: &str| h.starts_with('[') || h.parse::<std::net::Ipv4Addr>().is_ok();
    let id = match rp_id {
        Some(id) => id.to_ascii_lowercase(),
        None if is_ip(&app_host) && dev => "localhost".to_owned(),
        None => app_host.clone(),
    };
    if id.is_empty() || is_ip(&id) || id.contains([':', '/']) {
        return Err(ConfigError::Invalid {
            var: WEBAUTHN_RP_ID,
            why: format!("{id:?} is not a domain (an IP address cannot be an RP ID)"),
        });
    }
    let origins: Vec<String> = match origins {
        Some(list) => list
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect(),
        None if app_host != id => vec![app_origin.replacen(&app_host, &id, 1)],
        None => vec![app_origin],
    };
    for o in &origins {
        let ok = origin_of(o).is_some_and(|(origin, host)| {
            origin == *o
                && host_within(&host, &id)
                && (o.starts_with("https://") || (dev && host == "localhost"))
        });
        if !ok {
            return Err(ConfigError::Invalid {
                var: WEBAUTHN_ORIGINS,
                why: format!(
                    "{o:?} must be an exact origin (scheme://host[:port], https outside \
                     development) on {id:?} or a subdomain of it"
                ),
            });
        }
    }
    let name = issuer
        .split_once("://")
        .map_or(issuer, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_owned();
    Ok(RelyingParty { id, name, origins })
}

impl Config {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use vars::*;
        let get = |k: &'static str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let seconds =
            |k: &'static str, default: i64, min: i64, max: i64| -> Result<i64, ConfigError> {
                match get(k) {
                    None => Ok(default),
                    Some(v) => match v.parse::<i64>() {
                        Ok(n) if (min..=max).contains(&n) => Ok(n),
                        _ => Err(ConfigError::Invalid {
                            var: k,
                            why: format!("expected whole seconds in {min}..={max}, got {v:?}"),
                        }),
                    },
                }
            };

        let count = |k: &'static str, default: u32| -> Result<u32, ConfigError> {
            seconds(k, i64::from(default), 1, 100_000).map(|n| n as u32)
        };
        let default_gate = hash_gate::Policy::default();
        let default_caps = Caps::default();

        let environment = match get(ENVIRONMENT).as_deref() {
            None | Some("production") => Environment::Production,
            Some("development") => Environment::Development,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: ENVIRONMENT,
                    why: format!("expected development or production, got {other:?}"),
                })
            }
        };
        let issuer = get(JWT_ISSUER).ok_or(ConfigError::Missing(JWT_ISSUER))?;
        let audience = get(JWT_AUDIENCE).ok_or(ConfigError::Missing(JWT_AUDIENCE))?;
        let keys_json = get(JWT_SIGNING_KEYS).ok_or(ConfigError::Missing(JWT_SIGNING_KEYS))?;
        let keys = KeySet::from_jwks_json(&keys_json, get(JWT_ACTIVE_KID).as_deref())
            .map_err(ConfigError::Keys)?;

        let access_ttl_s = seconds(ACCESS_TOKEN_TTL_SECONDS, 900, 5, 86_400)?;
        let refresh_ttl_s = seconds(REFRESH_TOKEN_TTL_SECONDS, 14 * 86_400, 2, 400 * 86_400)?;
        let session_absolute_s = seconds(
            SESSION_ABSOLUTE_LIFETIME_SECONDS,
            90 * 86_400,
            2,
            3_650 * 86_400,
        )?;
        let refresh_reuse_window_s = seconds(REFRESH_REUSE_WINDOW_SECONDS, 10, 0, 300)?;
        let verification_ttl_s = seconds(VERIFICATION_TOKEN_TTL_SECONDS, 86_400, 60, 30 * 86_400)?;
        let reset_ttl_s = seconds(RESET_TOKEN_TTL_SECONDS, 3_600, 60, 86_400)?;
        let token_leeway_s = seconds(TOKEN_LEEWAY_SECONDS, 60, 0, 300)?;

        let app_base_url = get(APP_BASE_URL).ok_or(ConfigError::Missing(APP_BASE_URL))?;
        if !(app_base_url.starts_with("https://") || app_base_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                var: APP_BASE_URL,
                why: "must be an http(s) URL".into(),
            });
        }
        if environment == Environment::Production && !app_base_url.starts_with("https://") {
            return Err(ConfigError::Invalid {
                var: APP_BASE_URL,
                why: "must be an https URL in production".into(),
            });
        }
        let app_base_url = app_base_url.trim_end_matches('/').to_owned();
        let email_from =
            get(EMAIL_FROM).unwrap_or_else(|| "Edgeward <no-reply@edgeward.localhost>".into());
        let provider_name = get(EMAIL_PROVIDER).unwrap_or_else(|| match environment {
            Environment::Development => "log".into(),
            Environment::Production => "resend".into(),
        });
        let email_provider = match provider_name.as_str() {
            // The log provider fills the dev mailbox, readable by anyone: never in production.
            "log" if environment == Environment::Production => {
                return Err(ConfigError::Invalid {
                    var: EMAIL_PROVIDER,
                    why: "log is for development only; production needs resend".into(),
                })
            }
            "log" => EmailProvider::Log,
            "resend" | "http" => EmailProvider::Http {
                api_url: get(EMAIL_API_URL)
                    .unwrap_or_else(|| "https://api.resend.com".into())
                    .trim_end_matches('/')
                    .to_owned(),
                api_key: Secret::new(
                    get(EMAIL_API_KEY).ok_or(ConfigError::Missing(EMAIL_API_KEY))?,
                ),
            },
            other => {
                return Err(ConfigError::Invalid {
                    var: EMAIL_PROVIDER,
                    why: format!("expected log or resend, got {other:?}"),
                })
            }
        };
        let lockout = lockout::Policy {
            threshold: seconds(LOCKOUT_THRESHOLD, 5, 1, 100)? as u32,
            base_s: seconds(LOCKOUT_BASE_SECONDS, 60, 1, 86_400)?,
            max_s: seconds(LOCKOUT_MAX_SECONDS, 900, 1, 7 * 86_400)?,
        };
        let mut rate_limits = [None; Limit::ALL.len()];
        for limit in Limit::ALL {
            let (var, default, _) = limit.spec();
            let text = get(var).unwrap_or_else(|| default.to_owned());
            rate_limits[limit.index()] =
                Rule::parse(&text).map_err(|why| ConfigError::Invalid { var, why })?;
        }
        let breached_api_url = match get(BREACHED_PASSWORDS_API_URL).as_deref() {
            None => Some("https://api.pwnedpasswords.com".to_owned()),
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            Some(v) if v.starts_with("https://") || v.starts_with("http://") => {
                Some(v.trim_end_matches('/').to_owned())
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: BREACHED_PASSWORDS_API_URL,
                    why: "must be an http(s) URL or off".into(),
                })
            }
        };

        if get(KEY_ROTATION_INTERVAL_SECONDS).is_some_and(|v| v != "off")
            && get(KEY_ENCRYPTION_KEY).is_none()
        {
            return Err(ConfigError::Missing(KEY_ENCRYPTION_KEY));
        }
        // Secrets named after each provider (`AUTH_PROVIDER_<ID>_SECRET`).
        let auth_providers = crate::core::idp::providers::parse(
            get(AUTH_PROVIDERS).as_deref(),
            |name| lookup(name),
            environment == Environment::Production,
        )
        .map_err(|why| ConfigError::Invalid {
            var: AUTH_PROVIDERS,
            why,
        })?;
        let mut siwe_domains: Vec<String> = crate::core::siwe::domain_of(&app_base_url)
            .into_iter()
            .collect();
        for d in get(SIWE_DOMAINS).unwrap_or_default().split(',') {
            let d = d.trim().to_ascii_lowercase();
            if d.is_empty() {
                continue;
            }
            // host[:port] only, as a message's first line names it (no scheme, no path).
            if crate::core::siwe::domain_of(&format!("https://{d}")).as_deref() != Some(&d)
                || d.contains(['/', '@'])
            {
                return Err(ConfigError::Invalid {
                    var: SIWE_DOMAINS,
                    why: format!("{d:?} is not a host[:port]"),
                });
            }
            if !siwe_domains.contains(&d) {
                siwe_domains.push(d);
            }
        }
        let siwe_chain_ids = get(SIWE_CHAIN_IDS)
            .unwrap_or_else(|| "1".into())
            .split(',')
            .map(|c| c.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .ok()
            // Kept in D1 and JSON as numbers: at most 2^53 - 1 (real chain ids are far below).
            .filter(|ids| !ids.is_empty() && ids.iter().all(|&c| c < 1 << 53))
            .ok_or_else(|| ConfigError::Invalid {
                var: SIWE_CHAIN_IDS,
                why: "a comma-separated list of EIP-155 chain ids (decimal)".into(),
            })?;
        let webauthn = relying_party(
            get(WEBAUTHN_RP_ID),
            get(WEBAUTHN_ORIGINS),
            &app_base_url,
            &issuer,
            environment,
        )?;
        let read_replication =
            crate::core::replication::ReadReplication::parse(get(D1_READ_REPLICATION).as_deref())
                .map_err(|why| ConfigError::Invalid {
                var: D1_READ_REPLICATION,
                why,
            })?;
        let account_objects_location_hint = match get(ACCOUNT_OBJECTS_LOCATION_HINT) {
            None => None,
            Some(hint) => Some(LOCATION_HINTS.into_iter().find(|&h| h == hint).ok_or_else(
                || ConfigError::Invalid {
                    var: ACCOUNT_OBJECTS_LOCATION_HINT,
                    why: format!("one of {}, got {hint:?}", LOCATION_HINTS.join(", ")),
                },
            )?),
        };
        Ok(Self {
            account_objects_location_hint,
            read_replication,
            webauthn,
            siwe_domains,
            siwe_chain_ids,
            environment,
            issuer,
            audience,
            keys,
            access_ttl_s,
            refresh_ttl_s,
            session_absolute_s,
            refresh_reuse_window_s,
            verification_ttl_s,
            reset_ttl_s,
            app_base_url,
            email_from,
            email_provider,
            max_token_lifetime_s: access_ttl_s,
            token_leeway_s,
            lockout,
            rate_limits,
            deletion_grace_s: seconds(DELETION_GRACE_SECONDS, 30 * 86_400, 0, 400 * 86_400)?,
            reauth_window_s: seconds(REAUTH_WINDOW_SECONDS, 600, 1, 30 * 86_400)?,
            workspace_deletion_grace_s: seconds(
                WORKSPACE_DELETION_GRACE_SECONDS,
                30 * 86_400,
                0,
                400 * 86_400,
            )?,
            invitation_ttl_s: seconds(INVITATION_TTL_SECONDS, 7 * 86_400, 60, 30 * 86_400)?,
            unverified_max_age_s: seconds(
                UNVERIFIED_ACCOUNT_MAX_AGE_SECONDS,
                7 * 86_400,
                1,
                400 * 86_400,
            )?,
            audit_retention_s: seconds(
                AUDIT_RETENTION_SECONDS,
                365 * 86_400,
                86_400,
                3_650 * 86_400,
            )?,
            dead_letter_retention_s: seconds(
                DEAD_LETTER_RETENTION_SECONDS,
                30 * 86_400,
                86_400,
                365 * 86_400,
            )?,
            // The queue's own max_retries (5) is the backstop: stay within its 6 deliveries.
            email_max_attempts: seconds(EMAIL_MAX_ATTEMPTS, 6, 1, 6)? as u32,
            email_retry_base_s: seconds(EMAIL_RETRY_BASE_SECONDS, 10, 1, 3_600)? as u32,
            breached_api_url,
            breached_timeout_ms: seconds(BREACHED_PASSWORDS_TIMEOUT_MS, 1_500, 50, 10_000)? as u32,
            allowed_origins: match get(ALLOWED_ORIGINS).as_deref() {
                Some("*") => None,
                Some(list) => Some(
                    list.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                        .filter(|o| !o.is_empty())
                        .collect(),
                ),
                // Unset: the local dev server's own origins in development, none in production.
                None if environment == Environment::Development => Some(vec![
                    "http://127.0.0.1:8787".into(),
                    "http://localhost:8787".into(),
                ]),
                None => Some(Vec::new()),
            },
            job_max_attempts: seconds(JOB_MAX_ATTEMPTS, 3, 1, 20)? as u32,
            job_retry_base_s: seconds(JOB_RETRY_BASE_SECONDS, 5, 0, 3_600)? as u32,
            job_running_timeout_s: seconds(JOB_RUNNING_TIMEOUT_SECONDS, 300, 1, 86_400)?,
            job_queued_stale_s: seconds(JOB_QUEUED_STALE_SECONDS, 600, 1, 86_400)?,
            admin_emails: get(ADMIN_EMAILS)
                .map(|list| {
                    list.split(',')
                        .map(|e| e.trim().to_lowercase())
                        .filter(|e| !e.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            signup_mode: match get(SIGNUP_MODE).as_deref() {
                None | Some("open") => SignupMode::Open,
                Some("invite_only") => SignupMode::InviteOnly,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        var: SIGNUP_MODE,
                        why: format!("expected open or invite_only, got {other:?}"),
                    })
                }
            },
            key_rotation_interval_s: match get(KEY_ROTATION_INTERVAL_SECONDS).as_deref() {
                None | Some("off") => None,
                Some(_) => Some(seconds(KEY_ROTATION_INTERVAL_SECONDS, 0, 1, 400 * 86_400)?),
            },
            factor_key: crate::core::keyseal::FactorKey::derive(
                &get(KEY_ENCRYPTION_KEY).unwrap_or_else(|| keys_json.clone()),
            ),
            csrf_key: CsrfKey::derive(&get(KEY_ENCRYPTION_KEY).unwrap_or(keys_json)),
            key_encryption_key: get(KEY_ENCRYPTION_KEY).map(Secret::new),
            dev_faults: match get(DEV_FAULTS) {
                None => Vec::new(),
                Some(_) if environment == Environment::Production => {
                    return Err(ConfigError::Invalid {
                        var: DEV_FAULTS,
                        why: "fault injection is for development only".into(),
                    })
                }
                Some(list) => list.split(',').map(|f| f.trim().to_owned()).collect(),
            },
            hash_gate: hash_gate::Policy {
                concurrency: seconds(
                    PASSWORD_HASH_CONCURRENCY,
                    i64::from(default_gate.concurrency),
                    1,
                    64,
                )? as u32,
                queue: seconds(PASSWORD_HASH_QUEUE, i64::from(default_gate.queue), 0, 1_000)?
                    as u32,
            },
            caps: Caps {
                tickets: count(MAX_TICKETS_PER_USER, default_caps.tickets)?,
                queued_jobs: count(MAX_QUEUED_JOBS_PER_USER, default_caps.queued_jobs)?,
                live_streams: count(MAX_LIVE_STREAMS_PER_USER, default_caps.live_streams)?,
                sockets: count(MAX_SOCKETS_PER_USER, default_caps.sockets)?,
            },
            auth_providers,
        })
    }

    pub fn rate_limit(&self, limit: Limit) -> Option<Rule> {
        self.rate_limits[limit.index()]
    }

    /// A browser's `Origin` may open a WebSocket; no `Origin` (a non-browser client) may too.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match (origin, &self.allowed_origins) {
            (None, _) | (_, None) => true,
            (Some(o), Some(list)) => {
                let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
                list.contains(&o)
            }
        }
    }

    pub fn auth_provider(&self, id: &str) -> Option<&crate::core::idp::providers::Provider> {
        self.auth_providers.iter().find(|p| p.id == id)
    }

    pub fn is_admin(&self, email: &str) -> bool {
        self.admin_emails.iter().any(|a| a == email)
    }

    /// Is the named test fault switched on (never in production)?
    pub fn dev_fault(&self, name: &str) -> bool {
        self.dev_faults.iter().any(|f| f == name)
    }

    pub fn is_development(&self) -> bool {
        self.environment == Environment::Development
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub const TEST_KEYS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}"#;

    pub fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut m: HashMap<String, String> = [
            ("ENVIRONMENT", "development"),
            ("JWT_ISSUER", "https://auth.example.test"),
            ("JWT_AUDIENCE", "https://api.example.test"),
            ("JWT_SIGNING_KEYS", TEST_KEYS),
            ("APP_BASE_URL", "http://127.0.0.1:8787/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in pairs {
            m.insert((*k).into(), (*v).into());
        }
        move |k| m.get(k).cloned()
    }

    #[test]
    fn mail_retry_and_dead_letter_settings_default_safely_and_stay_in_bounds() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(
            (
                c.email_max_attempts,
                c.email_retry_base_s,
                c.dead_letter_retention_s
            ),
            (6, 10, 30 * 86_400)
        );
        let with = |k: &str, v: &str| Config::from_lookup(lookup(&[(k, v)]));
        assert_eq!(
            with("EMAIL_MAX_ATTEMPTS", "3").unwrap().email_max_attempts,
            3
        );
        // The queue's own 5 retries are the backstop: no more than its 6 deliveries.
        assert!(with("EMAIL_MAX_ATTEMPTS", "7").is_err());
        assert!(with("EMAIL_MAX_ATTEMPTS", "0").is_err());
        assert!(with("EMAIL_RETRY_BASE_SECONDS", "0").is_err());
        assert!(with("DEAD_LETTER_RETENTION_SECONDS", "3600").is_err());
    }

    #[test]
    fn access_tokens_may_live_five_seconds_but_not_less() {
        let with = |v: &str| Config::from_lookup(lookup(&[("ACCESS_TOKEN_TTL_SECONDS", v)]));
        assert_eq!(with("5").unwrap().access_ttl_s, 5);
        assert!(with("4").is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.access_ttl_s, 900);
        assert_eq!(c.refresh_ttl_s, 14 * 86_400);
        assert_eq!(c.session_absolute_s, 90 * 86_400);
        assert_eq!(c.refresh_reuse_window_s, 10);
        assert_eq!(c.verification_ttl_s, 86_400);
        assert_eq!(c.reset_ttl_s, 3_600);
        assert_eq!(c.app_base_url, "http://127.0.0.1:8787");
        assert_eq!(c.email_provider, EmailProvider::Log);
        assert!(c.is_development());
        assert_eq!(c.siwe_domains, ["127.0.0.1:8787"]);
        assert_eq!(c.siwe_chain_ids, [1]);
    }

    #[test]
    fn siwe_domains_add_to_the_app_hosts_and_chain_ids_are_numbers() {
        let c = Config::from_lookup(lookup(&[
            (
                "SIWE_DOMAINS",
                " App.Example.com , localhost:3000,127.0.0.1:8787",
            ),
            ("SIWE_CHAIN_IDS", "1, 10,8453"),
        ]))
        .unwrap();
        assert_eq!(
            c.siwe_domains,
            ["127.0.0.1:8787", "app.example.com", "localhost:3000"]
        );
        assert_eq!(c.siwe_chain_ids, [1, 10, 8453]);
        for bad in ["https://app.example.com", "app.example.com/login", "a b"] {
            let e = Config::from_lookup(lookup(&[("SIWE_DOMAINS", bad)])).unwrap_err();
            assert!(e.to_string().contains("SIWE_DOMAINS"), "{bad}: {e}");
        }
        for bad in ["mainnet", "1,,2", "-1"] {
            let e = Config::from_lookup(lookup(&[("SIWE_CHAIN_IDS", bad)])).unwrap_err();
            assert!(e.to_string().contains("SIWE_CHAIN_IDS"), "{bad}: {e}");
        }
    }

    #[test]
    fn rate_limits_default_and_can_be_overridden_or_switched_off() {
        let c = Config::from_lookup(lookup(&[
            ("RATE_LIMIT_LOGIN_IP", "3/4"),
            ("RATE_LIMIT_REFRESH_IP", "off"),
        ]))
        .unwrap();
        assert_eq!(
            c.rate_limit(Limit::LoginIp),
            Some(Rule {
                limit: 3,
                period_s: 4
            })
        );
        assert_eq!(c.rate_limit(Limit::RefreshIp), None);
        assert_eq!(
            c.rate_limit(Limit::ForgotEmail),
            Some(Rule {
                limit: 3,
                period_s: 3600
            })
        );
        let e = Config::from_lookup(lookup(&[("RATE_LIMIT_LOGIN_EMAIL", "lots")])).unwrap_err();
        assert!(e.to_string().contains("RATE_LIMIT_LOGIN_EMAIL"));
    }

    #[test]
    fn per_user_write_limits_and_the_register_mail_cap_have_safe_defaults() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        for limit in [
            Limit::RegisterEmail,
            Limit::TicketUser,
            Limit::StreamUser,
            Limit::TipUser,
            Limit::JobUser,
            Limit::ProfileUser,
            Limit::PasswordChangeUser,
            Limit::DeactivateUser,
            Limit::DeleteUser,
        ] {
            let rule = c.rate_limit(limit).expect("on by default");
            assert!(
                rule.limit <= 60 && rule.period_s >= 60,
                "{limit:?} is at most 60 a minute by default"
            );
        }
        // Each registration mails the address: a few an hour at most.
        assert_eq!(
            c.rate_limit(Limit::RegisterEmail),
            Some(Rule {
                limit: 3,
                period_s: 3600
            })
        );
    }

    #[test]
    fn caps_and_the_hash_gate_default_and_can_be_set() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.caps, Caps::default());
        assert_eq!(c.hash_gate, hash_gate::Policy::default());
        let c = Config::from_lookup(lookup(&[
            ("MAX_LIVE_STREAMS_PER_USER", "2"),
            ("PASSWORD_HASH_CONCURRENCY", "1"),
            ("PASSWORD_HASH_QUEUE", "0"),
        ]))
        .unwrap();
        assert_eq!(c.caps.live_streams, 2);
        assert_eq!(
            c.hash_gate,
            hash_gate::Policy {
                concurrency: 1,
                queue: 0
            }
        );
        assert!(Config::from_lookup(lookup(&[("MAX_SOCKETS_PER_USER", "0")])).is_err());
        assert!(Config::from_lookup(lookup(&[("PASSWORD_HASH_CONCURRENCY", "0")])).is_err());
    }

    #[test]
    fn every_variable_is_in_the_readme() {
        let readme = include_str!("../../README.md");
        let limits = Limit::ALL.map(|l| l.spec().0);
        for name in vars::ALL.iter().chain(limits.iter()) {
            assert!(
                readme.contains(&format!("`{name}`")),
                "README's configuration section lacks `{name}`"
            );
        }
    }

    #[test]
    fn the_breach_check_defaults_to_the_public_api_and_can_be_off() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(
            c.breached_api_url.as_deref(),
            Some("https://api.pwnedpasswords.com")
        );
        let c = Config::from_lookup(lookup(&[("BREACHED_PASSWORDS_API_URL", "off")])).unwrap();
        assert_eq!(c.breached_api_url, None);
    }

    #[test]
    fn origins_are_matched_exactly_and_absent_origins_pass() {
        let c = Config::from_lookup(lookup(&[(
            "ALLOWED_ORIGINS",
            "https://app.example.test, http://localhost:3000",
        )]))
        .unwrap();
        assert!(c.origin_allowed(Some("https://app.example.test")));
        assert!(c.origin_allowed(Some("HTTPS://APP.example.test/")));
        assert!(!c.origin_allowed(Some("https://evil.example")));
        assert!(!c.origin_allowed(Some("https://app.example.test.evil.example")));
        assert!(c.origin_allowed(None));
        let any = Config::from_lookup(lookup(&[("ALLOWED_ORIGINS", "*")])).unwrap();
        assert!(any.origin_allowed(Some("https://evil.example")));
    }

    #[test]
    fn the_csrf_key_comes_from_the_key_encryption_key_when_there_is_one() {
        let plain = Config::from_lookup(lookup(&[])).unwrap();
        let sealed = Config::from_lookup(lookup(&[("KEY_ENCRYPTION_KEY", "k1")])).unwrap();
        let resealed = Config::from_lookup(lookup(&[("KEY_ENCRYPTION_KEY", "k2")])).unwrap();
        assert_eq!(sealed.csrf_key, CsrfKey::derive("k1"));
        assert_ne!(sealed.csrf_key, resealed.csrf_key);
        assert_ne!(plain.csrf_key, sealed.csrf_key);
    }

    #[test]
    fn read_replication_is_off_by_default_and_a_bad_value_is_refused_by_name() {
        use crate::core::replication::ReadReplication;
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.read_replication, ReadReplication::Off);
        let on = Config::from_lookup(lookup(&[("D1_READ_REPLICATION", " on ")])).unwrap();
        assert_eq!(on.read_replication, ReadReplication::On);
        let e = Config::from_lookup(lookup(&[("D1_READ_REPLICATION", "replicas")])).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Invalid { var: "D1_READ_REPLICATION", why } if why.contains("off or on")),
            "{e}"
        );
    }

    #[test]
    fn account_objects_have_no_location_hint_by_default_and_only_cloudflares_hints_are_taken() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.account_objects_location_hint, None);
        let hinted =
            Config::from_lookup(lookup(&[("ACCOUNT_OBJECTS_LOCATION_HINT", " enam ")])).unwrap();
        assert_eq!(hinted.account_objects_location_hint, Some("enam"));
        for bad in ["ENAM", "us-east", "eu"] {
            let e =
                Config::from_lookup(lookup(&[("ACCOUNT_OBJECTS_LOCATION_HINT", bad)])).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { var: "ACCOUNT_OBJECTS_LOCATION_HINT", why } if why.contains("wnam, enam")),
                "{e}"
            );
        }
    }

    #[test]
    fn rotation_needs_a_key_encryption_key() {
        let e =
            Config::from_lookup(lookup(&[("KEY_ROTATION_INTERVAL_SECONDS", "86400")])).unwrap_err();
        assert_eq!(e, ConfigError::Missing("KEY_ENCRYPTION_KEY"));
        let c = Config::from_lookup(lookup(&[("ADMIN_EMAILS", " Ops@Example.test ,")])).unwrap();
        assert!(c.is_admin("ops@example.test"));
        assert_eq!(c.key_rotation_interval_s, None);
    }

    #[test]
    fn signup_is_open_unless_set_to_invite_only() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.signup_mode, SignupMode::Open);
        let c = Config::from_lookup(lookup(&[("SIGNUP_MODE", "invite_only")])).unwrap();
        assert_eq!(c.signup_mode, SignupMode::InviteOnly);
        let e = Config::from_lookup(lookup(&[("SIGNUP_MODE", "closed")])).unwrap_err();
        assert!(e.to_string().contains("SIGNUP_MODE"));
    }

    #[test]
    fn a_missing_environment_means_production() {
        let c = Config::from_lookup(lookup(&[
            ("ENVIRONMENT", ""),
            ("APP_BASE_URL", "https://app.example.test"),
            ("EMAIL_API_KEY", "re_x"),
        ]))
        .unwrap();
        assert_eq!(c.environment, Environment::Production);
    }

    #[test]
    fn bad_numbers_name_their_variable() {
        let e =
            Config::from_lookup(lookup(&[("REFRESH_REUSE_WINDOW_SECONDS", "ten")])).unwrap_err();
        assert!(e.to_string().contains("REFRESH_REUSE_WINDOW_SECONDS"));
        assert!(Config::from_lookup(lookup(&[("ACCESS_TOKEN_TTL_SECONDS", "-5")])).is_err());
    }

    #[test]
    fn the_http_provider_needs_its_key() {
        let e = Config::from_lookup(lookup(&[("EMAIL_PROVIDER", "resend")])).unwrap_err();
        assert_eq!(e, ConfigError::Missing("EMAIL_API_KEY"));
        let c = Config::from_lookup(lookup(&[
            ("EMAIL_PROVIDER", "resend"),
            ("EMAIL_API_KEY", "re_x"),
        ]))
        .unwrap();
        assert!(!format!("{c:?}").contains("re_x"), "secrets print redacted");
    }

    fn production(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![
            ("ENVIRONMENT", "production"),
            ("APP_BASE_URL", "https://app.example.test"),
            ("EMAIL_API_KEY", "re_x"),
        ];
        all.extend_from_slice(pairs);
        Config::from_lookup(lookup(&all))
    }

    #[test]
    fn the_passkey_relying_party_defaults_to_the_app_and_refuses_origins_outside_its_rp_id() {
        let c = production(&[]).unwrap();
        assert_eq!(c.webauthn.id, "app.example.test");
        assert_eq!(c.webauthn.origins, ["https://app.example.test"]);
        let c = production(&[
            ("WEBAUTHN_RP_ID", "example.test"),
            (
                "WEBAUTHN_ORIGINS",
                "https://app.example.test, https://example.test:8443/",
            ),
        ])
        .unwrap();
        assert_eq!(c.webauthn.id, "example.test");
        assert_eq!(
            c.webauthn.origins,
            ["https://app.example.test", "https://example.test:8443"]
        );
        for bad in [
            "https://evil.test",
            "http://app.example.test",
            "https://app.example.test/path",
            "app.example.test",
        ] {
            let e = production(&[("WEBAUTHN_ORIGINS", bad)]).unwrap_err();
            assert!(e.to_string().contains("WEBAUTHN_ORIGINS"), "{bad}: {e}");
        }
        let e = production(&[("WEBAUTHN_RP_ID", "127.0.0.1")]).unwrap_err();
        assert!(e.to_string().contains("WEBAUTHN_RP_ID"), "{e}");
        // Development on an IP address: the RP is localhost, on the same port.
        let c = Config::from_lookup(lookup(&[
            ("ENVIRONMENT", "development"),
            ("APP_BASE_URL", "http://127.0.0.1:8787/"),
        ]))
        .unwrap();
        assert_eq!(c.webauthn.id, "localhost");
        assert_eq!(c.webauthn.origins, ["http://localhost:8787"]);
        assert_eq!(
            c.webauthn.name,
            c.issuer
                .split_once("://")
                .map_or(c.issuer.as_str(), |x| x.1)
                .trim_end_matches('/')
        );
    }

    #[test]
    fn production_sends_mail_over_http_by_default_and_refuses_the_log_provider() {
        let c = production(&[]).unwrap();
        assert!(matches!(c.email_provider, EmailProvider::Http { .. }));
        let e = production(&[("EMAIL_PROVIDER", "log")]).unwrap_err();
        assert!(e.to_string().contains("EMAIL_PROVIDER"), "{e}");
        assert_eq!(
            production(&[("EMAIL_API_KEY", "")]).unwrap_err(),
            ConfigError::Missing("EMAIL_API_KEY")
        );
    }

    #[test]
    fn fault_injection_is_refused_in_production() {
        let e = production(&[("DEV_FAULTS", "session_mirror")]).unwrap_err();
        assert!(e.to_string().contains("DEV_FAULTS"), "{e}");
        let dev = Config::from_lookup(lookup(&[("DEV_FAULTS", "session_mirror")])).unwrap();
        assert!(dev.dev_fault("session_mirror"));
        assert!(!dev.dev_fault("other"));
    }

    #[test]
    fn production_links_must_be_https() {
        let e = production(&[("APP_BASE_URL", "http://app.example.test")]).unwrap_err();
        assert!(e.to_string().contains("APP_BASE_URL"), "{e}");
        assert_eq!(
            production(&[("APP_BASE_URL", "")]).unwrap_err(),
            ConfigError::Missing("APP_BASE_URL")
        );
    }

    #[test]
    fn production_allows_no_browser_origin_unless_told() {
        let c = production(&[]).unwrap();
        assert!(!c.origin_allowed(Some("http://localhost:8787")));
        assert!(c.origin_allowed(None));
        let dev = Config::from_lookup(lookup(&[])).unwrap();
        assert!(dev.origin_allowed(Some("http://localhost:8787")));
    }

    #[test]
    fn missing_signing_keys_are_an_error_not_a_panic() {
        let e = Config::from_lookup(lookup(&[("JWT_SIGNING_KEYS", "")])).unwrap_err();
        assert_eq!(e, ConfigError::Missing("JWT_SIGNING_KEYS"));
    }
}
