//! Tickets for WebSockets, and the per-user event channel.

use crate::core::account::User;
use crate::core::caps::{Cap, SocketHolder};
use crate::core::config::Limit;
use crate::core::crypto::{looks_like_opaque_token, opaque_token, token_hash};
use crate::core::error::{AppError, Faulty};
use crate::core::session::{self, SessionCheck};
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1;
use crate::edge::http::json;
use crate::edge::objects::user_channel;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::sockets;
use serde_json::json;
use worker::{Request, Response};

pub const TICKET_TTL_S: i64 = 30;

/// `POST /v1/realtime/tickets`: browsers cannot put a bearer token on a WebSocket, so they
/// trade it for a short-lived, single-use ticket bound to the same session.
pub async fn ticket(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::TicketUser, Key::User(&authed.user.id)).await?;
    let ticket = opaque_token(rand::bytes()?);
    let issued = d1::tickets::insert(
        &ctx.db()?,
        &d1::tickets::NewTicket {
            hash: &token_hash(&ticket),
            user_id: &authed.user.id,
            session_id: &authed.session_id,
            now: ctx.now,
            expires_at: ctx.now + TICKET_TTL_S,
            cap: ctx.cfg.caps.tickets,
        },
    )
    .await?;
    if !issued {
        return Err(Cap::Tickets.refused());
    }
    json(
        201,
        &json!({ "ticket": ticket, "expires_in": TICKET_TTL_S }),
    )
}

pub struct Holder {
    pub user: User,
    pub session_id: String,
}

/// The checks before any WebSocket handshake: an upgrade request, an allowed Origin, and a
/// ticket that is redeemed now (single use) and whose session is still active.
pub async fn redeem_ticket(req: &Request, ctx: &Ctx) -> Result<Holder, AppError> {
    let upgrade = req
        .headers()
        .get("upgrade")
        .ok()
        .flatten()
        .unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(AppError::UpgradeRequired);
    }
    let origin = req.headers().get("origin").ok().flatten();
    if !ctx.cfg.origin_allowed(origin.as_deref()) {
        return Err(AppError::Forbidden(
            "this Origin may not open WebSockets".into(),
        ));
    }
    let url = req.url().fault("routes.realtime.redeem_ticket")?;
    let ticket = url
        .query_pairs()
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
        .filter(|t| looks_like_opaque_token(t))
        .ok_or(AppError::InvalidTicket)?;
    let db = ctx.db()?;
    let holder = d1::tickets::redeem(&db, &token_hash(&ticket), ctx.now)
        .await?
        .ok_or(AppError::InvalidTicket)?;
    // The same rule as every access token's (`core::session::check`): a ticket of a session
    // revoked, expired or of an account no longer active since it was minted opens nothing.
    let row = d1::sessions::auth_lookup(&db, &holder.session_id)
        .await?
        .filter(|r| {
            session::check(&r.session, &r.owner, &holder.user_id, &r.user, ctx.now)
                == SessionCheck::Active
        })
        .ok_or(AppError::InvalidTicket)?;
    Ok(Holder {
        user: row.user,
        session_id: holder.session_id,
    })
}

/// `GET /v1/realtime/me?ticket=…`: the caller's own event channel.
pub async fn me(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let holder = redeem_ticket(req, ctx).await?;
    let user_id = holder.user.id.clone();
    let socket_id =
        sockets::open(ctx, &user_id, &SocketHolder::Channel(user_id.to_string())).await?;
    let resp = connect_channel(ctx, &holder, &socket_id).await;
    if !matches!(&resp, Ok(r) if r.status_code() == 101) {
        sockets::release(&ctx.env, &socket_id).await;
    }
    resp
}

async fn connect_channel(
    ctx: &Ctx,
    holder: &Holder,
    socket_id: &str,
) -> Result<Response, AppError> {
    user_channel::Client::for_user(&ctx.env, &holder.user.id)?
        .connect(&holder.session_id, socket_id)
        .await
}
