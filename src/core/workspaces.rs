//! Workspaces (tenants): the entities, their settings, and every decision about who may do
//! what in one. The edge reads the caller's membership afresh on every request (a token never
//! carries a role) and asks here; the last-admin guard itself is one conditional statement
//! (`sql::workspace_members`), because only the database sees concurrent changes.

use crate::core::api::rfc3339;
use crate::core::domain::{Email, InvitationId, UserId, UserStatus, ValidationError, WorkspaceId};
use crate::core::error::AppError;
use crate::core::profile::{Locale, TimeZone};
use serde::{Deserialize, Deserializer, Serialize};

pub const NAME_MAX: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

/// A workspace as stored (an active one: one pending deletion is never loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub auto_join_domain: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub auto_join_domain: Option<String>,
    /// The caller's role in it.
    pub role: Role,
    pub created_at: String,
    pub updated_at: String,
}

impl Workspace {
    pub fn view(&self, role: Role) -> WorkspaceView {
        WorkspaceView {
            id: self.id.to_string(),
            name: self.name.clone(),
            timezone: self.timezone.clone(),
            locale: self.locale.clone(),
            auto_join_domain: self.auto_join_domain.clone(),
            role,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

/// A workspace with the caller's current role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub workspace: Workspace,
    pub role: Role,
}

/// A member as listed: the membership and the account behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub joined_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// The account's status (`active`, `deactivated`, …).
    pub status: &'static str,
    pub joined_at: String,
}

impl Member {
    pub fn view(&self) -> MemberView {
        MemberView {
            user_id: self.user_id.to_string(),
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
            status: self.status.as_str(),
            joined_at: rfc3339(self.joined_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<UserId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvitationView {
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub role: Role,
    pub status: InvitationState,
    pub invited_by: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

impl Invitation {
    /// Used or revoked wins over expired: it tells what happened to it.
    pub fn state(&self, now: i64) -> InvitationState {
        if self.accepted_at.is_some() {
            InvitationState::Accepted
        } else if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if now >= self.expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Pending
        }
    }

    pub fn view(&self, now: i64) -> InvitationView {
        InvitationView {
            id: self.id.to_string(),
            workspace_id: self.workspace_id.to_string(),
            email: self.email.clone(),
            role: self.role,
            status: self.state(now),
            invited_by: self.invited_by.as_ref().map(ToString::to_string),
            created_at: rfc3339(self.created_at),
            expires_at: rfc3339(self.expires_at),
        }
    }
}

/// What a request needs of the caller's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any member: read the workspace and its members, leave.
    Member,
    /// Change settings, roles, members, invitations; delete.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Granted,
    /// Not a member (or no such workspace, or one being deleted): indistinguishable, so a
    /// non-member learns nothing about which workspaces exist.
    NotFound,
    Forbidden,
}

pub fn access(role: Option<Role>, need: Need) -> Access {
    match (role, need) {
        (None, _) => Access::NotFound,
        (Some(Role::Member), Need::Admin) => Access::Forbidden,
        (Some(_), _) => Access::Granted,
    }
}

impl Access {
    pub fn into_result(self) -> Result<(), AppError> {
        match self {
            Self::Granted => Ok(()),
            Self::NotFound => Err(AppError::NotFound),
            Self::Forbidden => Err(admins_only()),
        }
    }
}

pub fn admins_only() -> AppError {
    AppError::Forbidden("only an admin of this workspace can do this".into())
}

pub fn last_admin() -> AppError {
    AppError::Conflict {
        code: "last_admin",
        detail: "a workspace keeps at least one admin: promote another member first".into(),
    }
}

/// A change to someone's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    SetRole(Role),
    /// Removal by an admin, or leaving when the actor is the target.
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDecision {
    /// Run the guarded statement (it still refuses to leave no admin).
    Apply,
    /// The role is already that: nothing to write.
    Unchanged,
    NotFound,
    Forbidden,
}

/// May `actor` (with `actor_role`, read just now) make `change` to `target`'s membership
/// (`target_role`: `None` when the target is not a member)? Admins change anyone, themselves
/// included; a member may only leave.
pub fn decide_member_change(
    actor: &UserId,
    actor_role: Role,
    target: &UserId,
    target_role: Option<Role>,
    change: MemberChange,
) -> ChangeDecision {
    let Some(target_role) = target_role else {
        return ChangeDecision::NotFound;
    };
    match change {
        MemberChange::Remove if actor == target => ChangeDecision::Apply,
        _ if actor_role != Role::Admin => ChangeDecision::Forbidden,
        MemberChange::SetRole(role) if role == target_role => ChangeDecision::Unchanged,
        _ => ChangeDecision::Apply,
    }
}

impl ChangeDecision {
    pub fn into_result(self) -> Result<bool, AppError> {
        match self {
            Self::Apply => Ok(true),
            Self::Unchanged => Ok(false),
            Self::NotFound => Err(AppError::NotFound),
            Self::Forbidden => Err(admins_only()),
        }
    }
}

/// Why a guarded change that was allowed a moment ago changed nothing, from the memberships
/// read again after it: the actor lost the membership or the admin role meanwhile, the target
/// left, or (everything else holding) it would have left the workspace without an admin.
pub fn refused_change(
    actor_is_target: bool,
    actor_role_now: Option<Role>,
    target_role_now: Option<Role>,
    change: MemberChange,
) -> AppError {
    let leaving = actor_is_target && change == MemberChange::Remove;
    match (actor_role_now, target_role_now) {
        (None, _) | (_, None) => AppError::NotFound,
        (Some(Role::Member), _) if !leaving => admins_only(),
        _ => last_admin(),
    }
}

/// May this account accept this invitation now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptDecision {
    Accept,
    /// Unknown, used, revoked or expired (one answer: the token says nothing more).
    Invalid,
    /// The invitation was sent to another address than the account's verified one.
    WrongAccount,
    AlreadyMember,
}

pub fn decide_accept(
    invitation: Option<&Invitation>,
    account_email: &str,
    email_verified: bool,
    already_member: bool,
    now: i64,
) -> AcceptDecision {
    let Some(inv) = invitation.filter(|i| i.state(now) == InvitationState::Pending) else {
        return AcceptDecision::Invalid;
    };
    if !email_verified || !inv.email.eq_ignore_ascii_case(account_email) {
        AcceptDecision::WrongAccount
    } else if already_member {
        AcceptDecision::AlreadyMember
    } else {
        AcceptDecision::Accept
    }
}

impl AcceptDecision {
    pub fn into_result(self) -> Result<(), AppError> {
        match self {
            Self::Accept => Ok(()),
            Self::Invalid => Err(AppError::InvalidInvitation),
            Self::WrongAccount => Err(AppError::Forbidden(
                "this invitation was sent to another e-mail address; sign in with the account that has it verified".into(),
            )),
            Self::AlreadyMember => Err(already_member()),
        }
    }
}

pub fn already_member() -> AppError {
    AppError::Conflict {
        code: "already_member",
        detail: "that account is already a member of this workspace".into(),
    }
}

/// `POST /v1/workspaces/{id}/join`: e-mail-domain auto-join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinDecision {
    Join,
    AlreadyMember(Role),
    /// No auto-join for this account: 404, like any other path of a workspace one is not in.
    NotFound,
}

/// A verified account whose address is at the workspace's auto-join domain joins as a member.
pub fn decide_join(
    auto_join_domain: Option<&str>,
    account_email: &str,
    email_verified: bool,
    current: Option<Role>,
) -> JoinDecision {
    if let Some(role) = current {
        return JoinDecision::AlreadyMember(role);
    }
    let domain = account_email.rsplit_once('@').map(|(_, d)| d);
    match (auto_join_domain, domain) {
        (Some(want), Some(have)) if email_verified && want.eq_ignore_ascii_case(have) => {
            JoinDecision::Join
        }
        _ => JoinDecision::NotFound,
    }
}

/// A workspace's name: trimmed, 1 to 100 characters, no control characters.
pub fn name(raw: &str) -> Result<String, ValidationError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(ValidationError::Invalid {
            field: "name",
            why: "must not be empty",
        });
    }
    if t.chars().count() > NAME_MAX {
        return Err(ValidationError::TextTooLong {
            field: "name",
            max: NAME_MAX,
        });
    }
    if t.chars().any(char::is_control) {
        return Err(ValidationError::TextHasControlCharacters { field: "name" });
    }
    Ok(t.to_owned())
}

