//! `UserChannel`: one object per user, pushing events to all of the user's connected devices.
//! Publishers call `edge::realtime`.
//!
//! Unlike chat rooms these sockets do not use the hibernation API: revoking a session must
//! close its socket at once, and a hibernatable socket closed from another event's handler
//! (here: the publish request) only sends its close frame when the object next hibernates
//! (seen under workerd 2026-11-17: 10-20 s later). A user has a handful of devices, so keeping
//! the object in memory while they are connected is the cheaper trade.

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

#[durable_object(fetch)]
pub struct UserChannel {
    sockets: Sockets,
    next_id: RefCell<u64>,
}

impl DurableObject for UserChannel {
    fn new(_state: State, _env: Env) -> Self {
        Self {
            sockets: Rc::new(RefCell::new(Vec::new())),
            next_id: RefCell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/connect" => {
                let session = req
                    .headers()
                    .get(SESSION_HEADER)?
                    .ok_or_else(|| worker::Error::RustError("no session".into()))?;
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
                serve(id, pair.server, self.sockets.clone());
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
                }
                Response::ok("{}")
            }
            _ => Response::error("not found", 404),
        }
    }
}

/// Reads one socket until it closes: answers pings, forgets the socket at the end.
fn serve(id: u64, ws: WebSocket, sockets: Sockets) {
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
    });
}
