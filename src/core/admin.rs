//! Administration: the stored global role, who may call an admin route (a signed-in admin or a
//! scoped service API key), and the decisions behind each admin action on a user. The edge
//! loads and stores; what is allowed, and what a refused conditional statement meant, is
//! decided here.

use crate::core::account::{Transition, User};
use crate::core::crypto::looks_like_opaque_token;
use crate::core::domain::UserStatus;
use crate::core::error::AppError;

/// The global role of an account, stored in `users.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The first administrators come from ADMIN_EMAILS: an account whose address is listed and
/// verified becomes admin when it verifies or signs in. The store's statement also requires
/// that no administrator ever set this account's role, so a demotion is never undone by the
/// list (`sql::admin::BOOTSTRAP`).
pub fn bootstrap_admin(user: &User, listed: bool) -> bool {
    listed && user.email_verified && user.role == Role::User
}

/// What a service API key may do. A key never manages keys: only a signed-in administrator
/// creates or revokes them, so a leaked key cannot mint a broader one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Every read of the admin API (users, sessions, audit, stats, referral keys).
    AdminRead,
    /// Every admin action on users, referral keys and signing keys.
    AdminWrite,
    /// `POST /v1/admin/credits`.
    CreditsGrant,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::AdminRead, Scope::AdminWrite, Scope::CreditsGrant];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdminRead => "admin:read",
            Self::AdminWrite => "admin:write",
            Self::CreditsGrant => "credits:grant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A client's list: known names only, at least one; sorted and without repeats.
    pub fn parse_list(raw: &[String]) -> Result<Vec<Scope>, AppError> {
        let mut scopes = raw
            .iter()
            .map(|s| {
                Self::parse(s).ok_or_else(|| {
                    AppError::InvalidRequest(format!(
                        "unknown scope {s:?}; known: admin:read, admin:write, credits:grant"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AppError::InvalidRequest("give at least one scope".into()));
        }
        Ok(scopes)
    }

    /// As stored: space-separated.
    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// From storage; an unknown name (a scope since removed) grants nothing.
    pub fn split(stored: &str) -> Vec<Scope> {
        stored.split_whitespace().filter_map(Self::parse).collect()
    }
}

/// Service API keys are `ewk_` + 43 base64url characters (256 random bits); the prefix tells a
/// key from an access token at a glance and lets secret scanners find leaked ones.
pub const API_KEY_PREFIX: &str = "ewk_";

pub fn api_key_token(opaque: &str) -> String {
    format!("{API_KEY_PREFIX}{opaque}")
}

pub fn looks_like_api_key(s: &str) -> bool {
    s.strip_prefix(API_KEY_PREFIX)
        .is_some_and(looks_like_opaque_token)
}

/// A stored API key, as far as the access decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl ApiKey {
    pub fn usable(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// Who calls an admin route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in account whose stored role is `admin` (read on this request).
    Admin(User),
    ApiKey(ApiKey),
}

/// What an admin route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Scope(Scope),
    /// A signed-in administrator; no API key, whatever its scopes (key management).
    Person,
}

/// Who did an admin action, as written to the target's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    ApiKey(String),
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::ApiKey(_) => "api_key",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::User(id) | Self::ApiKey(id) => id,
        }
    }
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Self::Admin(u) => Actor::User(u.id.to_string()),
            Self::ApiKey(k) => Actor::ApiKey(k.id.clone()),
        }
    }

    /// May this caller do what the route needs? An administrator may do everything.
    pub fn authorize(&self, need: Need) -> Result<(), AppError> {
        let allowed = match (self, need) {
            (Self::Admin(_), _) => true,
            (Self::ApiKey(_), Need::Person) => false,
            (Self::ApiKey(k), Need::Scope(s)) => k.scopes.contains(&s),
        };
        if allowed {
            Ok(())
        } else {
            Err(forbidden())
        }
    }
}

