//! Workspaces, their members and invitations. Every statement is scoped by the workspace id;
//! the role and last-admin checks that must hold at write time are inside the statements.

use super::{all, batch, changes, first, i, opt, rows, run, s, stmt};
use crate::core::domain::{InvitationId, UserId, UserStatus, WorkspaceId};
use crate::core::error::{AppError, Faulty, Within};
use crate::core::sql::{workspace_invitations, workspace_members, workspaces};
use crate::core::workspaces::{
    Invitation, Member, MemberFilter, Membership, NewSettings, Role, SettingsPatch, Workspace,
};
use serde::Deserialize;
use worker::D1Database;

fn role(raw: &str, op: &'static str) -> Result<Role, AppError> {
    Role::parse(raw).ok_or_else(|| AppError::fault(op, "unknown role"))
}

/// A `workspaces` row, with the caller's role and list position where the query has them.
#[derive(Debug, Deserialize)]
struct WorkspaceRow {
    #[serde(default)]
    seq: i64,
    id: String,
    name: String,
    timezone: Option<String>,
    locale: Option<String>,
    auto_join_domain: Option<String>,
    created_at: i64,
    updated_at: i64,
    #[serde(default)]
    role: Option<String>,
}

impl WorkspaceRow {
    fn into_workspace(self) -> Result<Workspace, AppError> {
        Ok(Workspace {
            id: WorkspaceId::parse(&self.id).fault("d1.workspaces.row")?,
            name: self.name,
            timezone: self.timezone,
            locale: self.locale,
            auto_join_domain: self.auto_join_domain,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    fn into_membership(mut self) -> Result<Membership, AppError> {
        let r = self
            .role
            .take()
            .ok_or_else(|| AppError::fault("d1.workspaces.row", "no role"))?;
        Ok(Membership {
            role: role(&r, "d1.workspaces.row")?,
            workspace: self.into_workspace()?,
        })
    }
}

#[derive(Debug, Deserialize)]
struct MemberRow {
    seq: i64,
    user_id: String,
    email: String,
    name: Option<String>,
    role: String,
    status: String,
    joined_at: i64,
}

impl MemberRow {
    fn into_member(self) -> Result<Member, AppError> {
        Ok(Member {
            user_id: UserId::parse(&self.user_id).fault("d1.workspaces.member_row")?,
            role: role(&self.role, "d1.workspaces.member_row")?,
            status: UserStatus::parse(&self.status)
                .ok_or_else(|| AppError::fault("d1.workspaces.member_row", "unknown status"))?,
            email: self.email,
            name: self.name,
            joined_at: self.joined_at,
        })
    }
}

#[derive(Debug, Deserialize)]
struct InvitationRow {
    #[serde(default)]
    seq: i64,
    id: String,
    workspace_id: String,
    email: String,
    role: String,
    invited_by: Option<String>,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl InvitationRow {
    fn into_invitation(self) -> Result<Invitation, AppError> {
        const OP: &str = "d1.workspaces.invitation_row";
        Ok(Invitation {
            id: InvitationId::parse(&self.id).fault(OP)?,
            workspace_id: WorkspaceId::parse(&self.workspace_id).fault(OP)?,
            role: role(&self.role, OP)?,
            invited_by: self
                .invited_by
                .as_deref()
                .map(UserId::parse)
                .transpose()
                .fault(OP)?,
            email: self.email,
            created_at: self.created_at,
            expires_at: self.expires_at,
            accepted_at: self.accepted_at,
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(Deserialize)]
struct RoleRow {
    role: String,
}

/// Creates the workspace with its creator as its admin, in one batch.
pub async fn create(
    db: &D1Database,
    id: &WorkspaceId,
    settings: &NewSettings,
    creator: &UserId,
    now: i64,
) -> Result<Membership, AppError> {
    batch(
        db,
        vec![
            stmt(
                db,
                workspaces::INSERT,
                &[
                    s(id),
                    s(&settings.name),
                    opt(settings.timezone.as_deref()),
                    opt(settings.locale.as_deref()),
                    opt(settings.auto_join_domain.as_deref()),
                    i(now),
                    i(now),
                ],
            )?,
            stmt(
                db,
                workspaces::ADD_CREATOR,
                &[s(id), s(creator), i(now), i(now)],
            )?,
        ],
    )
    .await
    .within("d1.workspaces.create")?;
    Ok(Membership {
        workspace: Workspace {
            id: id.clone(),
            name: settings.name.clone(),
            timezone: settings.timezone.clone(),
            locale: settings.locale.clone(),
            auto_join_domain: settings.auto_join_domain.clone(),
            created_at: now,
            updated_at: now,
        },
        role: Role::Admin,
    })
}

/// The active workspace with `user`'s current role; `None` when they are not a member.
pub async fn membership(
    db: &D1Database,
    workspace: &WorkspaceId,
    user: &UserId,
) -> Result<Option<Membership>, AppError> {
    first::<WorkspaceRow>(db, workspaces::MEMBERSHIP, &[s(workspace), s(user)])
        .await?
        .map(WorkspaceRow::into_membership)
        .transpose()
}

pub async fn role_of(
    db: &D1Database,
    workspace: &WorkspaceId,
    user: &UserId,
) -> Result<Option<Role>, AppError> {
    first::<RoleRow>(db, workspace_members::ROLE_OF, &[s(workspace), s(user)])
        .await?
        .map(|r| role(&r.role, "d1.workspaces.role_of"))
        .transpose()
}

pub async fn active_by_id(
    db: &D1Database,
    workspace: &WorkspaceId,
) -> Result<Option<Workspace>, AppError> {
    first::<WorkspaceRow>(db, workspaces::ACTIVE_BY_ID, &[s(workspace)])
        .await?
        .map(WorkspaceRow::into_workspace)
        .transpose()
}

/// `user`'s workspaces below a membership position, with the positions.
pub async fn list_mine(
    db: &D1Database,
    user: &UserId,
    below: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, Membership)>, AppError> {
    let rows: Vec<WorkspaceRow> = all(
        db,
        workspaces::LIST_MINE,
        &[s(user), i(below.unwrap_or(super::NO_CURSOR)), i(limit)],
    )
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.seq, r.into_membership()?)))
        .collect()
}

fn flagged(c: &Option<Option<String>>) -> (i64, Option<&str>) {
    match c {
        None => (0, None),
        Some(v) => (1, v.as_deref()),
    }
}

/// `None`: the actor is not (any more) an admin of the active workspace; nothing changed.
pub async fn patch(
    db: &D1Database,
    workspace: &WorkspaceId,
    actor: &UserId,
    p: &SettingsPatch,
    now: i64,
) -> Result<Option<Workspace>, AppError> {
    let (tz_flag, tz) = flagged(&p.timezone);
    let (locale_flag, locale) = flagged(&p.locale);
    let (domain_flag, domain) = flagged(&p.auto_join_domain);
    first::<WorkspaceRow>(
        db,
        workspaces::PATCH,
        &[
            opt(p.name.as_deref()),
            i(tz_flag),
            opt(tz),
            i(locale_flag),
            opt(locale),
            i(domain_flag),
            opt(domain),
            i(now),
            s(workspace),
            s(actor),
        ],
    )
    .await?
    .map(WorkspaceRow::into_workspace)
    .transpose()
}

/// `false`: the actor is not (any more) an admin of the active workspace.
pub async fn request_deletion(
    db: &D1Database,
    workspace: &WorkspaceId,
    actor: &UserId,
    due_at: i64,
    now: i64,
) -> Result<bool, AppError> {
    let n = run(
        db,
        workspaces::REQUEST_DELETION,
        &[i(due_at), i(now), s(workspace), s(actor)],
    )
    .await?;
    Ok(n == 1)
}

pub async fn members(
    db: &D1Database,
    workspace: &WorkspaceId,
    filter: &MemberFilter,
    below: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, Member)>, AppError> {
    let role = filter.role.map(Role::as_str);
    let status = filter.status.map(UserStatus::as_str);
    let rows: Vec<MemberRow> = all(
        db,
        workspace_members::LIST,
        &[
            s(workspace),
            i(below.unwrap_or(super::NO_CURSOR)),
            opt(role),
            opt(role),
            opt(status),
            opt(status),
            i(limit),
        ],
    )
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.seq, r.into_member()?)))
        .collect()
}

/// One member of the workspace (`None`: not a member).
pub async fn member(
    db: &D1Database,
    workspace: &WorkspaceId,
    user: &UserId,
) -> Result<Option<Member>, AppError> {
    first::<MemberRow>(db, workspace_members::ONE, &[s(workspace), s(user)])
        .await?
        .map(MemberRow::into_member)
        .transpose()
}

/// Is the account with this (normalised) e-mail a member of the workspace?
pub async fn has_member_email(
    db: &D1Database,
    workspace: &WorkspaceId,
    email: &str,
) -> Result<bool, AppError> {
    Ok(
        first::<serde_json::Value>(db, workspace_members::HAS_EMAIL, &[s(workspace), s(email)])
            .await?
            .is_some(),
    )
}

/// The guarded role change; `false`: it changed nothing (see `sql::workspace_members`).
pub async fn set_role(
    db: &D1Database,
    workspace: &WorkspaceId,
    actor: &UserId,
    target: &UserId,
    new_role: Role,
    now: i64,
) -> Result<bool, AppError> {
    let n = run(
        db,
        workspace_members::SET_ROLE,
        &[
            s(new_role.as_str()),
            i(now),
            s(workspace),
            s(target),
            s(actor),
            s(new_role.as_str()),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// The guarded removal (or leave); `false`: it changed nothing.
pub async fn remove(
    db: &D1Database,
    workspace: &WorkspaceId,
    actor: &UserId,
    target: &UserId,
) -> Result<bool, AppError> {
    let n = run(
        db,
        workspace_members::REMOVE,
        &[s(workspace), s(target), s(actor), s(actor)],
    )
    .await?;
    Ok(n == 1)
}

/// `false`: already a member, or the domain no longer matches.
pub async fn auto_join(
    db: &D1Database,
    workspace: &WorkspaceId,
    user: &UserId,
    domain: &str,
    now: i64,
) -> Result<bool, AppError> {
    let n = run(
        db,
        workspace_members::AUTO_JOIN,
        &[s(user), i(now), i(now), s(workspace), s(domain)],
    )
    .await?;
    Ok(n == 1)
}

pub struct NewInvitation<'a> {
    pub id: &'a InvitationId,
    pub workspace: &'a WorkspaceId,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    pub inviter: &'a UserId,
    pub now: i64,
    pub expires_at: i64,
}

/// Inserts the invitation and retires earlier pending ones to the same address, in one batch.
/// `None`: the inviter is not (any more) an admin of the active workspace; nothing changed.
pub async fn invite(
    db: &D1Database,
    n: &NewInvitation<'_>,
) -> Result<Option<Invitation>, AppError> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                workspace_invitations::INSERT,
                &[
                    s(n.id),
                    s(n.workspace),
                    s(n.email),
                    s(n.role.as_str()),
                    s(n.token_hash),
                    s(n.inviter),
                    i(n.now),
                    i(n.expires_at),
                    s(n.workspace),
                    s(n.inviter),
                ],
            )?,
            stmt(
                db,
                workspace_invitations::RETIRE_PENDING_FOR,
                &[
                    i(n.now),
                    s(n.workspace),
                    s(n.email),
                    s(n.id),
                    s(n.id),
                    s(n.workspace),
                ],
            )?,
        ],
    )
    .await
    .within("d1.workspaces.invite")?;
    let inserted = results
        .first()
        .map(rows::<InvitationRow>)
        .transpose()?
        .and_then(|mut r| r.pop());
    inserted.map(InvitationRow::into_invitation).transpose()
}

