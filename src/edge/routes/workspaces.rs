//! Workspaces, members and invitations. The caller's role is read from the membership on
//! every request (never from the token); a non-member gets 404 on every workspace path, so
//! the ids of other tenants' workspaces, members and invitations tell nothing. Writes that
//! depend on a role re-check it inside their statement (`sql::workspace_members`), and when
//! such a statement changes nothing the memberships are read again to say why.

use crate::core::audit::Event;
use crate::core::config::Limit;
use crate::core::crypto::{looks_like_opaque_token, opaque_token, token_hash};
use crate::core::domain::{Email, InvitationId, UserId, WorkspaceId};
use crate::core::error::{AppError, Faulty};
use crate::core::mail::Template;
use crate::core::workspaces::{
    self, access, decide_accept, decide_join, decide_member_change, refused_change, AcceptBody,
    CreateBody, InviteBody, JoinDecision, MemberChange, MemberFilter, Membership, Need,
    NewSettings, PatchBody, Role, RoleBody, SettingsPatch,
};
use crate::edge::auth::{authenticate, Authed};
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{json, no_content, read_json};
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::routes::send_mail;
use crate::edge::routes::streams::{encode_cursor, page_params};
use serde_json::json;
use worker::{Request, Response};

/// Any malformed id is as unknown as a foreign one.
fn workspace_id(raw: &str) -> Result<WorkspaceId, AppError> {
    WorkspaceId::parse(raw).map_err(|_| AppError::NotFound)
}

fn user_id(raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw).map_err(|_| AppError::NotFound)
}

/// The caller's current membership, if it grants `need` (404 for a non-member, 403 for a
/// member where an admin is needed).
async fn current(
    ctx: &Ctx,
    workspace: &WorkspaceId,
    user: &UserId,
    need: Need,
) -> Result<Membership, AppError> {
    let m = d1::workspaces::membership(&ctx.db()?, workspace, user).await?;
    access(m.as_ref().map(|m| m.role), need).into_result()?;
    m.ok_or(AppError::NotFound)
}

/// Why an admin-guarded statement changed nothing: the caller's role read again.
async fn not_admin_now(
    ctx: &Ctx,
    workspace: &WorkspaceId,
    user: &UserId,
) -> Result<AppError, AppError> {
    let role = d1::workspaces::role_of(&ctx.db()?, workspace, user).await?;
    Ok(match access(role, Need::Admin).into_result() {
        Err(e) => e,
        // Still an admin: the workspace went away between the two reads.
        Ok(()) => AppError::NotFound,
    })
}

async fn authed_writer(req: &Request, ctx: &Ctx) -> Result<Authed, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::WorkspaceUser, Key::User(&authed.user.id)).await?;
    Ok(authed)
}

/// `POST /v1/workspaces`: the creator is its admin.
pub async fn create(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let body: CreateBody = read_json(req).await?;
    let settings = NewSettings::parse(body)?;
    let id = WorkspaceId::new(rand::bytes()?);
    let m = d1::workspaces::create(&ctx.db()?, &id, &settings, &authed.user.id, ctx.now).await?;
    audit::record(
        ctx,
        &authed.user.id,
        Event::WorkspaceCreated,
        Some(&authed.session_id),
    )
    .await;
    json(201, &m.workspace.view(m.role))
}

/// `GET /v1/workspaces`: the caller's workspaces, newest membership first.
pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let (limit, cursor) = page_params(req)?;
    let rows = d1::workspaces::list_mine(&ctx.db()?, &authed.user.id, cursor, limit + 1).await?;
    let (rows, next) = d1::split_page(rows, limit, |(seq, _)| *seq);
    let list: Vec<_> = rows.iter().map(|(_, m)| m.workspace.view(m.role)).collect();
    json(
        200,
        &json!({ "workspaces": list, "next_cursor": next.map(encode_cursor) }),
    )
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let m = current(ctx, &workspace_id(id)?, &authed.user.id, Need::Member).await?;
    json(200, &m.workspace.view(m.role))
}

