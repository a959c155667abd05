//! `Room`: one object per stream, the chat room. WebSockets use the hibernation API, so an
//! idle room costs nothing; each connection's identity and flood state live in its
//! attachment. Rules are `core::realtime::room::apply`; this shell performs its effects.
//!
//! Ordering: the object handles one event at a time and broadcasts synchronously, so every
//! connection receives the room's messages in the same order.

use crate::core::realtime::{
    apply, apply_binary, may_post, ChatMessage, Effect, Participant, RoomPolicy, RoomView,
};
use crate::edge::objects::user_channel::CLOSE_SESSION_REVOKED;
use crate::edge::rand;
use crate::edge::sockets::{self, AliveReq, AliveResp};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

pub const PARTICIPANT_HEADER: &str = "x-edgeward-participant";
pub const ENDED_HEADER: &str = "x-edgeward-stream-ended";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    author_name TEXT,
    text TEXT NOT NULL,
    time_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS muted (user_id TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS banned (user_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (k INTEGER PRIMARY KEY CHECK (k = 1), ended INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_sessions (session_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
";

/// Revoked sessions are remembered this long (their tickets and tokens die much sooner).
const REVOKED_MEMORY_MS: i64 = 86_400_000;

#[durable_object]
pub struct Room {
    state: State,
    env: Env,
}

#[derive(Deserialize)]
struct MessageRow {
    id: String,
    author_id: String,
    author_name: Option<String>,
    text: String,
    time_ms: i64,
}

/// A purged account: its messages stay under `pseudonym`, without its name.
#[derive(Deserialize)]
pub struct Forget {
    pub user_id: String,
    pub pseudonym: String,
}

#[derive(Deserialize)]
struct Publish {
    event: Value,
    #[serde(default)]
    ended: bool,
    /// The author of words the event carries (a tip's message): dropped if they may not post.
    #[serde(default)]
    author_id: Option<String>,
}

#[derive(Deserialize)]
struct Kick {
    session_id: String,
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

impl DurableObject for Room {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(SCHEMA, None) {
            worker::console_error!("room schema: {e}");
        }
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/connect" => self.join(&req),
            "/publish" => {
                let mut p: Publish = req.json().await?;
                if p.ended {
                    self.set_ended()?;
                }
                if let Some(author) = &p.author_id {
                    // Checked here too, in the room's own order: a mute or removal that landed
                    // after the tip route asked (`/may-post`) still silences the message.
                    if !self.may_post(author)? {
                        if let Some(tip) = p.event.get_mut("tip") {
                            tip["message"] = Value::Null;
                        }
                    }
                }
                self.broadcast(&p.event, None);
                Response::ok("{}")
            }
            "/may-post" => {
                let user = req
                    .url()?
                    .query_pairs()
                    .find(|(k, _)| k == "user")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                Response::from_json(&json!({ "may_post": self.may_post(&user)? }))
            }
            "/forget" => {
                let f: Forget = req.json().await?;
                self.forget(&f)?;
                Response::ok("{}")
            }
            "/kick" => {
                let k: Kick = req.json().await?;
                self.kick(&k.session_id)?;
                Response::ok("{}")
            }
            "/alive" => {
                let asked: AliveReq = req.json().await?;
                let alive = self
                    .state
                    .get_websockets()
                    .iter()
                    .filter_map(|ws| ws.deserialize_attachment::<Participant>().ok().flatten())
                    .filter_map(|who| who.socket_id)
                    .filter(|id| asked.ids.contains(id))
                    .collect();
                Response::from_json(&AliveResp { alive })
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
        // A revoked session's sockets were closed by the kick; any frame still arriving from
        // them is refused and closes them here, in their own event.
        if self.is_revoked(&who.session_id)? {
            return self.close_revoked(&ws, &who);
        }
        // A removed user's sockets were closed by the owner's event; closes issued from
        // another socket's event only go out when the room next hibernates, so any frame
        // still arriving from them closes them here, in their own event, at once.
        if self.is_banned(&who.user_id)? {
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
            ended: self.ended()?,
            sender_muted_until_ms: self.muted_until(&who.user_id)?,
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
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn join(&self, req: &Request) -> Result<Response> {
        let who: Participant = req
            .headers()
            .get(PARTICIPANT_HEADER)?
            .and_then(|h| serde_json::from_str(&h).ok())
            .ok_or_else(|| worker::Error::RustError("no participant".into()))?;
        if req.headers().get(ENDED_HEADER)?.as_deref() == Some("1") {
            self.set_ended()?;
        }
        if self.is_banned(&who.user_id)? {
            return Response::error("removed from this room", 403);
        }
        if self.is_revoked(&who.session_id)? {
            return Response::error("session revoked", 401);
        }
        let pair = WebSocketPair::new()?;
        let tags = [user_tag(&who.user_id), session_tag(&who.session_id)];
        self.state
            .accept_websocket_with_tags(&pair.server, &[tags[0].as_str(), tags[1].as_str()]);
        pair.server.serialize_attachment(&who)?;
        let history = self.history()?;
        pair.server
            .send_with_str(json!({"type": "chat.history", "messages": history}).to_string())?;
        let joined =
            json!({"type": "presence.joined", "user": {"id": who.user_id, "name": who.name}});
        self.broadcast(&joined, Some(&pair.server));
        Response::from_websocket(pair.client)
    }

    /// Closes every socket of a revoked session (4001) and remembers the session, so that its
    /// frames and joins are refused from now on.
    fn kick(&self, session_id: &str) -> Result<()> {
        let now = now_ms();
        let sql = self.sql();
        sql.exec(
            "INSERT INTO revoked_sessions (session_id, at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING",
            vec![session_id.into(), now.into()],
        )?;
        sql.exec(
            "DELETE FROM revoked_sessions WHERE at_ms < ?",
            vec![(now - REVOKED_MEMORY_MS).into()],
        )?;
        let victims: Vec<(WebSocket, Participant)> = self
            .state
            .get_websockets_with_tag(&session_tag(session_id))
            .into_iter()
            .filter_map(|ws| {
                let who = ws.deserialize_attachment::<Participant>().ok()??;
                Some((ws, who))
            })
            .collect();
        if victims.is_empty() {
            return Ok(());
        }
        for (ws, who) in &victims {
            let _ = ws.send_with_str(
                json!({"type": "session.revoked", "session_id": who.session_id}).to_string(),
            );
            self.close_revoked(ws, who)?;
        }
        Ok(())
    }

    fn close_revoked(&self, ws: &WebSocket, who: &Participant) -> Result<()> {
        let _ = ws.serialize_attachment(Value::Null);
        let _ = ws.close(Some(CLOSE_SESSION_REVOKED), Some("session revoked"));
        let left = json!({"type": "presence.left", "user": {"id": who.user_id, "name": who.name}});
        self.broadcast(&left, Some(ws));
        if let Some(socket_id) = who.socket_id.clone() {
            sockets::release_later(&self.env, socket_id);
        }
        Ok(())
    }

    fn is_revoked(&self, session_id: &str) -> Result<bool> {
        #[derive(Deserialize)]
        struct One {
            #[allow(dead_code)]
            session_id: String,
        }
        Ok(!self
            .sql()
            .exec(
                "SELECT session_id FROM revoked_sessions WHERE session_id = ?",
                vec![session_id.into()],
            )?
            .to_array::<One>()?
            .is_empty())
    }

    fn may_post(&self, user_id: &str) -> Result<bool> {
        Ok(may_post(
            self.is_banned(user_id)?,
            self.muted_until(user_id)?,
            now_ms(),
        ))
    }

    fn forget(&self, f: &Forget) -> Result<()> {
        let sql = self.sql();
        sql.exec(
            "UPDATE messages SET author_id = ?, author_name = NULL WHERE author_id = ?",
            vec![f.pseudonym.as_str().into(), f.user_id.as_str().into()],
        )?;
        for table in ["muted", "banned"] {
            sql.exec(
                &format!("DELETE FROM {table} WHERE user_id = ?"),
                vec![f.user_id.as_str().into()],
            )?;
        }
        Ok(())
    }

    fn is_banned(&self, user_id: &str) -> Result<bool> {
        #[derive(Deserialize)]
        struct One {
            #[allow(dead_code)]
            user_id: String,
        }
        Ok(!self
            .sql()
            .exec(
                "SELECT user_id FROM banned WHERE user_id = ?",
                vec![user_id.into()],
            )?
            .to_array::<One>()?
            .is_empty())
    }

    fn history(&self) -> Result<Vec<Value>> {
        let rows: Vec<MessageRow> = self
            .sql()
            .exec(
                "SELECT id, author_id, author_name, text, time_ms FROM (SELECT * FROM messages ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                vec![(RoomPolicy::default().history as i64).into()],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| {
                ChatMessage {
                    id: r.id,
                    author_id: r.author_id,
                    author_name: r.author_name,
                    text: r.text,
                    time_ms: r.time_ms,
                }
                .event()
            })
            .collect())
    }

    fn ended(&self) -> Result<bool> {
        #[derive(Deserialize)]
        struct Meta {
            ended: i64,
        }
        Ok(self
            .sql()
            .exec("SELECT ended FROM meta WHERE k = 1", None)?
            .to_array::<Meta>()?
            .first()
            .is_some_and(|m| m.ended != 0))
    }

    fn set_ended(&self) -> Result<()> {
        self.sql().exec(
            "INSERT INTO meta (k, ended) VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET ended = 1",
            None,
        )?;
        Ok(())
    }

    fn muted_until(&self, user_id: &str) -> Result<Option<i64>> {
        #[derive(Deserialize)]
        struct Muted {
            until_ms: i64,
        }
        Ok(self
            .sql()
            .exec(
                "SELECT until_ms FROM muted WHERE user_id = ?",
                vec![user_id.into()],
            )?
            .to_array::<Muted>()?
            .first()
            .map(|m| m.until_ms))
    }

    fn reply(&self, ws: &WebSocket, event: &Value) -> Result<()> {
        ws.send_with_str(event.to_string())
    }

    /// To every open connection but `except`. A failing socket does not stop the others.
    fn broadcast(&self, event: &Value, except: Option<&WebSocket>) {
        let text = event.to_string();
        for ws in self.state.get_websockets() {
            if except.is_some_and(|e| e == &ws) {
                continue;
            }
            let _ = ws.send_with_str(&text);
        }
    }

    fn perform(&self, ws: &WebSocket, effect: Effect) -> Result<()> {
        let policy = RoomPolicy::default();
        match effect {
            Effect::Broadcast(ev) => self.broadcast(&ev, None),
            Effect::Reply(ev) => self.reply(ws, &ev)?,
            Effect::Store(m) => {
                let sql = self.sql();
                sql.exec(
                    "INSERT INTO messages (id, author_id, author_name, text, time_ms) VALUES (?, ?, ?, ?, ?)",
                    vec![
                        m.id.into(),
                        m.author_id.into(),
                        m.author_name.map(Into::into).unwrap_or(worker::SqlStorageValue::Null),
                        m.text.into(),
                        m.time_ms.into(),
                    ],
                )?;
                sql.exec(
                    "DELETE FROM messages WHERE seq <= (SELECT MAX(seq) FROM messages) - ?",
                    vec![(policy.history as i64).into()],
                )?;
            }
            Effect::Mute { user_id, until_ms } => {
                self.sql().exec(
                    "INSERT INTO muted (user_id, until_ms) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET until_ms = excluded.until_ms",
                    vec![user_id.into(), until_ms.into()],
                )?;
            }
            Effect::Unmute { user_id } => {
                self.sql()
                    .exec("DELETE FROM muted WHERE user_id = ?", vec![user_id.into()])?;
            }
            Effect::Remove { user_id } => {
                self.sql().exec(
                    "INSERT INTO banned (user_id) VALUES (?) ON CONFLICT DO NOTHING",
                    vec![user_id.as_str().into()],
                )?;
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
            let left =
                json!({"type": "presence.left", "user": {"id": who.user_id, "name": who.name}});
            self.broadcast(&left, Some(ws));
            if let Some(socket_id) = who.socket_id {
                // Its slot under the per-user socket cap; a release lost here is found again
                // by `/alive` when the user is next at the cap.
                sockets::release_later(&self.env, socket_id);
            }
        }
        let _ = ws.close(Some(1000), Some("bye"));
    }
}
