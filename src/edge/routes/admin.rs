//! The admin API: users (search, actions, sessions, audit), stats, on-demand signing-key
//! rotation, service API keys and referral keys. Every route first admits its caller
//! (`edge::auth::admin`); every action on a user is written to that user's audit log with the
//! actor.

use super::tokens::{require_mirrored, revoke_sessions};
use crate::core::account::User;
use crate::core::admin::{
    api_key_token, bootstrap_admin, decode_user_cursor, encode_user_cursor, Need, NewApiKey, Plan,
    Principal, Scope, UserAction, UserSearch,
};
use crate::core::api::{rfc3339, SessionView};
use crate::core::audit::{decode_cursor, Event};
use crate::core::crypto::{opaque_token, token_hash};
use crate::core::domain::{ApiKeyId, UserId, UserStatus};
use crate::core::error::{AppError, Faulty};
use crate::core::mail::Template;
use crate::core::referral::{self, NewKeys, StatusFilter};
use crate::core::session::RevokeReason;
use crate::edge::auth::admin;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit};
use crate::edge::http::{bad_cursor, json, no_content, page, read_json};
use crate::edge::objects::user_sessions::Client;
use crate::edge::queue::JOBS_DLQ;
use crate::edge::rand;
use crate::edge::routes::send_mail;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

const READ: Need = Need::Scope(Scope::AdminRead);
const WRITE: Need = Need::Scope(Scope::AdminWrite);

fn query(req: &Request, name: &str) -> Result<Option<String>, AppError> {
    let url = req.url().fault("routes.admin.query")?;
    let found = url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    Ok(found)
}

/// The target of a user route; a malformed id is as unknown as a missing user.
async fn target(ctx: &Ctx, id: &str) -> Result<User, AppError> {
    let id = UserId::parse(id).map_err(|_| AppError::NotFound)?;
    d1::users::by_id(&ctx.db()?, &id)
        .await?
        .ok_or(AppError::NotFound)
}

/// The ADMIN_EMAILS bootstrap, run when an account verifies its address and at each login:
/// idempotent, and it never undoes an administrator's demotion (`sql::admin::BOOTSTRAP`).
pub async fn bootstrap(ctx: &Ctx, user: &User) -> Result<(), AppError> {
    if bootstrap_admin(user, ctx.cfg.is_admin(&user.email))
        && d1::admin::bootstrap(&ctx.db()?, &user.id, ctx.now).await?
    {
        audit::record(ctx, &user.id, Event::RolePromoted, None).await;
    }
    Ok(())
}

/// `GET /v1/admin/users?query=&status=&cursor=&limit=`
pub async fn list_users(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    admin(req, ctx, READ).await?;
    let search = UserSearch::parse(
        query(req, "query")?.as_deref(),
        query(req, "status")?.as_deref(),
    )?
    .with_lookup(
        query(req, "wallet")?.as_deref(),
        query(req, "provider")?.as_deref(),
        query(req, "subject")?.as_deref(),
    )?;
    let p = page(req, 50)?;
    let below = p
        .cursor
        .map(|c| decode_user_cursor(&c).ok_or_else(bad_cursor))
        .transpose()?;
    let (users, next) = d1::admin::search(&ctx.db()?, &search, below, p.limit).await?;
    let users: Vec<_> = users.iter().map(User::admin_view).collect();
    json(
        200,
        &json!({"users": users, "next_cursor": next.map(encode_user_cursor)}),
    )
}

/// `GET /v1/admin/users/{id}`
pub async fn get_user(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    admin(req, ctx, READ).await?;
    json(200, &target(ctx, id).await?.admin_view())
}

