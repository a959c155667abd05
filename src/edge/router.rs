//! Request id, route match, dispatch, error rendering and the one log line per request.

use crate::core::admin::UserAction;
use crate::core::error::AppError;
use crate::core::routes::{resolve, Match, Route};
use crate::edge::browser;
use crate::edge::ctx::Ctx;
use crate::edge::http::problem;
use crate::edge::rand;
use crate::edge::replication;
use crate::edge::routes::{
    accounts, admin, credits, dev, email, health, jobs, lifecycle, mfa, oauth, passkeys, password,
    profile, realtime, sessions, siwe, streams, tokens, workspaces,
};
use std::rc::Rc;
use worker::{Context, Date, Env, Request, Response};

fn request_id(req: &Request) -> String {
    req.headers()
        .get("cf-ray")
        .ok()
        .flatten()
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .or_else(|| rand::uuid().ok())
        .unwrap_or_else(|| "unknown".into())
}

pub async fn handle(mut req: Request, env: Env, invocation: Context) -> Response {
    let invocation = Rc::new(invocation);
    let started = Date::now().as_millis();
    let request_id = request_id(&req);
    let method = req.method().to_string();
    let path = req.path();
    // Parsed once per isolate; `None` (an invalid configuration) only means no CORS grants
    // here, the routes that need it report it.
    let cfg = crate::edge::ctx::config(&env).ok();
    let preflight = browser::preflight(&req, &path, cfg.as_deref());
    let is_preflight = preflight.is_some();
    let (template, result, bookmark) = match preflight {
        Some(answer) => ("preflight", Ok(answer), None),
        None => route(&method, &path, &mut req, env, &request_id, invocation).await,
    };
    let (mut response, cause) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            let cause = match &e {
                AppError::Unexpected(c) => Some(c.clone()),
                _ => None,
            };
            (problem(&e, &request_id), cause)
        }
    };
    let status = response.status_code();
    if status != 101 {
        browser::finish(&req, &mut response, cfg.as_deref(), is_preflight);
        let headers = response.headers_mut();
        let _ = headers.set("x-request-id", &request_id);
        if !headers.has("cache-control").unwrap_or(false) {
            let _ = headers.set("cache-control", "no-store");
        }
        if let Some(bookmark) = bookmark {
            let _ = headers.set(replication::BOOKMARK_HEADER, &bookmark);
        }
    }
    let mut line = serde_json::json!({
        "level": if status >= 500 { "error" } else { "info" },
        "msg": "request",
        "request_id": request_id,
        "method": method,
        "route": template,
        "status": status,
        "duration_ms": Date::now().as_millis().saturating_sub(started),
    });
    if let Some(cause) = cause {
        line["fault"] = cause.to_json();
    }
    worker::console_log!("{line}");
    response
}

/// The route's answer, with its template for the log line and, with D1 read replication on,
/// the bookmark it carries.
async fn route(
    method: &str,
    path: &str,
    req: &mut Request,
    env: Env,
    request_id: &str,
    invocation: Rc<Context>,
) -> (&'static str, Result<Response, AppError>, Option<String>) {
    match resolve(method, path) {
        Match::Found {
            route,
            template,
            param,
            sub,
        } => {
            let param = param.map(str::to_owned);
            let sub = sub.map(str::to_owned);
            let (result, bookmark) = dispatch(
                route,
                param.as_deref(),
                sub.as_deref(),
                req,
                env,
                request_id,
                invocation,
            )
            .await;
            (template, result, bookmark)
        }
        Match::WrongMethod { allow } => ("-", Err(AppError::MethodNotAllowed { allow }), None),
        Match::NotFound => ("-", Err(AppError::NotFound), None),
    }
}

