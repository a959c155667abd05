//! Login, refresh and logout: where sessions begin, rotate and end.

use crate::core::api::TokenResponse;
use crate::core::domain::{DeviceName, Email, Password, UserStatus};
use crate::core::error::AppError;
use crate::core::password;
use crate::core::session::RevokeReason;
use crate::core::token::{sign, AccessClaims};
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1::{self, users::UserRow};
use crate::edge::http::{json, no_content, read_json};
use crate::edge::objects::user_sessions::{
    split_refresh_token, Client, CreateReq, Grant, RevokeReq, RotateResp,
};
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    device_name: Option<String>,
}

/// Checks e-mail and password. Unknown e-mails are checked against a dummy hash so both
/// failures cost the same; both answer `invalid_credentials`. Account state is only revealed
/// to someone who knows the password.
pub async fn check_credentials(
    ctx: &Ctx,
    email: &Email,
    password: &Password,
) -> Result<UserRow, AppError> {
    let user = d1::users::by_email(&ctx.db()?, email.as_str()).await?;
    let hash = user
        .as_ref()
        .map_or(password::DUMMY_PHC, |u| u.password_hash.as_str());
    let ok = password::verify(password, hash);
    match user {
        Some(u) if ok => Ok(u),
        _ => Err(AppError::InvalidCredentials),
    }
}

pub fn require_usable(user: &UserRow) -> Result<(), AppError> {
    match user.status() {
        UserStatus::Active if user.email_verified != 0 => Ok(()),
        UserStatus::Active | UserStatus::PendingVerification => Err(AppError::EmailNotVerified),
        UserStatus::Deactivated | UserStatus::PendingDeletion => Err(AppError::AccountDeactivated),
    }
}

/// Signs the access token of a grant and builds the response.
fn token_response(ctx: &Ctx, user: &UserRow, grant: Grant) -> Result<TokenResponse, AppError> {
    let cfg = &ctx.cfg;
    let claims = AccessClaims {
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone(),
        sub: user.id.clone(),
        sid: grant.session_id.clone(),
        jti: grant.stamp.jti.clone(),
        iat: grant.stamp.iat,
        exp: grant.stamp.iat + cfg.access_ttl_s,
    };
    let access_token =
        sign(&cfg.keys, Some(&grant.stamp.kid), &claims).map_err(AppError::unexpected)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        // The token's lifetime, as issued (a replayed pair reports it unchanged).
        expires_in: claims.exp - claims.iat,
        refresh_token: grant.refresh_token,
        session_id: grant.session_id,
        user: user.view(),
    })
}

pub async fn login(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: LoginBody = read_json(req).await?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse_presented(body.password)?;
    let device_name = match body.device_name.as_deref() {
        Some(d) => DeviceName::parse(d)?,
        None => None,
    };
    let user = check_credentials(ctx, &email, &password).await?;
    require_usable(&user)?;
    let grant = Client::for_user(&ctx.env, &user.id)?
        .create(
            &user.id,
            &CreateReq {
                device_name: device_name.map(|d| d.as_str().to_owned()),
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
            },
        )
        .await?;
    json(200, &token_response(ctx, &user, grant)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

pub async fn refresh(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let body: RefreshBody = read_json(req).await?;
    let user_id = split_refresh_token(&body.refresh_token)
        .ok_or(AppError::InvalidRefreshToken)?
        .to_string();
    let outcome = Client::for_user(&ctx.env, &user_id)?
        .rotate(&user_id, &body.refresh_token)
        .await?;
    let grant = match outcome {
        RotateResp::Granted(g) => g,
        RotateResp::Reused => return Err(AppError::RefreshTokenReused),
        RotateResp::Invalid => return Err(AppError::InvalidRefreshToken),
    };
    let user = d1::users::by_id(&ctx.db()?, &user_id)
        .await?
        .ok_or(AppError::InvalidRefreshToken)?;
    require_usable(&user).map_err(|_| AppError::InvalidRefreshToken)?;
    json(200, &token_response(ctx, &user, grant)?)
}

pub async fn logout(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    Client::for_user(&ctx.env, &authed.user.id)?
        .revoke(
            &authed.user.id,
            &RevokeReq {
                session_id: Some(authed.session_id),
                except: None,
                reason: RevokeReason::Logout,
            },
        )
        .await?;
    no_content()
}