/// `POST /v1/admin/users/{id}/{deactivate|activate|unlock|promote|demote}`: decided in core
/// on the target as read, applied by a statement guarded by the same rule (and, for demote
/// and deactivate, by "another active admin remains"), settled in core when that statement
/// changed nothing.
pub async fn act(
    req: &Request,
    ctx: &Ctx,
    id: &str,
    action: UserAction,
) -> Result<Response, AppError> {
    let principal = admin(req, ctx, WRITE).await?;
    let user = target(ctx, id).await?;
    if action.decide(&user)? == Plan::AlreadyDone {
        return json(200, &user.admin_view());
    }
    let db = ctx.db()?;
    let changed = match action {
        UserAction::Promote => d1::admin::promote(&db, &user.id, ctx.now).await?,
        UserAction::Demote => d1::admin::demote(&db, &user.id, ctx.now).await?,
        UserAction::Deactivate => d1::admin::deactivate(&db, &user.id, ctx.now).await?,
        UserAction::Activate => {
            d1::users::transition(
                &db,
                crate::core::account::Transition::Reactivate,
                &user.id,
                ctx.now,
                0,
            )
            .await?
        }
        UserAction::Unlock => {
            // The lockout lives in the user's object: a success there clears it.
            Client::for_user(&ctx.env, &user.id)?
                .login_succeeded()
                .await?;
            Some(user.clone())
        }
    };
    let Some(changed) = changed else {
        let now = target(ctx, id).await?;
        action.settle_refusal(&now)?;
        return json(200, &now.admin_view());
    };
    if action == UserAction::Deactivate {
        // The status already refuses every token of the account; this ends the sessions too.
        revoke_sessions(
            ctx,
            &changed.id,
            None,
            None,
            RevokeReason::AccountDeactivated,
        )
        .await?;
    }
    let actor = principal.actor();
    audit::record_by(ctx, &changed.id, action.event(), None, Some(&actor)).await;
    json(200, &changed.admin_view())
}

/// `GET /v1/admin/users/{id}/sessions`: the user's active sessions.
pub async fn sessions(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    admin(req, ctx, READ).await?;
    let user = target(ctx, id).await?;
    let rows = d1::sessions::list_active(&ctx.db()?, &user.id, ctx.now).await?;
    let sessions: Vec<SessionView> = rows
        .into_iter()
        .map(|r| SessionView {
            id: r.id,
            device_name: r.device_name,
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: rfc3339(r.created_at),
            last_used_at: rfc3339(r.last_used_at),
            current: false,
        })
        .collect();
    json(200, &json!({ "sessions": sessions }))
}

/// `DELETE /v1/admin/users/{id}/sessions`: every session of the user, through the user's
/// session object (as a sign-out everywhere), answered once D1 refuses them all.
pub async fn revoke_all(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let principal = admin(req, ctx, WRITE).await?;
    let user = target(ctx, id).await?;
    let done = revoke_sessions(ctx, &user.id, None, None, RevokeReason::Revoked).await?;
    require_mirrored(&done)?;
    let actor = principal.actor();
    audit::record_by(
        ctx,
        &user.id,
        Event::AdminSessionsRevoked,
        None,
        Some(&actor),
    )
    .await;
    json(200, &json!({ "revoked": done.revoked }))
}

/// `DELETE /v1/admin/users/{id}/mfa`: removes the user's second factors (a TOTP factor,
/// confirmed or pending, its recovery codes, sign-ins waiting for it, and passkeys), for a user who lost
/// them. Sessions stay; the user is told by a security mail that cannot be switched off.
/// Audited with the actor whether or not a factor was left, like every admin action.
pub async fn reset_second_factors(
    req: &Request,
    ctx: &Ctx,
    id: &str,
) -> Result<Response, AppError> {
    let principal = admin(req, ctx, WRITE).await?;
    let user = target(ctx, id).await?;
    let removed = d1::mfa::reset(&ctx.db()?, &user.id).await?;
    if removed {
        send_mail(ctx, &user.email, Template::SecondFactorsReset).await?;
    }
    let actor = principal.actor();
    audit::record_by(ctx, &user.id, Event::SecondFactorsReset, None, Some(&actor)).await;
    no_content()
}

/// `GET /v1/admin/users/{id}/audit?cursor=&limit=`
pub async fn user_audit(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    admin(req, ctx, READ).await?;
    let user = target(ctx, id).await?;
    let p = page(req, 50)?;
    let below = p
        .cursor
        .map(|c| decode_cursor(&c).ok_or_else(bad_cursor))
        .transpose()?;
    let (events, next) = audit::page(ctx, &user.id, below, p.limit).await?;
    json(200, &json!({ "events": events, "next_cursor": next }))
}