/// An e-mail domain (`example.com`), lower-cased; validated as the domain of an address.
pub fn domain(raw: &str) -> Result<String, ValidationError> {
    let bad = ValidationError::Invalid {
        field: "auto_join_domain",
        why: "must be an e-mail domain such as example.com",
    };
    let raw = raw.trim();
    if raw.contains('@') {
        return Err(bad);
    }
    let email = Email::parse(&format!("x@{raw}")).map_err(|_| bad)?;
    Ok(email.as_str()[2..].to_owned())
}

/// `Some(None)` for an explicit null, `None` when the field is absent.
fn tri<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub name: String,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub auto_join_domain: Option<String>,
}

/// A new workspace's settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSettings {
    pub name: String,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub auto_join_domain: Option<String>,
}

impl NewSettings {
    pub fn parse(body: CreateBody) -> Result<Self, ValidationError> {
        Ok(Self {
            name: name(&body.name)?,
            timezone: body
                .timezone
                .as_deref()
                .map(|t| TimeZone::parse(t).map(|t| t.as_str().to_owned()))
                .transpose()?,
            locale: body
                .locale
                .as_deref()
                .map(|l| Locale::parse(l).map(|l| l.as_str().to_owned()))
                .transpose()?,
            auto_join_domain: body.auto_join_domain.as_deref().map(domain).transpose()?,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "tri")]
    pub timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri")]
    pub locale: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri")]
    pub auto_join_domain: Option<Option<String>>,
}

/// A change to one optional setting: keep it (`None`), or set it to a value or to null.
pub type Change = Option<Option<String>>;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SettingsPatch {
    pub name: Option<String>,
    pub timezone: Change,
    pub locale: Change,
    pub auto_join_domain: Change,
}

fn change(
    c: Change,
    parse: impl Fn(&str) -> Result<String, ValidationError>,
) -> Result<Change, ValidationError> {
    match c {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(v)) => Ok(Some(Some(parse(&v)?))),
    }
}

