//! Live streams and their chat rooms.

use crate::core::caps::{Cap, SocketHolder};
use crate::core::config::Limit;
use crate::core::domain::StreamId;
use crate::core::error::AppError;
use crate::core::realtime::{payload, Event, Participant};
use crate::core::streams::{self, Stream};
use crate::edge::auth::authenticate;
use crate::edge::ctx::Ctx;
use crate::edge::d1;
use crate::edge::http::{bad_cursor, json, page, read_json};
use crate::edge::objects::room;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::realtime;
use crate::edge::routes::realtime::{redeem_ticket, Holder};
use crate::edge::sockets;
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    title: String,
    #[serde(default)]
    description: Option<String>,
}

pub async fn create(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::StreamUser, Key::User(&authed.user.id)).await?;
    let body: CreateBody = read_json(req).await?;
    let title = streams::title(&body.title)?;
    let description = body
        .description
        .as_deref()
        .map(streams::description)
        .transpose()?
        .flatten();
    let row = d1::streams::insert(
        &ctx.db()?,
        &d1::streams::NewStream {
            id: &rand::uuid()?,
            owner: &authed.user.id,
            title: &title,
            description: description.as_deref(),
            now: ctx.now,
            cap: ctx.cfg.caps.live_streams,
        },
    )
    .await?
    .ok_or_else(|| Cap::LiveStreams.refused())?;
    json(201, &row.view())
}

/// Cursors of lists in insertion order: `p<position>`.
pub fn encode_cursor(position: i64) -> String {
    format!("p{position}")
}

fn decode_cursor(c: &str) -> Result<i64, AppError> {
    c.strip_prefix('p')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(bad_cursor)
}

pub fn page_params(req: &Request) -> Result<(i64, Option<i64>), AppError> {
    let p = page(req, 20)?;
    Ok((p.limit, p.cursor.as_deref().map(decode_cursor).transpose()?))
}

pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    authenticate(req, ctx).await?;
    let (limit, cursor) = page_params(req)?;
    let rows = d1::streams::list_live(&ctx.reads()?, cursor, limit + 1).await?;
    let (rows, next) = d1::split_page(rows, limit, |(seq, _)| *seq);
    let next = next.map(encode_cursor);
    let streams: Vec<_> = rows.iter().map(|(_, s)| s.view()).collect();
    json(200, &json!({ "streams": streams, "next_cursor": next }))
}

pub async fn found(ctx: &Ctx, id: &str) -> Result<Stream, AppError> {
    let id = StreamId::parse(id).map_err(|_| AppError::NotFound)?;
    d1::streams::by_id(&ctx.reads()?, &id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    authenticate(req, ctx).await?;
    json(200, &found(ctx, id).await?.view())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn patch(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::StreamUser, Key::User(&authed.user.id)).await?;
    let body: PatchBody = read_json(req).await?;
    let stream = found(ctx, id).await?;
    stream.require_owner(&authed.user.id)?;
    let title = body.title.as_deref().map(streams::title).transpose()?;
    let description = match body.description {
        None => None,
        Some(None) => Some(None),
        Some(Some(d)) => Some(streams::description(&d)?),
    };
    let row = d1::streams::update(
        &ctx.db()?,
        &stream.id,
        &authed.user.id,
        title.as_deref(),
        description.as_ref().map(|d| d.as_deref()),
        ctx.now,
    )
    .await?
    .ok_or_else(streams::owner_only)?;
    realtime::to_room(
        &ctx.env,
        &row.id,
        Event::StreamUpdated {
            stream: payload(&row.view()),
        },
        false,
        None,
    )
    .await;
    json(200, &row.view())
}

/// Ends the stream: the room takes no more messages and its clients are told.
pub async fn end(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    enforce(ctx, Limit::StreamUser, Key::User(&authed.user.id)).await?;
    let stream = found(ctx, id).await?;
    stream.require_owner(&authed.user.id)?;
    let row = d1::streams::end(&ctx.db()?, &stream.id, &authed.user.id, ctx.now)
        .await?
        .ok_or_else(streams::owner_only)?;
    realtime::to_room(
        &ctx.env,
        &row.id,
        Event::StreamEnded {
            stream: payload(&row.view()),
        },
        true,
        None,
    )
    .await;
    json(200, &row.view())
}

/// `GET /v1/streams/{id}/chat?ticket=…`: Origin, ticket and stream are checked before the
/// handshake; the room accepts the socket before the 101 goes out, so the client receives
/// every event published after that.
pub async fn chat(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let holder = redeem_ticket(req, ctx).await?;
    let stream = found(ctx, id).await?;
    let socket_id = sockets::open(
        ctx,
        &holder.user.id,
        &SocketHolder::Room(stream.id.to_string()),
    )
    .await?;
    let resp = join_room(ctx, holder, &stream, &socket_id).await;
    if !matches!(&resp, Ok(r) if r.status_code() == 101) {
        sockets::release(&ctx.env, &socket_id).await;
    }
    resp
}

async fn join_room(
    ctx: &Ctx,
    holder: Holder,
    stream: &Stream,
    socket_id: &str,
) -> Result<Response, AppError> {
    let who = Participant {
        is_owner: stream.owner_id == holder.user.id,
        user_id: holder.user.id.to_string(),
        name: holder.user.name.clone(),
        session_id: holder.session_id,
        flood_tat_ms: None,
        strikes: 0,
        socket_id: Some(socket_id.to_owned()),
    };
    // Remembered so that a purge of the account can find the rooms it wrote in.
    d1::streams::remember_participant(&ctx.db()?, &holder.user.id, &stream.id, ctx.now).await?;
    // Remembered before the socket exists, so a revocation of this session from now on
    // reaches the room and closes it.
    realtime::joined_room(&ctx.env, &who.user_id, &stream.id).await?;
    let resp = room::Client::for_stream(&ctx.env, &stream.id)?
        .join(&who, !stream.is_live())
        .await?;
    match resp.status_code() {
        101 => Ok(resp),
        401 => Err(AppError::InvalidTicket),
        403 => Err(AppError::Forbidden(
            "you were removed from this room".into(),
        )),
        s => Err(AppError::fault(
            "routes.streams.join_room",
            format!("room answered {s}"),
        )),
    }
}
