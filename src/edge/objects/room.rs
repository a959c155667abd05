//! `Room`: one object per stream, the chat room. WebSockets use the hibernation API, so an
//! idle room costs nothing; each connection's identity and flood state live in its
//! attachment. Rules are `core::realtime::room::apply`; this shell performs its effects.
//!
//! Ordering: the object handles one event at a time and broadcasts synchronously, so every
//! connection receives the room's messages in the same order.

mod storage;

use crate::core::bindings;
use crate::core::error::AppError;
use crate::core::realtime::{
    apply, apply_binary, may_post, Effect, Event, Participant, Person, RoomPolicy, RoomView,
};
use crate::edge::objects::rpc::{self, Call, Done, Stub};
use crate::edge::objects::user_channel::CLOSE_SESSION_REVOKED;
use crate::edge::rand;
use crate::edge::sockets::{self, AliveReq, AliveResp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use storage::Storage;
use wasm_bindgen::JsCast;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A `WebSocket`, for `send` with a string already in JavaScript: `worker`'s
    /// `send_with_str` decodes the Rust string into a new one on every call, which a broadcast
    /// paid once per socket of the room (the largest share of a chat frame's CPU).
    #[wasm_bindgen(js_name = WebSocket)]
    type Socket;

    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_text(
        this: &Socket,
        text: &js_sys::JsString,
    ) -> std::result::Result<(), wasm_bindgen::JsValue>;
}

const PARTICIPANT_HEADER: &str = "x-edgeward-participant";
const ENDED_HEADER: &str = "x-edgeward-stream-ended";
const CONNECT_PATH: &str = "/connect";

/// Revoked sessions are remembered this long (their tickets and tokens die much sooner).
const REVOKED_MEMORY_MS: i64 = 86_400_000;

/// Broadcasts an event in the room.
#[derive(Serialize, Deserialize)]
pub struct Publish {
    pub event: Event,
    /// The stream ended: the room takes no more messages.
    #[serde(default)]
    pub ended: bool,
    /// The author of words the event carries (a tip's message): dropped if they may not post.
    #[serde(default)]
    pub author_id: Option<String>,
}

impl Call for Publish {
    const PATH: &'static str = "/publish";
    type Reply = Done;
}

/// May this user's words appear in the room now (not muted, not removed)?
#[derive(Serialize, Deserialize)]
pub struct MayPost {
    pub user_id: String,
}

#[derive(Serialize, Deserialize)]
pub struct MayPostReply {
    pub may_post: bool,
}

impl Call for MayPost {
    const PATH: &'static str = "/may-post";
    type Reply = MayPostReply;
}

/// A purged account: its messages stay under `pseudonym`, without its name.
#[derive(Serialize, Deserialize)]
pub struct Forget {
    pub user_id: String,
    pub pseudonym: String,
}

impl Call for Forget {
    const PATH: &'static str = "/forget";
    type Reply = Done;
}

/// A revoked session: its sockets here close, and it may not join again.
#[derive(Serialize, Deserialize)]
pub struct Kick {
    pub session_id: String,
}

impl Call for Kick {
    const PATH: &'static str = "/kick";
    type Reply = Done;
}

/// The worker's handle on one stream's room.
pub struct Client {
    stub: Stub,
}

impl Client {
    pub fn for_stream(env: &Env, stream_id: &str) -> std::result::Result<Self, AppError> {
        Ok(Self {
            stub: Stub::named(env, bindings::ROOM, stream_id)?,
        })
    }

    pub async fn publish(&self, p: &Publish) -> std::result::Result<(), AppError> {
        self.stub.call(p).await.map(|_| ())
    }

    pub async fn may_post(&self, user_id: &str) -> std::result::Result<bool, AppError> {
        let asked = MayPost {
            user_id: user_id.to_owned(),
        };
        Ok(self.stub.call(&asked).await?.may_post)
    }

    pub async fn forget(&self, f: &Forget) -> std::result::Result<(), AppError> {
        self.stub.call(f).await.map(|_| ())
    }

    pub async fn kick(&self, session_id: &str) -> std::result::Result<(), AppError> {
        let kick = Kick {
            session_id: session_id.to_owned(),
        };
        self.stub.call(&kick).await.map(|_| ())
    }

    pub async fn alive(&self, asked: &AliveReq) -> std::result::Result<AliveResp, AppError> {
        self.stub.call(asked).await
    }

    /// Opens a socket for `who`: the room's answer, a 101 carrying the socket, 403 (removed
    /// from the room) or 401 (a revoked session). `ended`: the stream is over (the room
    /// learns it here if its publish was lost).
    pub async fn join(
        &self,
        who: &Participant,
        ended: bool,
    ) -> std::result::Result<Response, AppError> {
        let participant =
            serde_json::to_string(who).map_err(|e| AppError::fault("objects.room.join", e))?;
        self.stub
            .upgrade(
                CONNECT_PATH,
                &[
                    (PARTICIPANT_HEADER, participant.as_str()),
                    (ENDED_HEADER, if ended { "1" } else { "0" }),
                ],
            )
            .await
    }
}

