//! Sign-in with external providers: the provider list, the OAuth authorization-code flow
//! (start, callback, one-time code), and the identities a user has linked.

use crate::core::account::{SignIn, User};
use crate::core::audit::Event;
use crate::core::browser::cookies::{self, Mode, Source};
use crate::core::config::Limit;
use crate::core::crypto::{opaque_token, token_hash};
use crate::core::domain::UserId;
use crate::core::error::{AppError, Faulty};
use crate::core::idp::flow::{self, Pending};
use crate::core::idp::link::{self, External, Resolution};
use crate::core::idp::oauth::{query, s256, valid_challenge, with_query};
use crate::core::idp::providers::{Kind, Provider};
use crate::edge::auth::{authenticate, Authed};
use crate::edge::browser;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, audit, identities::NewIdentity};
use crate::edge::http::{json, no_content, read_json};
use crate::edge::idp;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::routes::tokens::open_session;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use worker::{Request, Response};

/// `GET /v1/auth/providers`.
pub async fn providers(_req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let list: Vec<_> = ctx
        .cfg
        .auth_providers
        .iter()
        .map(|p| json!({"id": p.id, "type": p.kind.type_name(), "name": p.name}))
        .collect();
    json(200, &json!({ "providers": list }))
}

/// A provider of the redirect flow (a `jwt` provider has none: 404 like an unknown one).
fn provider<'a>(ctx: &'a Ctx, id: &str) -> Result<&'a Provider, AppError> {
    ctx.cfg
        .auth_provider(id)
        .filter(|p| p.kind.is_oauth())
        .ok_or(AppError::NotFound)
}

fn query_map(req: &Request) -> Result<HashMap<String, String>, AppError> {
    let url = req.url().fault("routes.oauth.query")?;
    let mut out = HashMap::new();
    for (k, v) in url.query_pairs() {
        // A repeated parameter is ambiguous: which one would the provider or app have meant?
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(AppError::InvalidRequest(format!("{k} is repeated")));
        }
    }
    Ok(out)
}

/// Our own callback URL for the provider: this Worker's origin, as the request reached it.
fn callback_uri(req: &Request, provider: &str) -> Result<String, AppError> {
    let url = req.url().fault("routes.oauth.callback_uri")?;
    Ok(format!(
        "{}/v1/auth/oauth/{provider}/callback",
        url.origin().ascii_serialization()
    ))
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// `GET /v1/auth/oauth/{provider}/start`: records the sign-in and sends the browser to the
/// provider. With `link=true` from a signed-in session, the identity will be linked to it.
pub async fn start(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let p = provider(ctx, id)?;
    let q = query_map(req)?;
    let redirect_uri = q
        .get("redirect_uri")
        .filter(|u| p.allows_redirect(u))
        .ok_or_else(|| AppError::BadRequest {
            code: "invalid_redirect_uri",
            detail: "redirect_uri is missing or not one of this provider's configured app URLs"
                .into(),
        })?
        .clone();
    let mode = Mode::parse(q.get("mode").map(String::as_str))?;
    let app_code_challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some(m)) if m == "S256" && valid_challenge(c) => Some(c.clone()),
        _ => {
            return Err(AppError::InvalidRequest(
                "code_challenge must be an S256 challenge (43 base64url characters) with code_challenge_method=S256".into(),
            ))
        }
    };
    let link_user_id = match q.get("link").map(String::as_str) {
        None | Some("false") => None,
        Some("true") => Some(linking_user(req, ctx).await?.user.id.to_string()),
        Some(_) => {
            return Err(AppError::InvalidRequest(
                "link must be true or false".into(),
            ))
        }
    };
    enforce(ctx, Limit::LoginIp, Key::Client).await?;

    let state = opaque_token(rand::bytes()?);
    let nonce = opaque_token(rand::bytes()?);
    let code_verifier = opaque_token(rand::bytes()?);
    let binding = Pending::needs_browser_binding(mode, app_code_challenge.as_deref())
        .then(|| rand::bytes().map(opaque_token))
        .transpose()?;
    let pending = Pending {
        redirect_uri,
        mode,
        nonce: nonce.clone(),
        code_verifier: code_verifier.clone(),
        app_code_challenge,
        browser_hash: binding.as_deref().map(token_hash),
        link_user_id,
        expires_at: ctx.now + flow::STATE_TTL_S,
    };
    let endpoint = idp::authorization_endpoint(p, ctx.now).await.map_err(|e| {
        AppError::Unavailable(format!(
            "the identity provider is unavailable ({})",
            e.code()
        ))
    })?;
    d1::oauth::insert_state(&ctx.db()?, &token_hash(&state), &p.id, &pending, ctx.now).await?;

    let callback = callback_uri(req, &p.id)?;
    let scope = p.scopes.join(" ");
    let challenge = s256(&code_verifier);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", p.client_id.as_str()),
        ("redirect_uri", callback.as_str()),
        ("scope", scope.as_str()),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if matches!(p.kind, Kind::Oidc { .. }) {
        params.push(("nonce", nonce.as_str()));
    }
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    let mut response = browser::redirect(&format!("{endpoint}{sep}{}", query(&params)))?;
    if let Some(b) = binding {
        response
            .headers_mut()
            .append("set-cookie", &flow::binding_cookie(&b))
            .fault("routes.oauth.start")?;
    }
    Ok(response)
}

