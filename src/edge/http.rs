//! HTTP plumbing: JSON bodies in (with size and content-type checks), JSON and problem+json
//! out, paging.

use crate::core::error::{AppError, Faulty};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Headers, Request, Response};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Parses the body as JSON into `T` (a DTO of strings; domain parsing follows).
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, AppError> {
    let ct = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(AppError::UnsupportedMediaType);
    }
    if let Some(len) = req.headers().get("content-length").ok().flatten() {
        if len
            .trim()
            .parse::<usize>()
            .map_or(true, |n| n > MAX_BODY_BYTES)
        {
            return Err(AppError::PayloadTooLarge);
        }
    }
    let bytes = read_capped(req).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            AppError::InvalidRequest("the body is not valid JSON".into())
        } else {
            // serde quotes the client's keys and values: keep only what our schema says.
            crate::core::error::body_mismatch(&e.to_string())
        }
    })
}

/// The body, read chunk by chunk and cut off with 413 as soon as it passes `MAX_BODY_BYTES`:
/// a chunked upload (no `Content-Length`) is never buffered whole, however long it runs.
async fn read_capped(req: &mut Request) -> Result<Vec<u8>, AppError> {
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let unreadable = |_| AppError::InvalidRequest("the request body could not be read".into());
    let mut stream = req.stream().map_err(unreadable)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreadable)?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(AppError::PayloadTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, AppError> {
    Response::from_json(body)
        .map(|r| r.with_status(status))
        .fault("http.json")
}

pub fn no_content() -> Result<Response, AppError> {
    Ok(Response::empty().fault("http.no_content")?.with_status(204))
}

/// The one place errors become responses (RFC 9457).
pub fn problem(err: &AppError, request_id: &str) -> Response {
    let body = err.problem_json(request_id).to_string();
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/problem+json");
    let _ = headers.set("cache-control", "no-store");
    if let Some(challenge) = err.www_authenticate() {
        let _ = headers.set("www-authenticate", &challenge);
    }
    if let Some(seconds) = err.retry_after_s() {
        let _ = headers.set("retry-after", &seconds.to_string());
    }
    if let AppError::MethodNotAllowed { allow } = err {
        let _ = headers.set("allow", allow);
    }
    match Response::ok(body) {
        Ok(r) => r.with_status(err.status()).with_headers(headers),
        Err(_) => Response::empty().expect("empty response").with_status(500),
    }
}

/// `?limit=&cursor=` of a paged list: limit 1-100 (else 400), the cursor left for the route to
/// decode (each list orders by its own key).
pub struct Page {
    pub limit: i64,
    pub cursor: Option<String>,
}

pub fn page(req: &Request, default_limit: i64) -> Result<Page, AppError> {
    let url = req.url().fault("http.page")?;
    let mut page = Page {
        limit: default_limit,
        cursor: None,
    };
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "limit" => {
                page.limit = v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| AppError::InvalidRequest("limit must be 1-100".into()))?
            }
            "cursor" => page.cursor = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(page)
}

pub fn bad_cursor() -> AppError {
    AppError::InvalidRequest("cursor is not valid".into())
}