#[durable_object]
pub struct Room {
    state: State,
    env: Env,
}

fn user_tag(user_id: &str) -> String {
    format!("u:{user_id}")
}

fn session_tag(session_id: &str) -> String {
    format!("s:{session_id}")
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn person(who: &Participant) -> Person {
    Person {
        id: who.user_id.clone(),
        name: who.name.clone(),
    }
}

impl DurableObject for Room {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = Storage(state.storage().sql()).create() {
            worker::console_error!("room schema: {e}");
        }
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            CONNECT_PATH => self.join(&req),
            Publish::PATH => {
                let mut p: Publish = rpc::decode(&mut req).await?;
                if p.ended {
                    self.storage().set_ended()?;
                }
                if let Some(author) = &p.author_id {
                    // Checked here too, in the room's own order: a mute or removal that landed
                    // after the tip route asked (`MayPost`) still silences the message.
                    if !self.may_post(author)? {
                        if let Event::TipReceived { tip } = &mut p.event {
                            tip["message"] = Value::Null;
                        }
                    }
                }
                self.broadcast(&p.event, None);
                rpc::reply::<Publish>(&Done {})
            }
            MayPost::PATH => {
                let asked: MayPost = rpc::decode(&mut req).await?;
                let may_post = self.may_post(&asked.user_id)?;
                rpc::reply::<MayPost>(&MayPostReply { may_post })
            }
            Forget::PATH => {
                let f: Forget = rpc::decode(&mut req).await?;
                self.storage().forget_user(&f.user_id, &f.pseudonym)?;
                rpc::reply::<Forget>(&Done {})
            }
            Kick::PATH => {
                let k: Kick = rpc::decode(&mut req).await?;
                self.kick(&k.session_id)?;
                rpc::reply::<Kick>(&Done {})
            }
            AliveReq::PATH => {
                let asked: AliveReq = rpc::decode(&mut req).await?;
                let alive = self
                    .state
                    .get_websockets()
                    .iter()
                    .filter_map(|ws| ws.deserialize_attachment::<Participant>().ok().flatten())
                    .filter_map(|who| who.socket_id)
                    .filter(|id| asked.ids.contains(id))
                    .collect();
                rpc::reply::<AliveReq>(&AliveResp { alive })
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(mut who) = ws.deserialize_attachment::<Participant>()? else {
            return ws.close(Some(1011), Some("lost connection state"));
        };
        // One read for the frame's checks (`SENDER_STANDING`): the room pays it on every frame.
        let standing = self.storage().standing(&who.session_id, &who.user_id)?;
        // A revoked session's sockets were closed by the kick; any frame still arriving from
        // them is refused and closes them here, in their own event.
        if standing.revoked != 0 {
            return self.close_revoked(&ws, &who);
        }
        // A removed user's sockets were closed by the owner's event; closes issued from
        // another socket's event only go out when the room next hibernates, so any frame
        // still arriving from them closes them here, in their own event, at once.
        if standing.banned != 0 {
            return ws.close(
                Some(crate::core::realtime::room::CLOSE_REMOVED),
                Some("removed by the stream owner"),
            );
        }
        let now_ms = now_ms();
        let WebSocketIncomingMessage::String(text) = message else {
            // Binary frames are refused, but only after paying the flood allowance.
            let effects = apply_binary(&mut who, now_ms, &RoomPolicy::default());
            ws.serialize_attachment(&who)?;
            for effect in effects {
                self.perform(&ws, effect)?;
            }
            return Ok(());
        };
        let view = RoomView {
            ended: standing.ended != 0,
            sender_muted_until_ms: standing.muted_until_ms,
        };
        let id = rand::uuid().unwrap_or_default();
        let effects = apply(&mut who, view, &text, now_ms, &id, &RoomPolicy::default());
        ws.serialize_attachment(&who)?;
        for effect in effects {
            self.perform(&ws, effect)?;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        self.left(&ws);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.left(&ws);
        Ok(())
    }
}

impl Room {
    fn storage(&self) -> Storage {
        Storage(self.state.storage().sql())
    }

    fn join(&self, req: &Request) -> Result<Response> {
        let who: Participant = req
            .headers()
            .get(PARTICIPANT_HEADER)?
            .and_then(|h| serde_json::from_str(&h).ok())
            .ok_or_else(|| worker::Error::RustError("no participant".into()))?;
        let storage = self.storage();
        if req.headers().get(ENDED_HEADER)?.as_deref() == Some("1") {
            storage.set_ended()?;
        }
        if storage.is_banned(&who.user_id)? {
            return Response::error("removed from this room", 403);
        }
        if storage.is_revoked(&who.session_id)? {
            return Response::error("session revoked", 401);
        }
        let pair = WebSocketPair::new()?;
        let tags = [user_tag(&who.user_id), session_tag(&who.session_id)];
        self.state
            .accept_websocket_with_tags(&pair.server, &[tags[0].as_str(), tags[1].as_str()]);
        pair.server.serialize_attachment(&who)?;
        let messages = storage
            .history(RoomPolicy::default().history)?
            .iter()
            .map(|m| m.event())
            .collect();
        pair.server
            .send_with_str(Event::ChatHistory { messages }.to_json())?;
        let joined = Event::PresenceJoined { user: person(&who) };
        self.broadcast(&joined, Some(&pair.server));
        Response::from_websocket(pair.client)
    }

    /// Closes every socket of a revoked session (4001) and remembers the session, so that its
    /// frames and joins are refused from now on.
    fn kick(&self, session_id: &str) -> Result<()> {
        self.storage()
            .remember_revoked(session_id, now_ms(), REVOKED_MEMORY_MS)?;
        let victims: Vec<(WebSocket, Participant)> = self
            .state
            .get_websockets_with_tag(&session_tag(session_id))
            .into_iter()
            .filter_map(|ws| {
                let who = ws.deserialize_attachment::<Participant>().ok()??;
                Some((ws, who))
            })
            .collect();
        for (ws, who) in &victims {
            let revoked = Event::SessionRevoked {
                session_id: who.session_id.clone(),
            };
            let _ = ws.send_with_str(revoked.to_json());
            self.close_revoked(ws, who)?;
        }
        Ok(())
    }

    fn close_revoked(&self, ws: &WebSocket, who: &Participant) -> Result<()> {
        let _ = ws.serialize_attachment(Value::Null);
        let _ = ws.close(Some(CLOSE_SESSION_REVOKED), Some("session revoked"));
        self.broadcast(&Event::PresenceLeft { user: person(who) }, Some(ws));
        if let Some(socket_id) = who.socket_id.clone() {
            sockets::release_later(&self.env, socket_id);
        }
        Ok(())
    }

    fn may_post(&self, user_id: &str) -> Result<bool> {
        let storage = self.storage();
        Ok(may_post(
            storage.is_banned(user_id)?,
            storage.muted_until(user_id)?,
            now_ms(),
        ))
    }

    /// To every open connection but `except`. A failing socket does not stop the others. The
    /// text becomes a JavaScript string once, not once per socket (`send_text`).
    fn broadcast(&self, event: &Event, except: Option<&WebSocket>) {
        let text = js_sys::JsString::from(event.to_json());
        for ws in self.state.get_websockets() {
            if except.is_some_and(|e| e == &ws) {
                continue;
            }
            let socket: &worker::web_sys::WebSocket = ws.as_ref();
            let _ = socket.unchecked_ref::<Socket>().send_text(&text);
        }
    }

    fn perform(&self, ws: &WebSocket, effect: Effect) -> Result<()> {
        let policy = RoomPolicy::default();
        match effect {
            Effect::Broadcast(ev) => self.broadcast(&ev, None),
            Effect::Reply(ev) => ws.send_with_str(ev.to_json())?,
            Effect::Store(m) => self.storage().store(m, policy.history)?,
            Effect::Mute { user_id, until_ms } => self.storage().mute(&user_id, until_ms)?,
            Effect::Unmute { user_id } => self.storage().unmute(&user_id)?,
            Effect::Remove { user_id } => {
                self.storage().ban(&user_id)?;
                for victim in self.state.get_websockets_with_tag(&user_tag(&user_id)) {
                    let _ = victim.close(
                        Some(crate::core::realtime::room::CLOSE_REMOVED),
                        Some("removed by the stream owner"),
                    );
                }
            }
            Effect::Close { code, reason } => {
                ws.close(Some(code), Some(reason))?;
                self.left(ws);
            }
        }
        Ok(())
    }

    fn left(&self, ws: &WebSocket) {
        if let Ok(Some(who)) = ws.deserialize_attachment::<Participant>() {
            let _ = ws.serialize_attachment(Value::Null);
            self.broadcast(&Event::PresenceLeft { user: person(&who) }, Some(ws));
            if let Some(socket_id) = who.socket_id {
                // Its slot under the per-user socket cap; a release lost here is found again
                // by `AliveReq` when the user is next at the cap.
                sockets::release_later(&self.env, socket_id);
            }
        }
        let _ = ws.close(Some(1000), Some("bye"));
    }
}
