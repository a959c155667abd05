//! `UserChannel`: one object per user, pushing events to all of the user's connected devices.
//! Publishers call `edge::realtime`.
//!
//! Unlike chat rooms these sockets do not use the hibernation API: revoking a session must
//! close its socket at once, and a hibernatable socket closed from another event's handler
//! (here: the publish request) only sends its close frame when the object next hibernates
//! (seen under workerd 2026-11-17: 10-20 s later). A user has a handful of devices, so keeping
//! the object in memory while they are connected is the cheaper trade.
//!
//! It also remembers which chat rooms the user joined (`rooms`), so that revoking a session
//! reaches that session's chat sockets too: the publish that closes the session's sockets here
//! tells each of those rooms to close theirs (`Room` `/kick`).

use crate::edge::sockets::{AliveReq, AliveResp, SOCKET_HEADER};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket, WebSocketPair,
    WebsocketEvent,
};

pub const SESSION_HEADER: &str = "x-edgeward-session";
/// Close code for the socket of a revoked session.
pub const CLOSE_SESSION_REVOKED: u16 = 4001;

#[derive(Serialize, Deserialize)]
pub struct Publish {
    pub event: Value,
    /// Deliver only to this session's sockets, then close them (a revoked session).
    pub close_session: Option<String>,
}

type Sockets = Rc<RefCell<Vec<(u64, String, WebSocket)>>>;
/// (local id, the socket's slot under the per-user socket cap) of the open sockets.
type Slots = Rc<RefCell<Vec<(u64, String)>>>;

/// Rooms remembered per user: the most recent ones, for as long as a session may live.
const MAX_ROOMS: i64 = 100;

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS rooms (stream_id TEXT PRIMARY KEY, joined_at_ms INTEGER NOT NULL);";

#[derive(Serialize, Deserialize)]
pub struct Joined {
    pub stream_id: String,
}

#[durable_object(fetch)]
pub struct UserChannel {
    state: State,
    env: Env,
    sockets: Sockets,
    next_id: RefCell<u64>,
    slots: Slots,
}

impl DurableObject for UserChannel {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(SCHEMA, None) {
            worker::console_error!("user-channel schema: {e}");
        }
        Self {
            state,
            env,
            sockets: Rc::new(RefCell::new(Vec::new())),
            next_id: RefCell::new(0),
            slots: Rc::new(RefCell::new(Vec::new())),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/connect" => {
                let session = req
                    .headers()
                    .get(SESSION_HEADER)?
                    .ok_or_else(|| worker::Error::RustError("no session".into()))?;
                let slot = req
                    .headers()
                    .get(SOCKET_HEADER)?
                    .ok_or_else(|| worker::Error::RustError("no socket slot".into()))?;
                let pair = WebSocketPair::new()?;
                pair.server.accept()?;
                let id = {
                    let mut n = self.next_id.borrow_mut();
                    *n += 1;
                    *n
                };
                self.sockets
                    .borrow_mut()
                    .push((id, session, pair.server.clone()));
                self.slots.borrow_mut().push((id, slot));
                let slots = (self.slots.clone(), self.env.clone());
                serve(id, pair.server, self.sockets.clone(), slots);
                Response::from_websocket(pair.client)
            }
            "/publish" => {
                let p: Publish = req.json().await?;
                let text = p.event.to_string();
                let sockets = self.sockets.borrow().clone();
                let targets = sockets
                    .iter()
                    .filter(|(_, s, _)| p.close_session.as_ref().is_none_or(|c| c == s));
                for (_, _, ws) in targets.clone() {
                    let _ = ws.send_with_str(&text);
                }
                if let Some(session) = &p.close_session {
                    for (_, _, ws) in targets {
                        let _ = ws.close(Some(CLOSE_SESSION_REVOKED), Some("session revoked"));
                    }
                    self.sockets.borrow_mut().retain(|(_, s, _)| s != session);
                    self.kick_from_rooms(session).await;
                }
                Response::ok("{}")
            }
            // A purged account: the rooms it joined are no one's business any more.
            "/forget" => {
                self.state.storage().sql().exec("DELETE FROM rooms", None)?;
                Response::ok("{}")
            }
            "/rooms" => {
                let j: Joined = req.json().await?;
                let sql = self.state.storage().sql();
                sql.exec(
                    "INSERT INTO rooms (stream_id, joined_at_ms) VALUES (?, ?) \
                     ON CONFLICT (stream_id) DO UPDATE SET joined_at_ms = excluded.joined_at_ms",
                    vec![
                        j.stream_id.as_str().into(),
                        (worker::Date::now().as_millis() as i64).into(),
                    ],
                )?;
                sql.exec(
                    "DELETE FROM rooms WHERE stream_id NOT IN \
                     (SELECT stream_id FROM rooms ORDER BY joined_at_ms DESC LIMIT ?)",
                    vec![MAX_ROOMS.into()],
                )?;
                Response::ok("{}")
            }
            "/alive" => {
                let asked: AliveReq = req.json().await?;
                let alive = self
                    .slots
                    .borrow()
                    .iter()
                    .map(|(_, slot)| slot.clone())
                    .filter(|slot| asked.ids.contains(slot))
                    .collect();
                Response::from_json(&AliveResp { alive })
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl UserChannel {
    /// Tells every room the user joined to close the revoked session's sockets, in parallel.
    async fn kick_from_rooms(&self, session_id: &str) {
        #[derive(Deserialize)]
        struct Room {
            stream_id: String,
        }
        let rooms: Vec<Room> = self
            .state
            .storage()
            .sql()
            .exec("SELECT stream_id FROM rooms", None)
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        let body = json!({ "session_id": session_id });
        let kicks = rooms
            .iter()
            .map(|r| crate::edge::realtime::call_room(&self.env, &r.stream_id, "kick", &body));
        for result in futures_util::future::join_all(kicks).await {
            if let Err(e) = result {
                worker::console_error!("user-channel kick: {e}");
            }
        }
    }
}

/// Reads one socket until it closes: answers pings, forgets the socket at the end and frees its
/// slot under the per-user socket cap.
fn serve(id: u64, ws: WebSocket, sockets: Sockets, (slots, env): (Slots, Env)) {
    worker::wasm_bindgen_futures::spawn_local(async move {
        let Ok(mut events) = ws.events() else { return };
        while let Some(event) = events.next().await {
            match event {
                Ok(WebsocketEvent::Message(m)) => {
                    let ping = m
                        .text()
                        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                        .is_some_and(|v| v["type"] == "ping");
                    if ping {
                        let _ = ws.send_with_str(json!({"type": "pong"}).to_string());
                    }
                }
                Ok(WebsocketEvent::Close(_)) | Err(_) => break,
            }
        }
        sockets.borrow_mut().retain(|(i, _, _)| *i != id);
        let slot = {
            let mut slots = slots.borrow_mut();
            let at = slots.iter().position(|(i, _)| *i == id);
            at.map(|at| slots.remove(at).1)
        };
        if let Some(slot) = slot {
            crate::edge::sockets::release(&env, &slot).await;
        }
    });
}