pub fn forbidden() -> AppError {
    AppError::Forbidden("administrators only".into())
}

/// A signed-in account on an admin route: only one whose stored role is admin.
pub fn admit_user(user: User) -> Result<Principal, AppError> {
    if user.role == Role::Admin {
        Ok(Principal::Admin(user))
    } else {
        Err(forbidden())
    }
}

/// An API key presented on an admin route. Unknown, revoked and expired keys get the same
/// 401 as a bad access token: the caller learns nothing about which it was.
pub fn admit_key(key: Option<ApiKey>, now: i64) -> Result<Principal, AppError> {
    match key {
        Some(k) if k.usable(now) => Ok(Principal::ApiKey(k)),
        _ => Err(AppError::InvalidToken),
    }
}

/// An admin action on a user, named by the last path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    Deactivate,
    Activate,
    Unlock,
    Promote,
    Demote,
}

/// What the store should do for an action, given the target as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to change: answer with the account as it is.
    AlreadyDone,
    /// Run the action's conditional statement.
    Apply,
}

impl UserAction {
    /// An action whose end state already holds is done (a retried request is not an error).
    pub fn decide(self, target: &User) -> Result<Plan, AppError> {
        Ok(match self {
            Self::Promote if target.role == Role::Admin => Plan::AlreadyDone,
            Self::Demote if target.role == Role::User => Plan::AlreadyDone,
            Self::Deactivate if target.status == UserStatus::Deactivated => Plan::AlreadyDone,
            Self::Activate if target.status == UserStatus::Active => Plan::AlreadyDone,
            Self::Promote | Self::Demote | Self::Unlock => Plan::Apply,
            Self::Deactivate => {
                Transition::Deactivate.decide(target.status)?;
                Plan::Apply
            }
            Self::Activate => {
                Transition::Reactivate.decide(target.status)?;
                Plan::Apply
            }
        })
    }

    /// The conditional statement changed nothing: the target as read now says why. A
    /// concurrent request may have done the same thing (then it is done); otherwise the
    /// guard that held was the last-admin one, or the status moved.
    pub fn settle_refusal(self, now: &User) -> Result<Plan, AppError> {
        match self {
            Self::Demote | Self::Promote => {
                if self.decide(now)? == Plan::AlreadyDone {
                    Ok(Plan::AlreadyDone)
                } else {
                    Err(last_admin())
                }
            }
            Self::Deactivate => match now.status {
                UserStatus::Deactivated => Ok(Plan::AlreadyDone),
                UserStatus::Active => Err(last_admin()),
                _ => Err(Transition::Deactivate.refused()),
            },
            Self::Activate => match now.status {
                UserStatus::Active => Ok(Plan::AlreadyDone),
                _ => Err(Transition::Reactivate.refused()),
            },
            Self::Unlock => Ok(Plan::AlreadyDone),
        }
    }

    pub fn event(self) -> crate::core::audit::Event {
        use crate::core::audit::Event;
        match self {
            Self::Deactivate => Event::AdminDeactivated,
            Self::Activate => Event::AdminActivated,
            Self::Unlock => Event::AdminUnlocked,
            Self::Promote => Event::RolePromoted,
            Self::Demote => Event::RoleDemoted,
        }
    }
}

pub fn last_admin() -> AppError {
    AppError::Conflict {
        code: "last_admin",
        detail: "this is the last active administrator; promote another one first".into(),
    }
}

/// `?query=&status=` of the user search: a case-insensitive substring of the e-mail or name
/// (LIKE wildcards in it are matched literally) and a status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSearch {
    /// A lower-cased substring of the e-mail or name, matched literally.
    pub needle: Option<String>,
    pub status: Option<UserStatus>,
    /// Only the owner of this wallet (`wallet=<address>`, any case: an admin looks up what
    /// they were given, checksummed or not).
    pub wallet: Option<crate::core::siwe::Address>,
    /// Only the owner of this external identity (`provider=<id>&subject=<sub>`, both or none).
    pub identity: Option<(String, String)>,
}