/// `PATCH /v1/workspaces/{id}` (admin): name, timezone, locale, auto-join domain.
pub async fn patch(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let ws = workspace_id(id)?;
    // Membership before the body: a non-member learns nothing, even from a 400.
    current(ctx, &ws, &authed.user.id, Need::Admin).await?;
    let body: PatchBody = read_json(req).await?;
    let patch = SettingsPatch::parse(body)?;
    match d1::workspaces::patch(&ctx.db()?, &ws, &authed.user.id, &patch, ctx.now).await? {
        Some(w) => json(200, &w.view(Role::Admin)),
        None => Err(not_admin_now(ctx, &ws, &authed.user.id).await?),
    }
}

/// `DELETE /v1/workspaces/{id}` (admin): 202; the workspace answers 404 from now on and the
/// cron purge deletes it after `WORKSPACE_DELETION_GRACE_SECONDS`.
pub async fn delete(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let ws = workspace_id(id)?;
    current(ctx, &ws, &authed.user.id, Need::Admin).await?;
    let due = ctx.now + ctx.cfg.workspace_deletion_grace_s;
    if !d1::workspaces::request_deletion(&ctx.db()?, &ws, &authed.user.id, due, ctx.now).await? {
        return Err(not_admin_now(ctx, &ws, &authed.user.id).await?);
    }
    audit::record(
        ctx,
        &authed.user.id,
        Event::WorkspaceDeletionRequested,
        Some(&authed.session_id),
    )
    .await;
    json(
        202,
        &json!({
            "id": ws.as_str(),
            "status": "pending_deletion",
            "deletion_due_at": crate::core::api::rfc3339(due),
        }),
    )
}

/// `POST /v1/workspaces/{id}/join`: e-mail-domain auto-join. A verified account whose address
/// is at the workspace's `auto_join_domain` becomes a member; anyone else gets 404, like on
/// any other path of a workspace they are not in.
pub async fn join(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let ws = workspace_id(id)?;
    let db = ctx.db()?;
    let user = &authed.user;
    let Some(workspace) = d1::workspaces::active_by_id(&db, &ws).await? else {
        return Err(AppError::NotFound);
    };
    let role = d1::workspaces::role_of(&db, &ws, &user.id).await?;
    match decide_join(
        workspace.auto_join_domain.as_deref(),
        &user.email,
        user.email_verified,
        role,
    ) {
        JoinDecision::NotFound => Err(AppError::NotFound),
        JoinDecision::AlreadyMember(role) => json(200, &workspace.view(role)),
        JoinDecision::Join => {
            let domain = workspace.auto_join_domain.as_deref().unwrap_or_default();
            if d1::workspaces::auto_join(&db, &ws, &user.id, domain, ctx.now).await? {
                audit::record(
                    ctx,
                    &user.id,
                    Event::WorkspaceJoined,
                    Some(&authed.session_id),
                )
                .await;
            }
            // Joined now, or a concurrent join won; the domain may also have changed since.
            let m = current(ctx, &ws, &user.id, Need::Member).await?;
            json(200, &m.workspace.view(m.role))
        }
    }
}

/// `GET /v1/workspaces/{id}/members?role=&status=&limit=&cursor=` (any member).
pub async fn members(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let ws = workspace_id(id)?;
    current(ctx, &ws, &authed.user.id, Need::Member).await?;
    let url = req.url().fault("routes.workspaces.members")?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let filter = MemberFilter::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let (limit, cursor) = page_params(req)?;
    let rows = d1::workspaces::members(&ctx.db()?, &ws, &filter, cursor, limit + 1).await?;
    let (rows, next) = d1::split_page(rows, limit, |(seq, _)| *seq);
    let list: Vec<_> = rows.iter().map(|(_, m)| m.view()).collect();
    json(
        200,
        &json!({ "members": list, "next_cursor": next.map(encode_cursor) }),
    )
}