pub async fn pending_invitations(
    db: &D1Database,
    workspace: &WorkspaceId,
    now: i64,
    below: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, Invitation)>, AppError> {
    let rows: Vec<InvitationRow> = all(
        db,
        workspace_invitations::LIST_PENDING,
        &[
            s(workspace),
            i(now),
            i(below.unwrap_or(super::NO_CURSOR)),
            i(limit),
        ],
    )
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.seq, r.into_invitation()?)))
        .collect()
}

/// `None`: no unused, unrevoked invitation with this id in this workspace.
pub async fn revoke_invitation(
    db: &D1Database,
    workspace: &WorkspaceId,
    id: &InvitationId,
    now: i64,
) -> Result<Option<Invitation>, AppError> {
    first::<InvitationRow>(
        db,
        workspace_invitations::REVOKE,
        &[i(now), s(id), s(workspace)],
    )
    .await?
    .map(InvitationRow::into_invitation)
    .transpose()
}

pub async fn invitation_by_token(
    db: &D1Database,
    token_hash: &str,
) -> Result<Option<Invitation>, AppError> {
    first::<InvitationRow>(db, workspace_invitations::BY_TOKEN, &[s(token_hash)])
        .await?
        .map(InvitationRow::into_invitation)
        .transpose()
}

/// Uses the invitation and adds the membership in one batch (D1's transaction): of any number
/// of concurrent accepts exactly one finds it unused, so exactly one membership results.
/// `false`: it was not usable any more (used, revoked, expired, or already a member).
pub async fn accept(
    db: &D1Database,
    user: &UserId,
    email: &str,
    token_hash: &str,
    now: i64,
) -> Result<bool, AppError> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                workspace_invitations::ACCEPT,
                &[i(now), s(user), s(token_hash), i(now), s(email), s(user)],
            )?,
            stmt(
                db,
                workspace_invitations::ADD_ACCEPTED,
                &[s(user), i(now), i(now), s(token_hash), s(user), i(now)],
            )?,
        ],
    )
    .await
    .within("d1.workspaces.accept")?;
    Ok(results.get(1).map(changes) == Some(1))
}
