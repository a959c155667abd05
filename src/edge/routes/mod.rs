//! One module per resource. Each handler: parse -> decide in core -> effects -> response.

pub mod accounts;
pub mod admin;
pub mod credits;
pub mod dev;
pub mod email;
pub mod health;
pub mod jobs;
pub mod lifecycle;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod password;
pub mod profile;
pub mod realtime;
pub mod sessions;
pub mod siwe;
pub mod streams;
pub mod tokens;
pub mod workspaces;

use crate::core::error::{AppError, Faulty};
use crate::core::mail::{EmailJob, Template};
use crate::edge::ctx::Ctx;
use crate::edge::rand;

/// Puts an e-mail on the `EMAIL` queue (none for an address that cannot receive it).
pub async fn send_mail(ctx: &Ctx, to: &str, template: Template) -> Result<(), AppError> {
    if !crate::core::mail::deliverable(to) {
        return Ok(());
    }
    let job = EmailJob {
        id: rand::uuid()?,
        to: to.to_owned(),
        template,
        created_at: ctx.now,
    };
    ctx.env
        .queue(crate::core::bindings::EMAIL_QUEUE)
        .fault("routes.send_mail")?
        .send(&job)
        .await
        .fault("routes.send_mail")
}