/// `GET /v1/admin/stats`: users by status and role, active sessions, jobs, credits.
pub async fn stats(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    admin(req, ctx, READ).await?;
    let db = ctx.db()?;
    let s = d1::admin::stats(&db, ctx.now).await?;
    let mut by_status = json!({});
    for status in [
        UserStatus::PendingVerification,
        UserStatus::Active,
        UserStatus::Deactivated,
        UserStatus::PendingDeletion,
    ] {
        by_status[status.as_str()] = json!(0);
    }
    let mut total = 0;
    for c in &s.users_by_status {
        by_status[c.key.as_str()] = json!(c.n);
        total += c.n;
    }
    let mut by_role = json!({"user": 0, "admin": 0});
    for c in &s.users_by_role {
        by_role[c.key.as_str()] = json!(c.n);
    }
    let mut jobs = json!({"queued": 0, "running": 0, "succeeded": 0, "failed": 0});
    for c in d1::jobs::counts(&db).await? {
        jobs[c.status] = json!(c.n);
    }
    let dead = d1::deliveries::dead_letter_count(&db, JOBS_DLQ).await?;
    json(
        200,
        &json!({
            "users": {"total": total, "by_status": by_status, "by_role": by_role},
            "sessions": {"active": s.active_sessions},
            "jobs": {"by_status": jobs, "dead_letters": dead},
            "credits": {"outstanding": s.credits.outstanding, "accounts": s.credits.accounts},
        }),
    )
}

/// `POST /v1/admin/keys/rotate`: a signing-key rotation now (`core::rotation::plan_on_demand`).
pub async fn rotate_keys(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let principal = admin(req, ctx, WRITE).await?;
    if ctx.cfg.key_encryption_key.is_none() {
        return Err(AppError::Conflict {
            code: "rotation_not_configured",
            detail: "signing-key rotation needs the KEY_ENCRYPTION_KEY secret".into(),
        });
    }
    let r = crate::edge::keys::rotate_now(&ctx.env, &ctx.db()?, ctx.now).await?;
    if let Principal::Admin(u) = &principal {
        audit::record(ctx, &u.id, Event::SigningKeyRotated, None).await;
    }
    json(
        200,
        &json!({"activated": r.activated, "published": r.published, "retired": r.retired}),
    )
}

// ---- service API keys (a signed-in administrator only) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn key_view(k: &crate::core::admin::ApiKey) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "scopes": k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "created_by": k.created_by,
        "created_at": rfc3339(k.created_at),
        "expires_at": k.expires_at.map(rfc3339),
        "revoked_at": k.revoked_at.map(rfc3339),
        "last_used_at": k.last_used_at.map(rfc3339),
    })
}

fn person(p: &Principal) -> Result<&User, AppError> {
    match p {
        Principal::Admin(u) => Ok(u),
        Principal::ApiKey(_) => Err(crate::core::admin::forbidden()),
    }
}

/// `POST /v1/admin/api-keys` `{name, scopes, expires_at?}` → 201 with the key, shown
/// this once (only its SHA-256 is stored).
pub async fn create_api_key(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let principal = admin(req, ctx, Need::Person).await?;
    let me = person(&principal)?;
    let body: NewKeyBody = read_json(req).await?;
    let new = NewApiKey::parse(
        &body.name,
        &body.scopes,
        body.expires_at.as_deref(),
        ctx.now,
    )?;
    let token = api_key_token(&opaque_token(rand::bytes()?));
    let id = rand::uuid()?;
    d1::api_keys::insert(
        &ctx.db()?,
        &d1::api_keys::NewKey {
            id: &id,
            name: &new.name,
            key_hash: &token_hash(&token),
            scopes: &new.scopes,
            created_by: &me.id,
            now: ctx.now,
            expires_at: new.expires_at,
        },
    )
    .await?;
    audit::record(ctx, &me.id, Event::ApiKeyCreated, None).await;
    let stored = d1::api_keys::by_id(&ctx.db()?, &id)
        .await?
        .ok_or_else(|| AppError::fault("routes.admin.create_api_key", "the new key vanished"))?;
    let mut view = key_view(&stored);
    view["key"] = json!(token);
    json(201, &view)
}

