//! The typed protocol between the worker and its Durable Objects. Each operation is a request
//! type that names its path and its reply type (`Call`), shared by the object's client and the
//! object itself, so the two cannot disagree on a shape. The objects' clients (`Client` in each
//! object's module) are the only code that sends to an object.
//!
//! A client always reads the object's answer to the end: an unread subrequest body keeps the
//! invoking event (a scheduled run, a queue batch) from finishing under workerd.

use crate::core::error::{AppError, Faulty, Within};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit, Response};

/// One operation of an object: the request is POSTed as JSON to `PATH`, the object answers
/// `Reply` as JSON with 200.
pub trait Call: Serialize + DeserializeOwned {
    const PATH: &'static str;
    type Reply: Serialize + DeserializeOwned;
}

/// A reply with nothing to say.
#[derive(Serialize, Deserialize)]
pub struct Done {}

/// The query parameter naming the object a request is for (an object does not know its name).
const NAME_PARAM: &str = "name";

/// The worker's handle on one object, by binding and name.
pub struct Stub {
    binding: &'static str,
    name: String,
    stub: worker::Stub,
}

impl Stub {
    pub fn named(env: &Env, binding: &'static str, name: &str) -> Result<Self, AppError> {
        Self::named_near(env, binding, name, None)
    }

    /// `named`, with a location hint for where the object is created if it does not exist yet
    /// (an existing object stays where it is).
    pub fn named_near(
        env: &Env,
        binding: &'static str,
        name: &str,
        location_hint: Option<&str>,
    ) -> Result<Self, AppError> {
        let ns = env
            .durable_object(binding)
            .fault("objects.stub")
            .within(binding)?;
        let stub = ns
            .id_from_name(name)
            .and_then(|id| match location_hint {
                Some(hint) => id.get_stub_with_location_hint(hint),
                None => id.get_stub(),
            })
            .fault("objects.stub")
            .within(binding)?;
        Ok(Self {
            binding,
            name: name.to_owned(),
            stub,
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "https://{}{path}?{NAME_PARAM}={}",
            self.binding.to_ascii_lowercase(),
            urlencode(&self.name)
        )
    }

    pub async fn call<C: Call>(&self, req: &C) -> Result<C::Reply, AppError> {
        self.exchange::<C>(req)
            .await
            .within(C::PATH)
            .within(self.binding)
    }

    async fn exchange<C: Call>(&self, req: &C) -> Result<C::Reply, AppError> {
        let text = serde_json::to_string(req).fault("objects.encode")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&text)));
        let request = Request::new_with_init(&self.url(C::PATH), &init).fault("objects.request")?;
        let mut resp = self
            .stub
            .fetch_with_request(request)
            .await
            .fault("objects.fetch")?;
        let body = resp.text().await.fault("objects.read")?;
        if resp.status_code() != 200 {
            return Err(AppError::fault(
                "objects.status",
                format!("answered {}: {body}", resp.status_code()),
            ));
        }
        serde_json::from_str(&body).fault("objects.decode")
    }

    /// Opens a WebSocket at the object's `path`, telling it `headers`: its answer (a 101
    /// carrying the socket, or a refusal) is the caller's to hand on.
    pub async fn upgrade(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, AppError> {
        let op = "objects.upgrade";
        let h = Headers::new();
        h.set("upgrade", "websocket").fault(op)?;
        for (k, v) in headers {
            h.set(k, v).fault(op)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(h);
        let request = Request::new_with_init(&self.url(path), &init).fault(op)?;
        self.stub
            .fetch_with_request(request)
            .await
            .fault(op)
            .within(self.binding)
    }
}

/// Object side: the name the object was addressed by.
pub fn name(req: &Request) -> worker::Result<String> {
    Ok(req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == NAME_PARAM)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default())
}

/// Object side: reads the request of `C`.
pub async fn decode<C: Call>(req: &mut Request) -> worker::Result<C> {
    req.json().await
}

/// Object side: the reply of `C`.
pub fn reply<C: Call>(reply: &C::Reply) -> worker::Result<Response> {
    Response::from_json(reply)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