/// Decides and applies a change to `target`'s membership; `Ok(false)`: nothing to change.
async fn change_member(
    ctx: &Ctx,
    authed: &Authed,
    ws: &WorkspaceId,
    actor_role: Role,
    target: &UserId,
    change: MemberChange,
) -> Result<bool, AppError> {
    let db = ctx.db()?;
    let actor = &authed.user.id;
    let target_now = d1::workspaces::member(&db, ws, target).await?;
    let apply = decide_member_change(
        actor,
        actor_role,
        target,
        target_now.map(|m| m.role),
        change,
    )
    .into_result()?;
    if !apply {
        return Ok(false);
    }
    let changed = match change {
        MemberChange::SetRole(role) => {
            d1::workspaces::set_role(&db, ws, actor, target, role, ctx.now).await?
        }
        MemberChange::Remove => d1::workspaces::remove(&db, ws, actor, target).await?,
    };
    if !changed {
        let actor_now = d1::workspaces::role_of(&db, ws, actor).await?;
        let target_now = d1::workspaces::role_of(&db, ws, target).await?;
        return Err(refused_change(
            actor == target,
            actor_now,
            target_now,
            change,
        ));
    }
    Ok(true)
}

/// `PATCH /v1/workspaces/{id}/members/{user_id}` `{role}` (admin). Demoting the last admin:
/// 409 `last_admin`.
pub async fn patch_member(
    req: &mut Request,
    ctx: &Ctx,
    id: &str,
    target: &str,
) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let ws = workspace_id(id)?;
    let me = current(ctx, &ws, &authed.user.id, Need::Member).await?;
    let target = user_id(target)?;
    let body: RoleBody = read_json(req).await?;
    let change = MemberChange::SetRole(body.role);
    if change_member(ctx, &authed, &ws, me.role, &target, change).await? {
        let session = (target == authed.user.id).then_some(authed.session_id.as_str());
        audit::record(ctx, &target, Event::WorkspaceRoleChanged, session).await;
    }
    let member = d1::workspaces::member(&ctx.db()?, &ws, &target)
        .await?
        .ok_or(AppError::NotFound)?;
    json(200, &member.view())
}

/// `DELETE /v1/workspaces/{id}/members/{user_id}`: an admin removes a member, or a member
/// leaves (their own id). Removing or leaving as the last admin: 409 `last_admin`.
pub async fn remove_member(
    req: &Request,
    ctx: &Ctx,
    id: &str,
    target: &str,
) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let ws = workspace_id(id)?;
    let me = current(ctx, &ws, &authed.user.id, Need::Member).await?;
    let target = user_id(target)?;
    change_member(ctx, &authed, &ws, me.role, &target, MemberChange::Remove).await?;
    if target == authed.user.id {
        audit::record(ctx, &target, Event::WorkspaceLeft, Some(&authed.session_id)).await;
    } else {
        audit::record(ctx, &target, Event::WorkspaceMemberRemoved, None).await;
    }
    no_content()
}

/// `POST /v1/workspaces/{id}/invitations` `{email, role}` (admin): 201, and the invitation
/// mail (with the single-use token) goes out through the e-mail queue.
pub async fn invite(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let ws = workspace_id(id)?;
    let m = current(ctx, &ws, &authed.user.id, Need::Admin).await?;
    let body: InviteBody = read_json(req).await?;
    let email = Email::parse(&body.email)?;
    let db = ctx.db()?;
    if d1::workspaces::has_member_email(&db, &ws, email.as_str()).await? {
        return Err(workspaces::already_member());
    }
    let token = opaque_token(rand::bytes()?);
    let invitation = d1::workspaces::invite(
        &db,
        &d1::workspaces::NewInvitation {
            id: &InvitationId::new(rand::bytes()?),
            workspace: &ws,
            email: email.as_str(),
            role: body.role,
            token_hash: &token_hash(&token),
            inviter: &authed.user.id,
            now: ctx.now,
            expires_at: ctx.now + ctx.cfg.invitation_ttl_s,
        },
    )
    .await?;
    let Some(invitation) = invitation else {
        return Err(not_admin_now(ctx, &ws, &authed.user.id).await?);
    };
    send_mail(
        ctx,
        email.as_str(),
        Template::WorkspaceInvitation {
            token,
            workspace_name: m.workspace.name.clone(),
        },
    )
    .await?;
    audit::record(
        ctx,
        &authed.user.id,
        Event::WorkspaceInvitationSent,
        Some(&authed.session_id),
    )
    .await;
    json(201, &invitation.view(ctx.now))
}