/// `GET /v1/admin/api-keys`: every key, newest first (never the key itself).
pub async fn list_api_keys(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    admin(req, ctx, Need::Person).await?;
    let keys = d1::api_keys::list(&ctx.db()?).await?;
    let keys: Vec<Value> = keys.iter().map(key_view).collect();
    json(200, &json!({ "api_keys": keys }))
}

/// `DELETE /v1/admin/api-keys/{id}` → 204; the key is refused from the next request on.
pub async fn revoke_api_key(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let principal = admin(req, ctx, Need::Person).await?;
    let me = person(&principal)?;
    let id = ApiKeyId::parse(id)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    let db = ctx.db()?;
    if !d1::api_keys::revoke(&db, &id, ctx.now).await? {
        // Unknown: 404. Already revoked: done (a retried DELETE is not an error).
        d1::api_keys::by_id(&db, &id)
            .await?
            .ok_or(AppError::NotFound)?;
        return crate::edge::http::no_content();
    }
    audit::record(ctx, &me.id, Event::ApiKeyRevoked, None).await;
    crate::edge::http::no_content()
}

// ---- referral keys ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReferralBody {
    #[serde(default = "one", deserialize_with = "crate::core::domain::whole_i64")]
    count: i64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

fn one() -> i64 {
    1
}

/// `POST /v1/admin/referral-keys` `{count (1-100), email?, note?}` → 201 `{"keys": […]}`; the
/// keys are shown this once.
pub async fn create_referral_keys(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let principal = admin(req, ctx, WRITE).await?;
    let body: NewReferralBody = read_json(req).await?;
    let ask = NewKeys::parse(body.count, body.email.as_deref(), body.note.as_deref())?;
    let actor = principal.actor();
    let mut made = Vec::with_capacity(ask.count);
    for _ in 0..ask.count {
        let key = referral::key_token(&opaque_token(rand::bytes()?));
        made.push((rand::uuid()?, token_hash(&key), referral::hint(&key), key));
    }
    let rows: Vec<_> = made
        .iter()
        .map(|(id, hash, hint, _)| d1::referral_keys::NewKey {
            id,
            key_hash: hash,
            hint,
            email: ask.email.as_ref().map(|e| e.as_str()),
            note: ask.note.as_deref(),
            created_by: actor.id(),
            now: ctx.now,
        })
        .collect();
    d1::referral_keys::insert_all(&ctx.db()?, &rows).await?;
    if let Principal::Admin(u) = &principal {
        audit::record(ctx, &u.id, Event::ReferralKeysCreated, None).await;
    }
    let keys: Vec<Value> = made
        .iter()
        .map(|(id, _, _, key)| {
            json!({
                "id": id,
                "key": key,
                "email": ask.email.as_ref().map(|e| e.as_str()),
                "note": ask.note,
                "created_at": rfc3339(ctx.now),
            })
        })
        .collect();
    json(201, &json!({ "keys": keys }))
}

/// `GET /v1/admin/referral-keys?status=unused|used&cursor=&limit=`
pub async fn list_referral_keys(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    admin(req, ctx, READ).await?;
    let status = match StatusFilter::parse(query(req, "status")?.as_deref())? {
        StatusFilter::All => "all",
        StatusFilter::Unused => "unused",
        StatusFilter::Used => "used",
    };
    let p = page(req, 50)?;
    let below = p
        .cursor
        .map(|c| {
            c.strip_prefix('r')
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(bad_cursor)
        })
        .transpose()?;
    let (keys, next) = d1::referral_keys::list(&ctx.db()?, status, below, p.limit).await?;
    json(
        200,
        &json!({"keys": keys, "next_cursor": next.map(|n| format!("r{n}"))}),
    )
}
