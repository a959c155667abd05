//! `UserChannel`: one object per user, pushing events to all of the user's connected devices
//! (hibernating WebSockets tagged with their session). Publishers call `edge::realtime`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

pub const SESSION_HEADER: &str = "x-edgeward-session";
/// Close code for the socket of a revoked session.
pub const CLOSE_SESSION_REVOKED: u16 = 4001;

#[derive(Serialize, Deserialize)]
pub struct Publish {
    pub event: Value,
    /// Close this session's sockets after delivering the event.
    pub close_session: Option<String>,
}

fn session_tag(id: &str) -> String {
    format!("s:{id}")
}

#[durable_object]
pub struct UserChannel {
    state: State,
}

impl DurableObject for UserChannel {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/connect" => {
                let session = req
                    .headers()
                    .get(SESSION_HEADER)?
                    .ok_or_else(|| worker::Error::RustError("no session".into()))?;
                let pair = WebSocketPair::new()?;
                let tag = session_tag(&session);
                self.state
                    .accept_websocket_with_tags(&pair.server, &[tag.as_str()]);
                Response::from_websocket(pair.client)
            }
            "/publish" => {
                let p: Publish = req.json().await?;
                let text = p.event.to_string();
                for ws in self.state.get_websockets() {
                    let _ = ws.send_with_str(&text);
                }
                if let Some(session) = p.close_session {
                    for ws in self.state.get_websockets_with_tag(&session_tag(&session)) {
                        let _ = ws.close(Some(CLOSE_SESSION_REVOKED), Some("session revoked"));
                    }
                }
                Response::ok("{}")
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        if let WebSocketIncomingMessage::String(text) = message {
            if serde_json::from_str::<Value>(&text).is_ok_and(|v| v["type"] == "ping") {
                ws.send_with_str(json!({"type": "pong"}).to_string())?;
            }
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
        let _ = ws.close(Some(1000), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        let _ = ws.close(Some(1000), Some("bye"));
        Ok(())
    }
}
