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

/// The document is a static asset (`wrangler.toml` `[assets]`, put there by `scripts/build`), so
/// the wasm does not carry its half megabyte. `run_worker_first` sends the request here, and
/// the answer gets the API's headers like every other.
pub async fn openapi(env: &Env) -> Result<Response, AppError> {
    let assets = env
        .assets(crate::core::bindings::ASSETS)
        .fault("routes.health.openapi.binding")?;
    // The asset server answers by path; the host is not looked at.
    let found = assets
        .fetch("https://assets.invalid/openapi.json", None)
        .await
        .fault("routes.health.openapi.fetch")?;
    if found.status_code() != 200 {
        return Err(AppError::fault(
            "routes.health.openapi",
            format!(
                "the static /openapi.json answered {}: rebuild with scripts/build",
                found.status_code()
            ),
        ));
    }
    // A fetched response's headers are immutable: the body streams on in a new response.
    let (_, body) = found.into_parts();
    let mut r = Response::from_body(body).fault("routes.health.openapi.answer")?;
    let _ = r.headers_mut().set("content-type", "application/json");
    let _ = r.headers_mut().set("cache-control", "public, max-age=300");
    Ok(r)
}
