//! Credits: balance and history, grants, and tips between viewers and stream owners.

use super::streams::{found, page_params};
use crate::core::admin::{Need, Scope};
use crate::core::audit::Event;
use crate::core::config::Limit;
use crate::core::credits::{fingerprint, Amount, IdempotencyKey, Tip, TipRequest};
use crate::core::error::{AppError, Faulty};
use crate::core::realtime::{payload, Event as RealtimeEvent};
use crate::core::streams::decide_tip;
use crate::edge::auth::{admin, authenticate};
use crate::edge::ctx::Ctx;
use crate::edge::d1::{
    self, audit,
    credits::{Idem, Moved, Movement},
};
use crate::edge::http::{bad_cursor, json, page, read_json};
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use crate::edge::realtime;
use serde_json::{json, Value};
use worker::{Request, Response};

fn key_header(req: &Request) -> Option<String> {
    req.headers().get("idempotency-key").ok().flatten()
}

fn mismatch() -> AppError {
    AppError::Unprocessable {
        code: "idempotency_key_mismatch",
        detail: "this Idempotency-Key was used with another request body".into(),
    }
}

fn replay(r: d1::credits::Remembered, fp: &str) -> Result<Response, AppError> {
    if r.fingerprint != fp {
        return Err(mismatch());
    }
    let body: Value = serde_json::from_str(&r.body).fault("routes.credits.replay")?;
    let mut resp = json(r.status as u16, &body)?;
    let _ = resp.headers_mut().set("idempotent-replayed", "true");
    Ok(resp)
}

/// Runs one credit movement exactly once per (user, scope, key): a remembered key answers its
/// first response; a key taken by a concurrent request answers that one's; the movement
/// itself is one batch (`d1::credits::apply`).
async fn once(
    ctx: &Ctx,
    idem: &Idem<'_>,
    movement: &Movement<'_>,
) -> Result<(Response, bool), AppError> {
    let (user_id, scope, key, fp) = (idem.user_id, idem.scope, idem.key, idem.fingerprint);
    let db = ctx.db()?;
    if let Some(r) = d1::credits::recall(&db, user_id, scope, key).await? {
        return Ok((replay(r, fp)?, false));
    }
    match d1::credits::apply(&db, movement, idem, ctx.now).await? {
        Moved::Done(status, body) => Ok((json(status, &body)?, true)),
        Moved::InsufficientCredits => Err(AppError::InsufficientCredits),
        Moved::KeyTaken => {
            let r = d1::credits::recall(&db, user_id, scope, key)
                .await?
                .ok_or_else(|| {
                    AppError::fault("routes.credits.once", "idempotency key vanished")
                })?;
            Ok((replay(r, fp)?, false))
        }
    }
}

pub async fn get(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let p = page(req, 50)?;
    let cursor = p
        .cursor
        .map(|c| {
            c.strip_prefix('c')
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(bad_cursor)
        })
        .transpose()?;
    let limit = p.limit;
    let db = ctx.reads()?;
    let balance = d1::credits::balance(&db, &authed.user.id).await?;
    let (entries, next) = d1::credits::entries(&db, &authed.user.id, cursor, limit).await?;
    json(
        200,
        &json!({"balance": balance, "entries": entries, "next_cursor": next.map(|n| format!("c{n}"))}),
    )
}

/// Grants credits to `user_id` (development self-grant, or an admin grant).
pub async fn grant(
    ctx: &Ctx,
    req: &Request,
    user_id: &str,
    body: &Value,
) -> Result<Response, AppError> {
    let amount = Amount::parse(body.get("amount").unwrap_or(&Value::Null))?;
    let key = match key_header(req) {
        Some(k) => IdempotencyKey::parse(Some(&k))?.as_str().to_owned(),
        None => rand::uuid()?,
    };
    let fp = fingerprint(
        "grant",
        &json!({"user_id": user_id, "amount": amount.get()}),
    );
    let response = json!({"granted": amount.get(), "balance": null});
    let idem = Idem {
        user_id,
        scope: "grant",
        key: &key,
        fingerprint: &fp,
        status: 201,
        body: &response,
    };
    let movement = Movement::Grant {
        user_id,
        amount: amount.get(),
    };
    Ok(once(ctx, &idem, &movement).await?.0)
}