/// The route's answer and, with D1 read replication on, its bookmark (`edge::replication`).
async fn dispatch(
    route: Route,
    param: Option<&str>,
    sub: Option<&str>,
    req: &mut Request,
    env: Env,
    request_id: &str,
    invocation: Rc<Context>,
) -> (Result<Response, AppError>, Option<String>) {
    // Liveness touches nothing, not even configuration.
    match route {
        Route::Health => return (health::health(), None),
        Route::Ready => return (health::ready(&env).await, None),
        Route::OpenApi => return (health::openapi(&env).await, None),
        _ => {}
    }
    let mut ctx = match Ctx::new(req, env, request_id, invocation) {
        Ok(ctx) => ctx,
        Err(e) => return (Err(e), None),
    };
    let plan = match replication::begin(req, &mut ctx, route) {
        Ok(plan) => plan,
        Err(e) => return (Err(e), None),
    };
    let result = serve(route, param, sub, req, &ctx).await;
    let bookmark = match plan {
        Some(plan) => plan.bookmark(&ctx, &result).await,
        None => None,
    };
    (result, bookmark)
}

async fn serve(
    route: Route,
    param: Option<&str>,
    sub: Option<&str>,
    req: &mut Request,
    ctx: &Ctx,
) -> Result<Response, AppError> {
    let id = param.unwrap_or_default();
    let sub = sub.unwrap_or_default();
    match route {
        Route::Health | Route::Ready | Route::OpenApi => unreachable!("answered above"),
        Route::Jwks => health::jwks(ctx).await,
        Route::Register => accounts::register(req, ctx).await,
        Route::VerifyEmail => accounts::verify_email(req, ctx).await,
        Route::ResendVerification => accounts::resend_verification(req, ctx).await,
        Route::Me => accounts::me(req, ctx).await,
        Route::Login => tokens::login(req, ctx).await,
        Route::Refresh => tokens::refresh(req, ctx).await,
        Route::Logout => tokens::logout(req, ctx).await,
        Route::MfaVerify => mfa::verify(req, ctx).await,
        Route::PasskeyAuthenticationOptions => passkeys::authentication_options(req, ctx).await,
        Route::PasskeySignIn => passkeys::sign_in(req, ctx).await,
        Route::PasskeyRegistrationOptions => passkeys::registration_options(req, ctx).await,
        Route::RegisterPasskey => passkeys::register(req, ctx).await,
        Route::ListPasskeys => passkeys::list(req, ctx).await,
        Route::RenamePasskey => passkeys::rename(req, ctx, id).await,
        Route::RemovePasskey => passkeys::remove(req, ctx, id).await,
        Route::Reauthenticate => mfa::reauthenticate(req, ctx).await,
        Route::StartTotp => mfa::start_totp(req, ctx).await,
        Route::ConfirmTotp => mfa::confirm_totp(req, ctx).await,
        Route::RemoveTotp => mfa::remove_totp(req, ctx).await,
        Route::ListSessions => sessions::list(req, ctx).await,
        Route::RevokeSession => sessions::revoke(req, ctx, id).await,
        Route::RevokeSessions => sessions::revoke_many(req, ctx).await,
        Route::RenameSession => sessions::rename(req, ctx, id).await,
        Route::ChangeEmail => email::change(req, ctx).await,
        Route::ForgotPassword => password::forgot(req, ctx).await,
        Route::ResetPassword => password::reset(req, ctx).await,
        Route::ChangePassword => password::change(req, ctx).await,
        Route::PatchMe => profile::patch_me(req, ctx).await,
        Route::DeleteMe => lifecycle::delete(req, ctx).await,
        Route::Deactivate => lifecycle::deactivate(req, ctx).await,
        Route::Reactivate => lifecycle::reactivate(req, ctx).await,
        Route::Restore => lifecycle::restore(req, ctx).await,
        Route::GetPreferences => profile::get_preferences(req, ctx).await,
        Route::PatchPreferences => profile::patch_preferences(req, ctx).await,
        Route::ResetPreferences => profile::reset_preferences(req, ctx).await,
        Route::Audit => profile::list_audit(req, ctx).await,
        Route::Credits => credits::get(req, ctx).await,
        Route::DevCredits => credits::dev_grant(req, ctx).await,
        Route::AdminCredits => credits::admin_grant(req, ctx).await,
        Route::CreateStream => streams::create(req, ctx).await,
        Route::ListStreams => streams::list(req, ctx).await,
        Route::GetStream => streams::get(req, ctx, id).await,
        Route::PatchStream => streams::patch(req, ctx, id).await,
        Route::EndStream => streams::end(req, ctx, id).await,
        Route::StreamChat => streams::chat(req, ctx, id).await,
        Route::Tip => credits::tip(req, ctx, id).await,
        Route::ListTips => credits::list_tips(req, ctx).await,
        Route::RealtimeTicket => realtime::ticket(req, ctx).await,
        Route::RealtimeMe => realtime::me(req, ctx).await,
        Route::SubmitJob => jobs::submit(req, ctx).await,
        Route::ListJobs => jobs::list(req, ctx).await,
        Route::GetJob => jobs::get(req, ctx, id).await,
        Route::RedeliverJob => jobs::redeliver(req, ctx, id).await,
        Route::JobStats => jobs::stats(req, ctx).await,
        Route::DevMailbox => dev::mailbox(req, ctx).await,
        Route::CreateWorkspace => workspaces::create(req, ctx).await,
        Route::ListWorkspaces => workspaces::list(req, ctx).await,
        Route::GetWorkspace => workspaces::get(req, ctx, id).await,
        Route::PatchWorkspace => workspaces::patch(req, ctx, id).await,
        Route::DeleteWorkspace => workspaces::delete(req, ctx, id).await,
        Route::JoinWorkspace => workspaces::join(req, ctx, id).await,
        Route::ListMembers => workspaces::members(req, ctx, id).await,
        Route::PatchMember => workspaces::patch_member(req, ctx, id, sub).await,
        Route::RemoveMember => workspaces::remove_member(req, ctx, id, sub).await,
        Route::CreateInvitation => workspaces::invite(req, ctx, id).await,
        Route::ListInvitations => workspaces::invitations(req, ctx, id).await,
        Route::RevokeInvitation => workspaces::revoke_invitation(req, ctx, id, sub).await,
        Route::AcceptInvitation => workspaces::accept(req, ctx).await,
        Route::CheckReferralKey => accounts::check_referral_key(req, ctx).await,
        Route::AdminListUsers => admin::list_users(req, ctx).await,
        Route::AdminGetUser => admin::get_user(req, ctx, id).await,
        Route::AdminDeactivate => admin::act(req, ctx, id, UserAction::Deactivate).await,
        Route::AdminActivate => admin::act(req, ctx, id, UserAction::Activate).await,
        Route::AdminUnlock => admin::act(req, ctx, id, UserAction::Unlock).await,
        Route::AdminPromote => admin::act(req, ctx, id, UserAction::Promote).await,
        Route::AdminDemote => admin::act(req, ctx, id, UserAction::Demote).await,
        Route::AdminUserSessions => admin::sessions(req, ctx, id).await,
        Route::AdminRevokeUserSessions => admin::revoke_all(req, ctx, id).await,
        Route::AdminUserAudit => admin::user_audit(req, ctx, id).await,
        Route::AdminResetSecondFactors => admin::reset_second_factors(req, ctx, id).await,
        Route::AdminStats => admin::stats(req, ctx).await,
        Route::AdminRotateKeys => admin::rotate_keys(req, ctx).await,
        Route::AdminCreateApiKey => admin::create_api_key(req, ctx).await,
        Route::AdminListApiKeys => admin::list_api_keys(req, ctx).await,
        Route::AdminRevokeApiKey => admin::revoke_api_key(req, ctx, id).await,
        Route::AdminCreateReferralKeys => admin::create_referral_keys(req, ctx).await,
        Route::AdminListReferralKeys => admin::list_referral_keys(req, ctx).await,
        Route::AuthProviders => oauth::providers(req, ctx).await,
        Route::OAuthStart => oauth::start(req, ctx, id).await,
        Route::OAuthCallback => oauth::callback(req, ctx, id).await,
        Route::OAuthToken => oauth::token(req, ctx).await,
        Route::ListIdentities => oauth::list(req, ctx).await,
        Route::UnlinkIdentity => oauth::unlink(req, ctx, id).await,
        Route::Exchange => oauth::exchange(req, ctx).await,
        Route::SiweNonce => siwe::nonce(req, ctx).await,
        Route::SiweVerify => siwe::verify(req, ctx).await,
        Route::LinkWallet => siwe::link(req, ctx).await,
        Route::ListWallets => siwe::list(req, ctx).await,
        Route::UnlinkWallet => siwe::unlink(req, ctx, id).await,
    }
}
