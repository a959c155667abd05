//! The per-user cap on open WebSockets (`core::caps`). A socket takes a row in `open_sockets`
//! before its handshake, in one conditional statement (so parallel handshakes cannot overshoot
//! the cap), and the object holding it (`Room`, `UserChannel`) deletes the row when it closes.
//! A socket can vanish without a close event (an object reset): when a user is at the cap, the
//! holders of their rows are asked which sockets they still have, and the other rows go.

use crate::core::bindings;
use crate::core::caps::{vanished, Cap, SocketHolder};
use crate::core::error::AppError;
use crate::edge::ctx::Ctx;
use crate::edge::d1;
use crate::edge::objects::rpc::Call;
use crate::edge::objects::{room, user_channel};
use crate::edge::rand;
use serde::{Deserialize, Serialize};
use worker::Env;

/// Header carrying the socket's id to the holding object.
pub const SOCKET_HEADER: &str = "x-edgeward-socket";

/// Which of these sockets does the holder (a `Room`, a `UserChannel`) still have open?
#[derive(Serialize, Deserialize)]
pub struct AliveReq {
    pub ids: Vec<String>,
}

impl Call for AliveReq {
    const PATH: &'static str = "/alive";
    type Reply = AliveResp;
}

#[derive(Serialize, Deserialize)]
pub struct AliveResp {
    pub alive: Vec<String>,
}

/// A slot for one more socket of `user_id` in `holder`: its id, or 429 at the cap.
pub async fn open(ctx: &Ctx, user_id: &str, holder: &SocketHolder) -> Result<String, AppError> {
    let db = ctx.db()?;
    let id = rand::uuid()?;
    let cap = ctx.cfg.caps.sockets;
    let name = holder.name();
    if d1::sockets::open(&db, &id, user_id, &name, ctx.now, cap).await? {
        return Ok(id);
    }
    if forget_vanished(ctx, user_id).await? == 0 {
        return Err(Cap::Sockets.refused());
    }
    if d1::sockets::open(&db, &id, user_id, &name, ctx.now, cap).await? {
        Ok(id)
    } else {
        Err(Cap::Sockets.refused())
    }
}

/// The socket closed (or never opened): its slot is free.
pub async fn release(env: &Env, id: &str) {
    let result = match env.d1(bindings::DB) {
        Ok(db) => d1::sockets::close(&db, id).await,
        Err(e) => Err(AppError::fault("sockets.release", e)),
    };
    if let Err(e) = result {
        worker::console_error!(
            "{}",
            serde_json::json!({"level": "error", "msg": "socket slot not released", "socket": id, "error": e.log_json()})
        );
    }
}

/// `release`, without waiting (from an object's synchronous code).
pub fn release_later(env: &Env, id: String) {
    let env = env.clone();
    worker::wasm_bindgen_futures::spawn_local(async move { release(&env, &id).await });
}

/// Drops the rows of `user_id` whose holder no longer has their socket; how many went. A
/// holder that cannot be asked keeps its rows.
async fn forget_vanished(ctx: &Ctx, user_id: &str) -> Result<usize, AppError> {
    let db = ctx.db()?;
    let rows: Vec<(String, String)> = d1::sockets::of_user(&db, user_id)
        .await?
        .into_iter()
        .map(|r| (r.id, r.holder))
        .collect();
    let mut holders: Vec<&str> = rows.iter().map(|(_, h)| h.as_str()).collect();
    holders.sort_unstable();
    holders.dedup();
    let mut dropped = 0;
    for name in holders {
        let ids: Vec<String> = rows
            .iter()
            .filter(|(_, h)| h == name)
            .map(|(id, _)| id.clone())
            .collect();
        let Some(alive) = ask_alive(&ctx.env, name, ids).await else {
            continue;
        };
        for id in vanished(&rows, name, &alive) {
            d1::sockets::close(&db, id).await?;
            dropped += 1;
        }
    }
    Ok(dropped)
}

async fn ask_alive(env: &Env, holder: &str, ids: Vec<String>) -> Option<Vec<String>> {
    let asked = AliveReq { ids };
    let answer = match SocketHolder::parse(holder)? {
        SocketHolder::Room(id) => match room::Client::for_stream(env, &id) {
            Ok(room) => room.alive(&asked).await,
            Err(e) => Err(e),
        },
        SocketHolder::Channel(id) => match user_channel::Client::for_user(env, &id) {
            Ok(channel) => channel.alive(&asked).await,
            Err(e) => Err(e),
        },
    };
    answer.ok().map(|r| r.alive)
}
