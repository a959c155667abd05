use crate::core::error::{AppError, Faulty};
use crate::edge::ctx::Ctx;
use crate::edge::http::json;
use serde_json::json;
use worker::{Env, Response};

pub fn health() -> Result<Response, AppError> {
    json(200, &json!({"status": "ok"}))
}

/// Readiness: configuration parses and D1 answers a query.
pub async fn ready(env: &Env) -> Result<Response, AppError> {
    let config_ok = crate::edge::ctx::config(env).is_ok();
    let d1_ok = match env.d1(crate::core::bindings::DB) {
        Ok(db) => crate::edge::d1::ping(&db).await,
        Err(_) => false,
    };
    let word = |ok: bool| if ok { "ok" } else { "fail" };
    let checks = json!({"d1": word(d1_ok), "config": word(config_ok)});
    if d1_ok && config_ok {
        json(200, &json!({"status": "ready", "checks": checks}))
    } else {
        Err(AppError::Unavailable(format!(
            "readiness checks failed: {checks}"
        )))
    }
}

pub async fn jwks(ctx: &Ctx) -> Result<Response, AppError> {
    let keys = crate::edge::keys::current(&ctx.env, &ctx.cfg).await?;
    let mut r = json(200, &keys.public_jwks())?;
    let _ = r.headers_mut().set("cache-control", "public, max-age=300");
    Ok(r)
}

pub fn openapi() -> Result<Response, AppError> {
    let mut r = Response::ok(include_str!("../../../openapi/openapi.json"))
        .fault("routes.health.openapi")?;
    let _ = r.headers_mut().set("content-type", "application/json");
    let _ = r.headers_mut().set("cache-control", "public, max-age=300");
    Ok(r)
}
