//! Async jobs: submission (idempotent per user and key), status, history, admin stats.

use super::streams::page_params;
use crate::core::admin::{Need, Scope};
use crate::core::caps::Cap;
use crate::core::config::Limit;
use crate::core::credits::{fingerprint, IdempotencyKey};
use crate::core::domain::{JobId, UserId};
use crate::core::error::{AppError, Faulty};
use crate::core::jobs::{resubmission, Job, JobMessage, JobSpec, JobStatus, Resubmission};
use crate::edge::auth::{admin, authenticate};
use crate::edge::ctx::Ctx;
use crate::edge::d1;
use crate::edge::http::{json, read_json};
use crate::edge::queue::JOBS_DLQ;
use crate::edge::rand;
use crate::edge::ratelimit::{enforce, Key};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Env, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    kind: String,
    input: Value,
}

pub async fn enqueue(env: &Env, job_id: &str) -> Result<(), AppError> {
    env.queue(crate::core::bindings::JOBS_QUEUE)
        .fault("routes.jobs.enqueue")?
        .send(&JobMessage {
            job_id: job_id.to_owned(),
        })
        .await
        .fault("routes.jobs.enqueue")
}

/// `POST /v1/jobs`: 202 and the job when new; 200 and the same job for the same key and body;
/// 422 for the same key with another body. The unique (user, key) row decides, so parallel
/// submissions with one key create one job.
pub async fn submit(req: &mut Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let me = &authed.user.id;
    enforce(ctx, Limit::JobUser, Key::User(me)).await?;
    let key = IdempotencyKey::parse(
        req.headers()
            .get("idempotency-key")
            .ok()
            .flatten()
            .as_deref(),
    )?;
    let body: SubmitBody = read_json(req).await?;
    let spec = JobSpec::parse(&body.kind, &body.input, ctx.cfg.is_development())?;
    let hash = fingerprint("job", &json!({"kind": body.kind, "input": body.input}));
    let db = ctx.db()?;
    let new_job = d1::jobs::NewJob {
        id: &rand::uuid()?,
        user_id: me,
        kind: spec.kind(),
        input: &spec.input(),
        max_attempts: i64::from(ctx.cfg.job_max_attempts),
        cost: spec.cost(),
        key: key.as_str(),
        request_hash: &hash,
        now: ctx.now,
        cap: ctx.cfg.caps.queued_jobs,
    };
    if let Some(job) = d1::jobs::insert(&db, &new_job).await? {
        // A failed send leaves the job queued; the cron step re-enqueues stale ones.
        if let Err(e) = enqueue(&ctx.env, &job.id).await {
            worker::console_error!(
                "{}",
                json!({"level": "error", "msg": "job enqueue failed", "job": job.id, "error": e.log_json()})
            );
        }
        return json(202, &job.view());
    }
    let by_key = d1::jobs::by_key(&db, me, key.as_str()).await?;
    match resubmission(by_key, &hash) {
        Resubmission::Same(job) => json(200, &job.view()),
        Resubmission::KeyMismatch => Err(AppError::Unprocessable {
            code: "idempotency_key_mismatch",
            detail: "this Idempotency-Key was used with another request body".into(),
        }),
        Resubmission::OverCap => Err(Cap::QueuedJobs.refused()),
    }
}

/// The caller's own job, or 404 (another user's job is indistinguishable from none).
async fn own_job(ctx: &Ctx, user_id: &UserId, id: &str) -> Result<Job, AppError> {
    let id = JobId::parse(id).map_err(|_| AppError::NotFound)?;
    d1::jobs::by_id(&ctx.db()?, &id)
        .await?
        .filter(|j| j.user_id == *user_id)
        .ok_or(AppError::NotFound)
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    json(200, &own_job(ctx, &authed.user.id, id).await?.view())
}

pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    let authed = authenticate(req, ctx).await?;
    let url = req.url().fault("routes.jobs.list")?;
    let status = url
        .query_pairs()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| JobStatus::parse_filter(&v))
        .transpose()?;
    let (limit, cursor) = page_params(req)?;
    let rows = d1::jobs::list(&ctx.db()?, &authed.user.id, status, cursor, limit + 1).await?;
    let (rows, next) = d1::split_page(rows, limit, |(seq, _)| *seq);
    let next = next.map(super::streams::encode_cursor);
    let jobs: Vec<_> = rows.iter().map(|(_, job)| job.view()).collect();
    json(200, &json!({ "jobs": jobs, "next_cursor": next }))
}

/// `POST /v1/dev/jobs/{id}/redeliver` (development only): the queue delivers the job's message
/// once more, as at-least-once delivery may in production.
pub async fn redeliver(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, AppError> {
    if !ctx.cfg.is_development() {
        return Err(AppError::NotFound);
    }
    let authed = authenticate(req, ctx).await?;
    let job = own_job(ctx, &authed.user.id, id).await?;
    enqueue(&ctx.env, &job.id).await?;
    json(202, &json!({ "redelivered": job.id }))
}

/// `GET /v1/admin/jobs/stats`: for administrators (stored role) and `admin:read` API keys.
pub async fn stats(req: &Request, ctx: &Ctx) -> Result<Response, AppError> {
    admin(req, ctx, Need::Scope(Scope::AdminRead)).await?;
    let db = ctx.db()?;
    let mut counts = json!({"queued": 0, "running": 0, "succeeded": 0, "failed": 0});
    for c in d1::jobs::counts(&db).await? {
        counts[c.status] = json!(c.n);
    }
    let dead = d1::deliveries::dead_letter_count(&db, JOBS_DLQ).await?;
    json(
        200,
        &json!({
            "jobs": counts,
            "dead_letters": dead,
            // Cloudflare Queues exposes no depth to the Worker: jobs awaiting delivery.
            "queue_depth": counts["queued"],
        }),
    )
}
