//! The edge: the only code that touches `worker`. Entry points for fetch, queue and cron, and
//! the Durable Object classes. Each piece decodes, calls the core, and performs effects.

mod auth;
mod browser;
mod cron;
mod ctx;
mod d1;
mod hash_gate;
mod http;
mod idp;
mod jobs;
mod keys;
mod objects;
mod passwords;
mod queue;
mod rand;
mod ratelimit;
mod realtime;
mod replication;
mod router;
mod routes;
mod sockets;

use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    Ok(router::handle(req, env, ctx).await)
}

/// Never returns `Err`: a failed queue handler resets the instance. Each message is acked or
/// retried on its own inside.
#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
    queue::consume(batch, env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    cron::run(&event.cron(), event.schedule(), &env).await;
}
