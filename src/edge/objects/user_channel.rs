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

mod storage;

use crate::core::bindings;
use crate::core::error::AppError;
use crate::core::realtime::Event;
use crate::edge::objects::room;
use crate::edge::objects::rpc::{self, Call, Done, Stub};
use crate::edge::sockets::{AliveReq, AliveResp, SOCKET_HEADER};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use storage::Storage;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket, WebSocketPair,
    WebsocketEvent,
};

const SESSION_HEADER: &str = "x-edgeward-session";
const CONNECT_PATH: &str = "/connect";
/// Close code for the socket of a revoked session.
pub const CLOSE_SESSION_REVOKED: u16 = 4001;

/// Pushes an event to the user's sockets.
#[derive(Serialize, Deserialize)]
pub struct Publish {
    pub event: Event,
    /// Deliver only to this session's sockets, then close them (a revoked session).
    pub close_session: Option<String>,
}

impl Call for Publish {
    const PATH: &'static str = "/publish";
    type Reply = Done;
}

/// The user joined a stream's chat room (remembered for revocations).
#[derive(Serialize, Deserialize)]
pub struct Joined {
    pub stream_id: String,
}

impl Call for Joined {
    const PATH: &'static str = "/rooms";
    type Reply = Done;
}

/// A purged account: the rooms it joined are no one's business any more.
#[derive(Serialize, Deserialize)]
pub struct Forget {}

impl Call for Forget {
    const PATH: &'static str = "/forget";
    type Reply = Done;
}

/// The worker's handle on one user's channel.
pub struct Client {
    stub: Stub,
}

impl Client {
    pub fn for_user(env: &Env, user_id: &str) -> std::result::Result<Self, AppError> {
        Ok(Self {
            stub: Stub::named(env, bindings::USER_CHANNEL, user_id)?,
        })
    }

    pub async fn publish(&self, p: &Publish) -> std::result::Result<(), AppError> {
        self.stub.call(p).await.map(|_| ())
    }

    pub async fn joined(&self, stream_id: &str) -> std::result::Result<(), AppError> {
        let joined = Joined {
            stream_id: stream_id.to_owned(),
        };
        self.stub.call(&joined).await.map(|_| ())
    }

    pub async fn forget(&self) -> std::result::Result<(), AppError> {
        self.stub.call(&Forget {}).await.map(|_| ())
    }

    pub async fn alive(&self, asked: &AliveReq) -> std::result::Result<AliveResp, AppError> {
        self.stub.call(asked).await
    }

    /// Opens a socket of `session_id` holding the slot `socket_id`: the object's 101 (or its
    /// refusal).
    pub async fn connect(
        &self,
        session_id: &str,
        socket_id: &str,
    ) -> std::result::Result<Response, AppError> {
        self.stub
            .upgrade(
                CONNECT_PATH,
                &[(SESSION_HEADER, session_id), (SOCKET_HEADER, socket_id)],
            )
            .await
    }
}

type Sockets = Rc<RefCell<Vec<(u64, String, WebSocket)>>>;
/// (local id, the socket's slot under the per-user socket cap) of the open sockets.
type Slots = Rc<RefCell<Vec<(u64, String)>>>;

/// Rooms remembered per user: the most recent ones, for as long as a session may live.
const MAX_ROOMS: i64 = 100;

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
        if let Err(e) = Storage(state.storage().sql()).create() {
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
            CONNECT_PATH => {
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
            Publish::PATH => {
                let p: Publish = rpc::decode(&mut req).await?;
                let text = p.event.to_json();
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
                rpc::reply::<Publish>(&Done {})
            }
            Forget::PATH => {
                let _: Forget = rpc::decode(&mut req).await?;
                self.storage().forget_all()?;
                rpc::reply::<Forget>(&Done {})
            }
            Joined::PATH => {
                let j: Joined = rpc::decode(&mut req).await?;
                let now_ms = worker::Date::now().as_millis() as i64;
                self.storage().joined(&j.stream_id, now_ms, MAX_ROOMS)?;
                rpc::reply::<Joined>(&Done {})
            }
            AliveReq::PATH => {
                let asked: AliveReq = rpc::decode(&mut req).await?;
                let alive = self
                    .slots
                    .borrow()
                    .iter()
                    .map(|(_, slot)| slot.clone())
                    .filter(|slot| asked.ids.contains(slot))
                    .collect();
                rpc::reply::<AliveReq>(&AliveResp { alive })
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl UserChannel {
    fn storage(&self) -> Storage {
        Storage(self.state.storage().sql())
    }

    /// Tells every room the user joined to close the revoked session's sockets, in parallel.
    async fn kick_from_rooms(&self, session_id: &str) {
        let rooms = match self.storage().rooms() {
            Ok(rooms) => rooms,
            Err(e) => {
                worker::console_error!("user-channel rooms: {e}");
                return;
            }
        };
        let kicks = rooms.iter().map(|stream_id| async move {
            room::Client::for_stream(&self.env, stream_id)?
                .kick(session_id)
                .await
        });
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
                        let _ = ws.send_with_str(Event::Pong.to_json());
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
