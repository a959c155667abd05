//! Browser glue: CORS preflights and headers, security headers, the auth cookies of cookie mode
//! and the CSRF checks of cookie-authenticated requests. The rules live in `core::browser`;
//! this reads the request's headers and writes the response's.

use crate::core::api::TokenResponse;
use crate::core::browser::cookies::{self, Mode, Source};
use crate::core::browser::{cors, csrf, headers};
use crate::core::config::Config;
use crate::core::error::{AppError, Faulty};
use crate::core::routes::{resolve, Match};
use crate::edge::ctx::Ctx;
use crate::edge::http::json;
use crate::edge::rand;
use serde::Serialize;
use worker::{Headers, Request, Response};

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn grant(origin: Option<&str>, cfg: Option<&Config>) -> cors::Grant {
    match cfg {
        Some(cfg) => cors::grant(origin, cfg.allowed_origins.as_deref()),
        // Without a valid configuration there is no allow-list to grant from.
        None => cors::Grant::Refused,
    }
}

/// The answer to a CORS preflight, or `None` when the request is not one. A path we do not
/// serve is 404 like any other request to it; a refused origin gets a 204 without
/// `Access-Control-*` headers, which the browser reads as a refusal.
pub fn preflight(req: &Request, path: &str, cfg: Option<&Config>) -> Option<Response> {
    let origin = header(req, "origin");
    let asked = header(req, "access-control-request-method");
    if !cors::is_preflight(req.method().as_ref(), origin.as_deref(), asked.as_deref()) {
        return None;
    }
    // OPTIONS is no route method, so the table answers with the path's methods.
    let Match::WrongMethod { allow } = resolve("OPTIONS", path) else {
        return None;
    };
    let out = Headers::new();
    for (name, value) in cors::preflight_headers(&grant(origin.as_deref(), cfg), &allow) {
        let _ = out.set(name, &value);
    }
    Response::empty()
        .ok()
        .map(|r| r.with_status(204).with_headers(out))
}

/// Adds the security headers and, to an actual (non-preflight) response, the CORS headers for
/// the request's `Origin`. Not for a 101 WebSocket upgrade, whose headers are the handshake's.
pub fn finish(req: &Request, response: &mut Response, cfg: Option<&Config>, preflight: bool) {
    let development = cfg.is_some_and(Config::is_development);
    let origin = header(req, "origin");
    let out = response.headers_mut();
    for (name, value) in headers::security_headers(development) {
        let _ = out.set(name, value);
    }
    if !preflight {
        for (name, value) in cors::response_headers(&grant(origin.as_deref(), cfg)) {
            let _ = out.set(name, &value);
        }
    }
}

/// The access token of a request: `Authorization: Bearer`, else the access cookie.
pub fn credential(req: &Request) -> Option<(String, Source)> {
    let authorization = header(req, "authorization");
    let cookie = header(req, "cookie");
    cookies::credential(authorization.as_deref(), cookie.as_deref()).map(|(t, s)| (t.to_owned(), s))
}

fn refused(why: csrf::Failure) -> AppError {
    AppError::CsrfFailed(why.detail())
}

/// CSRF checks of a cookie-authenticated request of session `session_id`.
pub fn require_csrf(req: &Request, ctx: &Ctx, session_id: &str) -> Result<(), AppError> {
    csrf::check(
        req.method().as_ref(),
        header(req, "sec-fetch-site").as_deref(),
        header(req, "origin").as_deref(),
        |o| ctx.cfg.origin_allowed(Some(o)),
        header(req, "x-csrf-token").as_deref(),
        &ctx.cfg.csrf_key,
        session_id,
    )
    .map_err(refused)
}

/// The refresh cookie of a request that carried no refresh token in its body. It cannot carry a
/// CSRF token (a reloaded page has none until it refreshes), so it must at least not be
/// cross-site; `SameSite=Strict` already keeps the cookie off such requests.
pub fn refresh_cookie(req: &Request, ctx: &Ctx) -> Result<Option<String>, AppError> {
    let Some(token) = header(req, "cookie")
        .and_then(|c| cookies::read(&c, cookies::REFRESH_COOKIE).map(str::to_owned))
    else {
        return Ok(None);
    };
    csrf::check_site(
        header(req, "sec-fetch-site").as_deref(),
        header(req, "origin").as_deref(),
        |o| ctx.cfg.origin_allowed(Some(o)),
    )
    .map_err(refused)?;
    Ok(Some(token))
}

/// The body of a session handed over in cookies: no token in it, a CSRF token instead.
#[derive(Serialize)]
struct CookieSession<'a> {
    user: &'a crate::core::api::UserView,
    session_id: &'a str,
    expires_in: i64,
    csrf_token: String,
}

/// The 200 of a login-like endpoint or a refresh: the tokens in the body (bearer mode), or in
/// the two cookies with a CSRF token of the session in the body (cookie mode).
pub fn session_response(
    ctx: &Ctx,
    mode: Mode,
    tokens: &TokenResponse,
) -> Result<Response, AppError> {
    if mode == Mode::Bearer {
        return json(200, tokens);
    }
    let body = CookieSession {
        user: &tokens.user,
        session_id: &tokens.session_id,
        expires_in: tokens.expires_in,
        csrf_token: csrf::mint(&ctx.cfg.csrf_key, &tokens.session_id, rand::bytes()?),
    };
    let mut response = json(200, &body)?;
    set_session_cookies(ctx, &mut response, tokens)?;
    Ok(response)
}

fn set_session_cookies(
    ctx: &Ctx,
    response: &mut Response,
    tokens: &TokenResponse,
) -> Result<(), AppError> {
    let refresh_max_age = ctx.cfg.refresh_ttl_s.min(ctx.cfg.session_absolute_s);
    let out = response.headers_mut();
    let set = |value: String| out.append("set-cookie", &value).fault("browser.set_cookie");
    set(cookies::access_cookie(
        &tokens.access_token,
        tokens.expires_in,
    )?)?;
    set(cookies::refresh_cookie(
        &tokens.refresh_token,
        refresh_max_age,
    )?)?;
    Ok(())
}

/// A redirect-based sign-in in cookie mode: a 302 to the app with the session in the two
/// cookies. No token travels in the URL; the app gets its CSRF token from a refresh.
pub fn session_redirect(
    ctx: &Ctx,
    tokens: &TokenResponse,
    location: &str,
) -> Result<Response, AppError> {
    let mut response = redirect(location)?;
    set_session_cookies(ctx, &mut response, tokens)?;
    Ok(response)
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> Result<Response, AppError> {
    let mut response = Response::empty()
        .fault("browser.redirect")?
        .with_status(302);
    response
        .headers_mut()
        .set("location", location)
        .fault("browser.redirect")?;
    Ok(response)
}

/// Deletes both cookies (a cookie-mode logout).
pub fn clear_cookies(response: &mut Response) -> Result<(), AppError> {
    for value in cookies::cleared() {
        response
            .headers_mut()
            .append("set-cookie", &value)
            .fault("browser.set_cookie")?;
    }
    Ok(())
}