/// The signed-in user asking to link an identity. A cookie session must not be driven into
/// this by another site (a GET carries no CSRF token, so at least the site is checked).
async fn linking_user(req: &Request, ctx: &Ctx) -> Result<Authed, AppError> {
    let authed = authenticate(req, ctx).await?;
    if authed.source == Source::Cookie {
        crate::core::browser::csrf::check_site(
            header(req, "sec-fetch-site").as_deref(),
            header(req, "origin").as_deref(),
            |o| ctx.cfg.origin_allowed(Some(o)),
        )
        .map_err(|why| AppError::CsrfFailed(why.detail()))?;
    }
    Ok(authed)
}

/// Where the app learns that the sign-in failed, and why.
fn app_error(redirect_uri: &str, code: &str) -> Result<Response, AppError> {
    let mut r = browser::redirect(&with_query(redirect_uri, &[("error", code)]))?;
    r.headers_mut()
        .append("set-cookie", &flow::binding_cookie_cleared())
        .fault("routes.oauth.app_error")?;
    Ok(r)
}

fn log_refusal(ctx: &Ctx, provider: &str, why: &str) {
    worker::console_warn!(
        "{}",
        json!({"level": "warn", "msg": "external sign-in refused", "request_id": ctx.request_id, "provider": provider, "why": why})
    );
}

/// `GET /v1/auth/oauth/{provider}/callback`: the provider sends the browser back here.
pub async fn callback(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let p = provider(ctx, id)?;
    let q = query_map(req)?;
    let state = q.get("state").ok_or_else(flow::invalid_state)?;
    let taken = d1::oauth::take_state(&ctx.db()?, &token_hash(state), &p.id).await?;
    let cookie = header(req, "cookie");
    let binding = cookie
        .as_deref()
        .and_then(|c| cookies::read(c, flow::BINDING_COOKIE))
        .map(token_hash);
    let pending = flow::check_state(taken, binding.as_deref(), ctx.now).map_err(|why| {
        log_refusal(ctx, &p.id, &format!("state: {why:?}"));
        flow::invalid_state()
    })?;
    if let Some(error) = q.get("error") {
        // The provider's own error codes are RFC 6749 tokens; anything else is passed on as
        // a generic one rather than echoed.
        let code = if !error.is_empty()
            && error.len() <= 64
            && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            error.as_str()
        } else {
            "provider_error"
        };
        return app_error(&pending.redirect_uri, code);
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return app_error(&pending.redirect_uri, "provider_error");
    };
    let callback = callback_uri(req, &p.id)?;
    let ext = match idp::complete(
        p,
        code,
        &callback,
        &pending.code_verifier,
        &pending.nonce,
        ctx.now,
        ctx.cfg.token_leeway_s,
    )
    .await
    {
        Ok(ext) => ext,
        Err(e) => {
            log_refusal(ctx, &p.id, &e.to_string());
            return app_error(&pending.redirect_uri, e.code());
        }
    };
    let user = match sign_in_user(ctx, &ext, pending.link_user_id.as_deref(), false).await? {
        Ok(Some(u)) => u,
        // An explicit link: done, the app's session goes on.
        Ok(None) => {
            let mut r = browser::redirect(&with_query(
                &pending.redirect_uri,
                &[("linked", p.id.as_str())],
            ))?;
            r.headers_mut()
                .append("set-cookie", &flow::binding_cookie_cleared())
                .fault("routes.oauth.callback")?;
            return Ok(r);
        }
        Err(code) => {
            log_refusal(ctx, &p.id, code);
            return app_error(&pending.redirect_uri, code);
        }
    };
    // A cookie-mode redirect cannot carry the second-factor challenge: an account with one signs
    // in through a bearer-mode start (its one-time code then answers with the challenge).
    if pending.mode == Mode::Cookie
        && crate::edge::routes::tokens::has_second_factor(ctx, &user).await?
    {
        log_refusal(ctx, &p.id, "mfa_required");
        return app_error(&pending.redirect_uri, "mfa_required");
    }
    let mut response = match pending.mode {
        Mode::Cookie => {
            let (tokens, _) = open_session(ctx, &user, None, None).await?;
            browser::session_redirect(ctx, &tokens, &pending.redirect_uri)?
        }
        Mode::Bearer => {
            let one_time = opaque_token(rand::bytes()?);
            d1::oauth::insert_code(
                &ctx.db()?,
                &token_hash(&one_time),
                &user.id,
                pending.app_code_challenge.as_deref(),
                ctx.now,
                ctx.now + flow::CODE_TTL_S,
            )
            .await?;
            browser::redirect(&with_query(
                &pending.redirect_uri,
                &[("code", one_time.as_str())],
            ))?
        }
    };
    response
        .headers_mut()
        .append("set-cookie", &flow::binding_cookie_cleared())
        .fault("routes.oauth.callback")?;
    Ok(response)
}