impl UserSearch {
    /// Adds the exact-match filters of a lookup by wallet or by external identity.
    pub fn with_lookup(
        mut self,
        wallet: Option<&str>,
        provider: Option<&str>,
        subject: Option<&str>,
    ) -> Result<Self, AppError> {
        // An empty parameter is an absent one, as for `query` and `status`.
        fn given(v: Option<&str>) -> Option<&str> {
            v.filter(|v| !v.is_empty())
        }
        let (wallet, provider, subject) = (given(wallet), given(provider), given(subject));
        self.wallet = wallet
            .map(|w| {
                crate::core::siwe::Address::parse_any(w.trim()).ok_or_else(|| {
                    AppError::InvalidRequest("wallet must be 0x and 40 hex digits".into())
                })
            })
            .transpose()?;
        self.identity =
            match (provider, subject) {
                (None, None) => None,
                // The document's maxLength counts characters.
                (Some(p), Some(s)) if p.chars().count() <= 64 && s.chars().count() <= 512 => {
                    Some((p.to_owned(), s.to_owned()))
                }
                _ => return Err(AppError::InvalidRequest(
                    "provider and subject go together (a provider id and the identity's subject)"
                        .into(),
                )),
            };
        Ok(self)
    }

    pub fn parse(query: Option<&str>, status: Option<&str>) -> Result<Self, AppError> {
        let needle = match query.map(str::trim).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) if q.chars().count() > 254 => {
                return Err(AppError::InvalidRequest(
                    "query must be at most 254 characters".into(),
                ))
            }
            Some(q) => Some(q.to_lowercase()),
        };
        let status = status
            .filter(|s| !s.is_empty())
            .map(|s| {
                UserStatus::parse(s).ok_or_else(|| {
                    AppError::InvalidRequest(
                        "status is pending_verification, active, deactivated or pending_deletion"
                            .into(),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            needle,
            status,
            wallet: None,
            identity: None,
        })
    }
}

/// User-list cursors: `u` + the row position to continue below.
pub fn encode_user_cursor(pos: i64) -> String {
    format!("u{pos}")
}

pub fn decode_user_cursor(s: &str) -> Option<i64> {
    s.strip_prefix('u')?.parse().ok().filter(|n: &i64| *n > 0)
}

/// `{name, scopes, expires_at?}` of a new API key, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<i64>,
}