impl SettingsPatch {
    pub fn parse(body: PatchBody) -> Result<Self, ValidationError> {
        Ok(Self {
            name: body.name.as_deref().map(name).transpose()?,
            timezone: change(body.timezone, |t| {
                TimeZone::parse(t).map(|t| t.as_str().to_owned())
            })?,
            locale: change(body.locale, |l| {
                Locale::parse(l).map(|l| l.as_str().to_owned())
            })?,
            auto_join_domain: change(body.auto_join_domain, domain)?,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    pub token: String,
}

/// `?role=&status=` of the member list.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemberFilter {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

impl MemberFilter {
    pub fn parse<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Result<Self, AppError> {
        let mut f = Self::default();
        for (k, v) in pairs {
            match k {
                "role" => {
                    f.role = Some(Role::parse(v).ok_or_else(|| {
                        AppError::InvalidRequest("role must be admin or member".into())
                    })?)
                }
                "status" => {
                    f.status = Some(UserStatus::parse(v).ok_or_else(|| {
                        AppError::InvalidRequest(
                            "status must be active, deactivated, pending_verification or pending_deletion"
                                .into(),
                        )
                    })?)
                }
                _ => {}
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u8) -> UserId {
        UserId::new([n; 16])
    }

    fn invitation(now: i64) -> Invitation {
        Invitation {
            id: InvitationId::new([1; 16]),
            workspace_id: WorkspaceId::new([2; 16]),
            email: "bo@example.test".into(),
            role: Role::Member,
            invited_by: Some(user(3)),
            created_at: now - 10,
            expires_at: now + 100,
            accepted_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn non_members_see_nothing_and_members_cannot_administer() {
        assert_eq!(access(None, Need::Member), Access::NotFound);
        assert_eq!(access(None, Need::Admin), Access::NotFound);
        assert_eq!(access(Some(Role::Member), Need::Member), Access::Granted);
        assert_eq!(access(Some(Role::Member), Need::Admin), Access::Forbidden);
        assert_eq!(access(Some(Role::Admin), Need::Admin), Access::Granted);
        assert_eq!(Access::NotFound.into_result().unwrap_err().status(), 404);
        let e = Access::Forbidden.into_result().unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "forbidden"));
    }

    #[test]
    fn admins_change_anyone_and_members_may_only_leave() {
        let (a, b) = (user(1), user(2));
        let admin = |target_role, change| {
            decide_member_change(&a, Role::Admin, &b, Some(target_role), change)
        };
        assert_eq!(
            admin(Role::Member, MemberChange::SetRole(Role::Admin)),
            ChangeDecision::Apply
        );
        assert_eq!(
            admin(Role::Admin, MemberChange::SetRole(Role::Admin)),
            ChangeDecision::Unchanged
        );
        assert_eq!(
            admin(Role::Admin, MemberChange::Remove),
            ChangeDecision::Apply
        );
        // An admin may demote or remove themself: the statement keeps the last admin.
        assert_eq!(
            decide_member_change(
                &a,
                Role::Admin,
                &a,
                Some(Role::Admin),
                MemberChange::SetRole(Role::Member)
            ),
            ChangeDecision::Apply
        );
        let member = |target: &UserId, change| {
            decide_member_change(&a, Role::Member, target, Some(Role::Member), change)
        };
        assert_eq!(member(&a, MemberChange::Remove), ChangeDecision::Apply);
        assert_eq!(member(&b, MemberChange::Remove), ChangeDecision::Forbidden);
        assert_eq!(
            member(&a, MemberChange::SetRole(Role::Admin)),
            ChangeDecision::Forbidden
        );
        assert_eq!(
            decide_member_change(&a, Role::Admin, &b, None, MemberChange::Remove),
            ChangeDecision::NotFound
        );
        assert_eq!(
            decide_member_change(&a, Role::Member, &b, None, MemberChange::Remove),
            ChangeDecision::NotFound,
            "a foreign user id is 404 whoever asks"
        );
    }

    #[test]
    fn a_refused_guarded_change_says_why() {
        let demote = MemberChange::SetRole(Role::Member);
        let e = refused_change(false, Some(Role::Admin), Some(Role::Admin), demote);
        assert_eq!((e.status(), e.code()), (409, "last_admin"));
        // The last admin leaving.
        let e = refused_change(
            true,
            Some(Role::Admin),
            Some(Role::Admin),
            MemberChange::Remove,
        );
        assert_eq!(e.code(), "last_admin");
        // The other admin demoted the actor first: the actor is no admin any more.
        let e = refused_change(false, Some(Role::Member), Some(Role::Admin), demote);
        assert_eq!((e.status(), e.code()), (403, "forbidden"));
        // The target left meanwhile, or the actor was removed.
        assert_eq!(
            refused_change(false, Some(Role::Admin), None, demote).status(),
            404
        );
        assert_eq!(
            refused_change(false, None, Some(Role::Admin), demote).status(),
            404
        );
    }

    #[test]
    fn an_invitation_is_pending_until_used_revoked_or_expired() {
        let now = 1_000;
        let mut inv = invitation(now);
        assert_eq!(inv.state(now), InvitationState::Pending);
        assert_eq!(inv.state(inv.expires_at), InvitationState::Expired);
        inv.revoked_at = Some(now);
        assert_eq!(inv.state(now), InvitationState::Revoked);
        inv.accepted_at = Some(now);
        assert_eq!(inv.state(now + 1_000), InvitationState::Accepted);
        assert_eq!(
            serde_json::to_value(inv.view(now)).unwrap()["status"],
            "accepted"
        );
    }

    #[test]
    fn only_the_invited_verified_address_accepts_a_pending_invitation_once() {
        let now = 1_000;
        let inv = invitation(now);
        let accept = |inv: Option<&Invitation>, email, verified, member, at| {
            decide_accept(inv, email, verified, member, at)
        };
        assert_eq!(
            accept(Some(&inv), "Bo@Example.test", true, false, now),
            AcceptDecision::Accept
        );
        assert_eq!(
            accept(Some(&inv), "eve@example.test", true, false, now),
            AcceptDecision::WrongAccount
        );
        assert_eq!(
            accept(Some(&inv), "bo@example.test", false, false, now),
            AcceptDecision::WrongAccount
        );
        assert_eq!(
            accept(Some(&inv), "bo@example.test", true, true, now),
            AcceptDecision::AlreadyMember
        );
        assert_eq!(
            accept(Some(&inv), "bo@example.test", true, false, inv.expires_at),
            AcceptDecision::Invalid
        );
        let used = Invitation {
            accepted_at: Some(now),
            ..inv.clone()
        };
        assert_eq!(
            accept(Some(&used), "bo@example.test", true, false, now),
            AcceptDecision::Invalid
        );
        let revoked = Invitation {
            revoked_at: Some(now),
            ..inv
        };
        assert_eq!(
            accept(Some(&revoked), "bo@example.test", true, false, now),
            AcceptDecision::Invalid
        );
        assert_eq!(
            accept(None, "bo@example.test", true, false, now),
            AcceptDecision::Invalid
        );
        let e = AcceptDecision::Invalid.into_result().unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_invitation"));
        assert_eq!(
            AcceptDecision::AlreadyMember
                .into_result()
                .unwrap_err()
                .code(),
            "already_member"
        );
    }

    #[test]
    fn auto_join_takes_verified_addresses_at_the_domain_only() {
        let d = Some("example.com");
        assert_eq!(
            decide_join(d, "a@example.com", true, None),
            JoinDecision::Join
        );
        assert_eq!(
            decide_join(d, "a@EXAMPLE.com", true, None),
            JoinDecision::Join
        );
        assert_eq!(
            decide_join(d, "a@example.com", false, None),
            JoinDecision::NotFound
        );
        assert_eq!(
            decide_join(d, "a@sub.example.com", true, None),
            JoinDecision::NotFound
        );
        assert_eq!(
            decide_join(d, "a@evil-example.com", true, None),
            JoinDecision::NotFound
        );
        assert_eq!(
            decide_join(None, "a@example.com", true, None),
            JoinDecision::NotFound
        );
        assert_eq!(
            decide_join(d, "a@example.com", true, Some(Role::Admin)),
            JoinDecision::AlreadyMember(Role::Admin)
        );
    }

    #[test]
    fn settings_are_validated_like_the_profile() {
        let body: CreateBody = serde_json::from_str(
            r#"{"name": "  Acme ", "timezone": "Europe/Paris", "locale": "pt-BR", "auto_join_domain": "Acme.Example"}"#,
        )
        .unwrap();
        let s = NewSettings::parse(body).unwrap();
        assert_eq!(s.name, "Acme");
        assert_eq!(s.auto_join_domain.as_deref(), Some("acme.example"));
        for bad in [
            r#"{"name": " "}"#,
            r#"{"name": "a", "timezone": "Mars/Olympus"}"#,
            r#"{"name": "a", "locale": "english"}"#,
            r#"{"name": "a", "auto_join_domain": "x@acme.example"}"#,
            r#"{"name": "a", "auto_join_domain": "localhost"}"#,
            r#"{"name": "bell\u0007"}"#,
        ] {
            let body: CreateBody = serde_json::from_str(bad).unwrap();
            assert!(NewSettings::parse(body).is_err(), "{bad}");
        }
        assert!(name(&"x".repeat(101)).is_err());
        let patch: PatchBody =
            serde_json::from_str(r#"{"timezone": null, "locale": "en"}"#).unwrap();
        let p = SettingsPatch::parse(patch).unwrap();
        assert_eq!(p.timezone, Some(None));
        assert_eq!(p.locale, Some(Some("en".into())));
        assert_eq!(p.name, None);
        assert!(serde_json::from_str::<RoleBody>(r#"{"role": "owner"}"#).is_err());
    }

    #[test]
    fn member_filters_are_checked() {
        let f = MemberFilter::parse([("role", "admin"), ("status", "active")].into_iter()).unwrap();
        assert_eq!(f.role, Some(Role::Admin));
        assert_eq!(f.status, Some(UserStatus::Active));
        assert!(MemberFilter::parse([("role", "owner")].into_iter()).is_err());
        assert!(MemberFilter::parse([("status", "x")].into_iter()).is_err());
    }
}