/// `POST /v1/dev/credits` (development only): grants to the caller.
pub async fn dev_grant(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    if !ctx.cfg.is_development() {
        return Err(AppError::NotFound);
    }
    let authed = authenticate(req, ctx).await?;
    let body: Value = read_json(req).await?;
    if body
        .as_object()
        .is_none_or(|o| o.keys().any(|k| k != "amount"))
    {
        return Err(AppError::InvalidRequest(
            "the body is {\"amount\": <int>}".into(),
        ));
    }
    grant(ctx, req, &authed.user.id, &body).await
}

/// `POST /v1/admin/credits` `{user_id, amount}`: an administrator grants credits to a user.
pub async fn admin_grant(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let principal = admin(req, ctx, Need::Scope(Scope::CreditsGrant)).await?;
    let body: Value = read_json(req).await?;
    let obj = body
        .as_object()
        .filter(|o| o.keys().all(|k| k == "user_id" || k == "amount"))
        .ok_or_else(|| {
            AppError::InvalidRequest("the body is {\"user_id\": <uuid>, \"amount\": <int>}".into())
        })?;
    let user_id = obj
        .get("user_id")
        .and_then(Value::as_str)
        .map(crate::core::domain::UserId::parse)
        .transpose()?
        .ok_or_else(|| AppError::InvalidRequest("user_id is required".into()))?
        .to_string();
    if d1::users::by_id(&ctx.db()?, &user_id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let resp = grant(
        ctx,
        req,
        &user_id,
        &json!({"amount": obj.get("amount").cloned().unwrap_or(Value::Null)}),
    )
    .await?;
    // A replayed grant moved nothing: only the first is in the grantee's log.
    if !resp.headers().has("idempotent-replayed").unwrap_or(false) {
        let actor = principal.actor();
        audit::record_by(ctx, &user_id, Event::CreditsGranted, None, Some(&actor)).await;
    }
    Ok(resp)
}

/// `POST /v1/streams/{id}/tips`: viewer → owner, atomically and exactly once per key.
pub async fn tip(req: &mut Request, ctx: &Ctx, stream_id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let me = &authed.user.id;
    enforce(ctx, Limit::TipUser, Key::User(me)).await?;
    let key = IdempotencyKey::parse(key_header(req).as_deref())?;
    let body: Value = read_json(req).await?;
    let ask = TipRequest::parse(&body)?;
    let fp = fingerprint("tip", &json!({"stream_id": stream_id, "body": body}));
    let db = ctx.db()?;
    // A replay answers before anything else is looked at (the stream may have ended since).
    if let Some(r) = d1::credits::recall(&db, me, "tip", key.as_str()).await? {
        return replay(r, &fp);
    }
    let stream = found(ctx, stream_id).await?;
    // A message goes into the room: the room says whether the tipper may post there.
    let may_post = match ask.message {
        Some(_) => realtime::may_post(&ctx.env, &stream.id, me).await?,
        None => true,
    };
    decide_tip(&stream, me, ask.message.is_some(), may_post).into_result()?;
    let tip = Tip {
        id: rand::uuid()?,
        stream_id: stream.id.to_string(),
        from_user_id: me.to_string(),
        to_user_id: stream.owner_id.to_string(),
        amount: ask.amount.get(),
        message: ask.message,
        created_at: crate::core::api::rfc3339(ctx.now),
    };
    let idem = Idem {
        user_id: me,
        scope: "tip",
        key: key.as_str(),
        fingerprint: &fp,
        status: 201,
        body: &json!({"tip": tip, "balance": null}),
    };
    let (resp, fresh) = once(ctx, &idem, &Movement::Tip(&tip)).await?;
    if fresh {
        let event = RealtimeEvent::TipReceived { tip: payload(&tip) };
        realtime::to_room(
            &ctx.env,
            &tip.stream_id,
            event.clone(),
            false,
            Some(&tip.from_user_id),
        )
        .await;
        realtime::to_user(&ctx.env, &tip.to_user_id, event, None).await;
    }
    Ok(resp)
}

pub async fn list_tips(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let url = req.url().fault("routes.credits.list_tips")?;
    let received = match url
        .query_pairs()
        .find(|(k, _)| k == "direction")
        .map(|(_, v)| v.into_owned())
    {
        None => false,
        Some(d) if d == "sent" => false,
        Some(d) if d == "received" => true,
        Some(_) => {
            return Err(AppError::InvalidRequest(
                "direction is sent or received".into(),
            ))
        }
    };
    let (limit, cursor) = page_params(req)?;
    let (tips, next) =
        d1::credits::list_tips(&ctx.reads()?, &authed.user.id, received, cursor, limit).await?;
    json(
        200,
        &json!({"tips": tips, "next_cursor": next.map(super::streams::encode_cursor)}),
    )
}
