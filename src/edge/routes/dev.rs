//! Development-only endpoints: 404 unless ENVIRONMENT=development.

use crate::core::domain::Email;
use crate::core::error::{AppError, Faulty};
use crate::edge::ctx::Ctx;
use crate::edge::d1;
use crate::edge::http::json;
use serde_json::json;
use worker::{Request, Response};

pub async fn mailbox(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    if !ctx.cfg.is_development() {
        return Err(AppError::NotFound);
    }
    let url = req.url().fault("routes.dev.mailbox")?;
    let to = url
        .query_pairs()
        .find(|(k, _)| k == "to")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| AppError::InvalidRequest("query parameter `to` is required".into()))?;
    let to = Email::parse(&to)?;
    let messages = d1::mailbox::list_for(&ctx.db()?, to.as_str()).await?;
    json(200, &json!({ "messages": messages }))
}