impl NewApiKey {
    /// `expires_at` is an RFC 3339 instant in the future, at most ten years away.
    pub fn parse(
        name: &str,
        scopes: &[String],
        expires_at: Option<&str>,
        now: i64,
    ) -> Result<Self, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::InvalidRequest(
                "name is 1-100 characters without control characters".into(),
            ));
        }
        let expires_at = match expires_at {
            None => None,
            Some(t) => {
                let at = chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp())
                    .ok()
                    .filter(|at| *at > now && *at <= now + 3_650 * 86_400)
                    .ok_or_else(|| {
                        AppError::InvalidRequest(
                            "expires_at is an RFC 3339 time in the next ten years (omit it for a key that does not expire)"
                                .into(),
                        )
                    })?;
                Some(at)
            }
        };
        Ok(Self {
            name: name.to_owned(),
            scopes: Scope::parse_list(scopes)?,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::account::tests::user;

    fn with_role(status: UserStatus, role: Role) -> User {
        let mut u = user(status, true);
        u.role = role;
        u
    }

    fn key(scopes: &[Scope], expires_at: Option<i64>, revoked_at: Option<i64>) -> ApiKey {
        ApiKey {
            id: "k1".into(),
            name: "ci".into(),
            scopes: scopes.to_vec(),
            created_by: "u".into(),
            created_at: 0,
            expires_at,
            revoked_at,
            last_used_at: None,
        }
    }

    #[test]
    fn only_a_listed_verified_plain_user_is_bootstrapped_to_admin() {
        let plain = with_role(UserStatus::Active, Role::User);
        assert!(bootstrap_admin(&plain, true));
        assert!(!bootstrap_admin(&plain, false));
        let mut unverified = user(UserStatus::PendingVerification, false);
        unverified.role = Role::User;
        assert!(!bootstrap_admin(&unverified, true));
        assert!(!bootstrap_admin(
            &with_role(UserStatus::Active, Role::Admin),
            true
        ));
    }

    #[test]
    fn a_non_admin_account_is_refused_with_403_and_an_admin_may_do_everything() {
        let e = admit_user(with_role(UserStatus::Active, Role::User)).unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "forbidden"));
        let admin = admit_user(with_role(UserStatus::Active, Role::Admin)).unwrap();
        assert_eq!(admin.authorize(Need::Person), Ok(()));
        assert_eq!(admin.authorize(Need::Scope(Scope::CreditsGrant)), Ok(()));
        assert_eq!(admin.actor().kind(), "user");
    }

    #[test]
    fn a_key_acts_within_its_scopes_and_never_manages_keys() {
        let p = admit_key(Some(key(&[Scope::AdminRead], None, None)), 10).unwrap();
        assert_eq!(p.authorize(Need::Scope(Scope::AdminRead)), Ok(()));
        assert_eq!(
            p.authorize(Need::Scope(Scope::AdminWrite))
                .unwrap_err()
                .code(),
            "forbidden"
        );
        assert!(p.authorize(Need::Person).is_err());
        assert_eq!(p.actor(), Actor::ApiKey("k1".into()));
    }

    #[test]
    fn unknown_revoked_and_expired_keys_all_get_the_same_401() {
        let refused = [
            admit_key(None, 10),
            admit_key(Some(key(&[Scope::AdminRead], Some(10), None)), 10),
            admit_key(Some(key(&[Scope::AdminRead], None, Some(5))), 10),
        ];
        for r in refused {
            assert_eq!(r.unwrap_err(), AppError::InvalidToken);
        }
        assert!(admit_key(Some(key(&[Scope::AdminRead], Some(11), None)), 10).is_ok());
    }

    #[test]
    fn scopes_parse_sorted_without_repeats_and_refuse_unknown_names() {
        let s =
            |v: &[&str]| Scope::parse_list(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["credits:grant", "admin:read", "admin:read"]).unwrap(),
            [Scope::AdminRead, Scope::CreditsGrant]
        );
        assert!(s(&[]).is_err());
        assert!(s(&["root"]).is_err());
        assert_eq!(
            Scope::split(&Scope::join(&[Scope::AdminWrite, Scope::CreditsGrant])),
            [Scope::AdminWrite, Scope::CreditsGrant]
        );
        assert_eq!(Scope::split("admin:read gone:scope"), [Scope::AdminRead]);
    }

    #[test]
    fn api_keys_carry_their_prefix_and_256_bits() {
        let t = api_key_token(&crate::core::crypto::opaque_token([9; 32]));
        assert!(looks_like_api_key(&t));
        assert!(!looks_like_api_key(&t[4..]));
        assert!(!looks_like_api_key("ewk_short"));
    }

    #[test]
    fn promote_and_demote_are_idempotent_and_a_refused_demotion_is_the_last_admin() {
        let admin = with_role(UserStatus::Active, Role::Admin);
        let plain = with_role(UserStatus::Active, Role::User);
        assert_eq!(UserAction::Demote.decide(&admin), Ok(Plan::Apply));
        assert_eq!(UserAction::Demote.decide(&plain), Ok(Plan::AlreadyDone));
        assert_eq!(UserAction::Promote.decide(&admin), Ok(Plan::AlreadyDone));
        // The guarded statement changed nothing: a concurrent demotion did it, or the guard held.
        assert_eq!(
            UserAction::Demote.settle_refusal(&plain),
            Ok(Plan::AlreadyDone)
        );
        let e = UserAction::Demote.settle_refusal(&admin).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "last_admin"));
    }

    #[test]
    fn deactivation_follows_the_status_rules_and_spares_the_last_admin() {
        let deactivated = with_role(UserStatus::Deactivated, Role::Admin);
        let active_admin = with_role(UserStatus::Active, Role::Admin);
        let pending = with_role(UserStatus::PendingDeletion, Role::User);
        let code = |r: Result<Plan, AppError>| r.unwrap_err().code();
        assert_eq!(
            code(UserAction::Deactivate.decide(&pending)),
            "account_not_active"
        );
        assert_eq!(
            code(UserAction::Activate.decide(&pending)),
            "account_not_deactivated"
        );
        assert_eq!(UserAction::Activate.decide(&deactivated), Ok(Plan::Apply));
        assert_eq!(
            UserAction::Activate.decide(&active_admin),
            Ok(Plan::AlreadyDone)
        );
        assert_eq!(
            UserAction::Deactivate.decide(&deactivated),
            Ok(Plan::AlreadyDone)
        );
        assert_eq!(
            UserAction::Deactivate
                .settle_refusal(&active_admin)
                .unwrap_err()
                .code(),
            "last_admin"
        );
        assert_eq!(
            UserAction::Deactivate.settle_refusal(&deactivated),
            Ok(Plan::AlreadyDone)
        );
    }

    #[test]
    fn the_search_is_a_trimmed_lower_cased_needle_and_checks_the_status() {
        let s = UserSearch::parse(Some(" 100%_A\\b "), Some("active")).unwrap();
        assert_eq!(s.needle.as_deref(), Some("100%_a\\b"));
        assert_eq!(s.status, Some(UserStatus::Active));
        assert_eq!(
            UserSearch::parse(Some(""), None).unwrap(),
            UserSearch::default()
        );
        assert!(UserSearch::parse(None, Some("banned")).is_err());
        assert!(UserSearch::parse(Some(&"x".repeat(255)), None).is_err());
    }

    #[test]
    fn a_lookup_is_by_any_case_wallet_or_by_provider_and_subject_together() {
        let base = UserSearch::default;
        let s = base()
            .with_lookup(
                Some("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
                Some("corp"),
                Some("s-1"),
            )
            .unwrap();
        assert_eq!(
            s.wallet.map(|w| w.checksummed()).as_deref(),
            Some("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        );
        assert_eq!(s.identity, Some(("corp".into(), "s-1".into())));
        assert_eq!(base().with_lookup(None, None, None).unwrap(), base());
        assert!(base().with_lookup(Some("0x12"), None, None).is_err());
        assert!(base().with_lookup(None, Some("corp"), None).is_err());
        assert!(base().with_lookup(None, None, Some("s-1")).is_err());
        assert!(base().with_lookup(None, Some(""), Some("s-1")).is_err());
        assert_eq!(base().with_lookup(Some(""), None, None).unwrap(), base());
    }

    #[test]
    fn user_cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_user_cursor(&encode_user_cursor(7)), Some(7));
        for bad in ["", "u", "7", "u0", "u-1", "ux"] {
            assert_eq!(decode_user_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_new_key_needs_a_name_known_scopes_and_a_sane_expiry() {
        let scopes = vec!["admin:read".to_string()];
        let k = NewApiKey::parse(" ci ", &scopes, Some("1970-01-01T00:02:00Z"), 100).unwrap();
        assert_eq!((k.name.as_str(), k.expires_at), ("ci", Some(120)));
        assert!(NewApiKey::parse("", &scopes, None, 0).is_err());
        assert!(NewApiKey::parse("ci", &scopes, Some("1970-01-01T00:01:40Z"), 100).is_err());
        assert!(NewApiKey::parse("ci", &scopes, Some("tomorrow"), 0).is_err());
        assert!(NewApiKey::parse("ci", &[], None, 0).is_err());
    }
}