/// `GET /v1/workspaces/{id}/invitations` (admin): the pending ones, newest first.
pub async fn invitations(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let ws = workspace_id(id)?;
    current(ctx, &ws, &authed.user.id, Need::Admin).await?;
    let (limit, cursor) = page_params(req)?;
    let rows =
        d1::workspaces::pending_invitations(&ctx.db()?, &ws, ctx.now, cursor, limit + 1).await?;
    let (rows, next) = d1::split_page(rows, limit, |(seq, _)| *seq);
    let list: Vec<_> = rows.iter().map(|(_, i)| i.view(ctx.now)).collect();
    json(
        200,
        &json!({ "invitations": list, "next_cursor": next.map(encode_cursor) }),
    )
}

/// `DELETE /v1/workspaces/{id}/invitations/{invitation_id}` (admin): 204; an unknown, used or
/// already revoked one is 404.
pub async fn revoke_invitation(
    req: &Request,
    ctx: &Ctx,
    id: &str,
    invitation: &str,
) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let ws = workspace_id(id)?;
    current(ctx, &ws, &authed.user.id, Need::Admin).await?;
    let invitation = InvitationId::parse(invitation).map_err(|_| AppError::NotFound)?;
    d1::workspaces::revoke_invitation(&ctx.db()?, &ws, &invitation, ctx.now)
        .await?
        .ok_or(AppError::NotFound)?;
    audit::record(
        ctx,
        &authed.user.id,
        Event::WorkspaceInvitationRevoked,
        Some(&authed.session_id),
    )
    .await;
    no_content()
}

/// `POST /v1/invitations/accept` `{token}`: the signed-in account whose verified address the
/// invitation was sent to becomes a member with the invitation's role. Someone without an
/// account registers and verifies first, then accepts. Used, revoked, expired: 400.
pub async fn accept(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authed_writer(req, ctx).await?;
    let body: AcceptBody = read_json(req).await?;
    if !looks_like_opaque_token(&body.token) {
        return Err(AppError::InvalidInvitation);
    }
    let hash = token_hash(&body.token);
    let user = &authed.user;
    let db = ctx.db()?;
    let decide = || async {
        let invitation = d1::workspaces::invitation_by_token(&db, &hash).await?;
        let member = match &invitation {
            Some(i) => d1::workspaces::role_of(&db, &i.workspace_id, &user.id)
                .await?
                .is_some(),
            None => false,
        };
        let decision = decide_accept(
            invitation.as_ref(),
            &user.email,
            user.email_verified,
            member,
            ctx.now,
        );
        Ok::<_, AppError>((invitation, decision))
    };
    let (invitation, decision) = decide().await?;
    decision.into_result()?;
    let Some(invitation) = invitation else {
        return Err(AppError::InvalidInvitation);
    };
    if !d1::workspaces::accept(&db, &user.id, &user.email, &hash, ctx.now).await? {
        // A concurrent accept (or a revocation) won: say what it is now.
        decide().await?.1.into_result()?;
        return Err(AppError::InvalidInvitation);
    }
    audit::record(
        ctx,
        &user.id,
        Event::WorkspaceJoined,
        Some(&authed.session_id),
    )
    .await;
    let m = current(ctx, &invitation.workspace_id, &user.id, Need::Member).await?;
    json(200, &m.workspace.view(m.role))
}