/// Applies the linking rules (`exchange`: those of token exchange): `Ok(Some(user))` to sign
/// in, `Ok(None)` when an explicit link was made, `Err(code)` for a refusal the app is told
/// about.
async fn sign_in_user(
    ctx: &Ctx,
    ext: &External,
    link_user_id: Option<&str>,
    exchange: bool,
) -> Result<Result<Option<User>, &'static str>, AppError> {
    let db = ctx.db()?;
    let owner = match d1::identities::owner(&db, &ext.provider, &ext.subject).await? {
        Some(id) => d1::users::by_id(&db, &id).await?,
        None => None,
    };
    let linking = match link_user_id {
        Some(id) => d1::users::by_id(&db, id).await?,
        None => None,
    };
    let by_email = match (&owner, &linking, &ext.email) {
        (None, None, Some(e)) => d1::users::by_email(&db, e).await?,
        _ => None,
    };
    let identity_id = rand::uuid()?;
    let new = NewIdentity {
        id: &identity_id,
        provider: &ext.provider,
        subject: &ext.subject,
        email: ext.email.as_deref(),
        now: ctx.now,
    };
    let resolution = if exchange {
        link::resolve_exchange(ext, owner.as_ref(), by_email.as_ref())
    } else {
        link::resolve(ext, owner.as_ref(), linking.as_ref(), by_email.as_ref())
    };
    let user = match resolution {
        Resolution::Refused(r) => return Ok(Err(r.code())),
        Resolution::Known => {
            d1::identities::touch(&db, &new).await?;
            owner.ok_or_else(|| AppError::fault("routes.oauth.sign_in_user", "owner vanished"))?
        }
        Resolution::Link => {
            let me = linking.ok_or_else(|| {
                AppError::fault("routes.oauth.sign_in_user", "linking user vanished")
            })?;
            if !d1::identities::link(&db, &me.id, &new).await? {
                return Ok(Err(link::Refusal::IdentityTaken.code()));
            }
            audit::record(ctx, &me.id, Event::IdentityLinked, None).await;
            return Ok(Ok(None));
        }
        Resolution::Join => {
            let u = by_email
                .ok_or_else(|| AppError::fault("routes.oauth.sign_in_user", "account vanished"))?;
            if !d1::identities::link(&db, &u.id, &new).await? {
                // Linked meanwhile by a parallel callback of the same identity: this one
                // stops; signing in again finds the identity known.
                return Ok(Err(link::Refusal::IdentityTaken.code()));
            }
            audit::record(ctx, &u.id, Event::IdentityLinked, None).await;
            u
        }
        Resolution::Create => {
            let email = match (&ext.email, ext.email_verified) {
                (Some(e), true) => e.clone(),
                _ if exchange => link::placeholder_email(&ext.provider, &ext.subject),
                _ => return Err(AppError::fault("routes.oauth.sign_in_user", "no e-mail")),
            };
            let user_id = UserId::new(rand::bytes()?);
            if !d1::identities::create_user(&db, &user_id, &email, ext.name.as_deref(), &new)
                .await?
            {
                return Ok(Err(link::Refusal::AccountExists.code()));
            }
            let u = d1::users::by_id(&db, &user_id).await?.ok_or_else(|| {
                AppError::fault("routes.oauth.sign_in_user", "new account vanished")
            })?;
            audit::record(ctx, &u.id, Event::Register, None).await;
            audit::record(ctx, &u.id, Event::IdentityLinked, None).await;
            u
        }
    };
    match user.sign_in() {
        SignIn::Allowed => Ok(Ok(Some(user))),
        refused => Ok(Err(refused
            .into_result()
            .err()
            .map(|e| e.code())
            .unwrap_or("access_denied"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    code: String,
    #[serde(default)]
    code_verifier: Option<String>,
    #[serde(default)]
    device_name: Option<String>,
}

/// `POST /v1/auth/oauth/token`: the app redeems its one-time code for a session.
pub async fn token(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: TokenBody = read_json(req).await?;
    enforce(ctx, Limit::LoginIp, Key::Client).await?;
    let taken = d1::oauth::take_code(&ctx.db()?, &token_hash(&body.code)).await?;
    let user_id = flow::redeem(taken, body.code_verifier.as_deref(), ctx.now)?;
    let user = d1::users::by_id(&ctx.db()?, &user_id)
        .await?
        .ok_or_else(flow::invalid_grant)?;
    user.sign_in().into_result()?;
    crate::edge::routes::tokens::first_factor_signed_in(
        ctx,
        &user,
        body.device_name.clone(),
        Mode::Bearer,
    )
    .await
}

/// `GET /v1/me/identities`.
pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let list = d1::identities::of_user(&ctx.db()?, &authed.user.id).await?;
    let views: Vec<_> = list.iter().map(|i| i.view()).collect();
    json(200, &json!({ "identities": views }))
}

/// `DELETE /v1/me/identities/{id}`: never the last way to sign in.
pub async fn unlink(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let db = ctx.db()?;
    if d1::identities::unlink_unless_last(&db, &authed.user.id, id).await? {
        audit::record(ctx, &authed.user.id, Event::IdentityUnlinked, None).await;
        return no_content();
    }
    let mine = d1::identities::of_user(&db, &authed.user.id).await?;
    if !mine.iter().any(|i| i.id == id) {
        return Err(AppError::NotFound);
    }
    // The statement refused: no password, no other identity and no wallet.
    debug_assert!(!link::may_unlink(
        !authed.user.password_hash.is_empty(),
        mine.len(),
        d1::wallets::of_user(&db, &authed.user.id).await?.len()
    ));
    Err(AppError::Conflict {
        code: "last_login_method",
        detail: "this is the only way left to sign in; set a password (reset flow), link another identity or a wallet first".into(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeBody {
    provider: String,
    token: String,
    #[serde(default)]
    device_name: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

/// `POST /v1/auth/exchange`: a JWT of a configured `jwt` provider becomes a session of the
/// linked user, created on first use. Whatever is wrong with the token or provider is 401
/// `invalid_token` (the log says what).
pub async fn exchange(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: ExchangeBody = read_json(req).await?;
    let mode = Mode::parse(body.mode.as_deref())?;
    if let Some(d) = body.device_name.as_deref() {
        crate::core::domain::DeviceName::parse(d)?;
    }
    enforce(ctx, Limit::LoginIp, Key::Client).await?;
    let p = ctx
        .cfg
        .auth_provider(&body.provider)
        .filter(|p| !p.kind.is_oauth())
        .ok_or_else(|| {
            log_refusal(ctx, &body.provider, "not a jwt provider");
            AppError::InvalidToken
        })?;
    let ext = idp::verify_exchange(p, &body.token, ctx.now, ctx.cfg.token_leeway_s)
        .await
        .map_err(|e| {
            log_refusal(ctx, &p.id, &e.to_string());
            AppError::InvalidToken
        })?;
    let user = match sign_in_user(ctx, &ext, None, true).await? {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(AppError::fault(
                "routes.oauth.exchange",
                "a link without a session",
            ))
        }
        Err(code) => {
            log_refusal(ctx, &p.id, code);
            return Err(match code {
                "account_deactivated" => AppError::AccountDeactivated,
                "account_pending_deletion" => AppError::AccountPendingDeletion,
                _ => AppError::InvalidToken,
            });
        }
    };
    crate::edge::routes::tokens::first_factor_signed_in(ctx, &user, body.device_name.clone(), mode)
        .await
}
