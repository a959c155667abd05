//! The jobs consumer: one step per delivered message, returning ack / retry / dead-letter.
//! Redeliveries are harmless: only a queued job can be claimed, the first claim charges in the
//! same batch, and only the runner of the current attempt can finish it.

use crate::core::error::{AppError, Faulty};
use crate::core::jobs::{after_failure, AfterFailure, JobMessage, JobSpec};
use crate::core::jobs::{Job, JobStatus};
use crate::core::mail::QueueOutcome;
use crate::core::realtime::{payload, Event};
use crate::edge::ctx::{config, now_s};
use crate::edge::d1::{self, jobs::Claim};
use crate::edge::realtime;
use serde_json::json;
use worker::{Env, Message, MessageExt};

/// Pushes the job's current state to its owner's devices.
pub async fn announce(env: &Env, db: &worker::D1Database, job_id: &str) {
    if let Ok(Some(job)) = d1::jobs::by_id(db, job_id).await {
        realtime::to_user(
            env,
            &job.user_id,
            Event::JobUpdated {
                job: payload(&job.view()),
            },
            None,
        )
        .await;
    }
}

pub async fn process(msg: &Message<serde_json::Value>, env: &Env) -> QueueOutcome {
    let Ok(m) = serde_json::from_value::<JobMessage>(msg.body().clone()) else {
        worker::console_error!("jobs: undecodable message {}", msg.id());
        return QueueOutcome::DeadLetter;
    };
    match step(&m.job_id, env).await {
        Ok(outcome) => outcome,
        Err(e) => {
            worker::console_error!(
                "{}",
                json!({"level": "error", "msg": "job step failed", "job": m.job_id, "error": e.log_json()})
            );
            QueueOutcome::Retry { delay_s: 10 }
        }
    }
}

async fn step(job_id: &str, env: &Env) -> Result<QueueOutcome, AppError> {
    let cfg = config(env)?;
    let db = env.d1(crate::core::bindings::DB).fault("jobs.step")?;
    let Some(job) = d1::jobs::by_id(&db, job_id).await? else {
        return Ok(QueueOutcome::Ack);
    };
    if job.status != JobStatus::Queued {
        // A duplicate or late delivery: the job is being run, or is done.
        return Ok(QueueOutcome::Ack);
    }
    let spec = JobSpec::parse(&job.kind, &job.input, cfg.is_development())
        .map_err(|e| AppError::fault("jobs.step", format!("stored job is not runnable: {e}")))?;
    match d1::jobs::claim(&db, &job, now_s()).await? {
        Claim::NotClaimed => return Ok(QueueOutcome::Ack),
        Claim::InsufficientCredits => {
            announce(env, &db, &job.id).await;
            return Ok(QueueOutcome::Ack);
        }
        Claim::Claimed => {}
    }
    let attempt = job.attempts + 1;
    announce(env, &db, &job.id).await;
    let outcome = match spec.run(attempt as u32) {
        Ok(result) => {
            d1::jobs::succeed(&db, &job, attempt, &result, now_s()).await?;
            QueueOutcome::Ack
        }
        Err(error) => fail(env, &db, &job, attempt, &error, cfg.job_retry_base_s).await?,
    };
    announce(env, &db, &job.id).await;
    Ok(outcome)
}

/// After a failed attempt: requeue with backoff, or give up (failed, refunded once, and the
/// message sent to the dead-letter queue).
pub async fn fail(
    env: &Env,
    db: &worker::D1Database,
    job: &Job,
    attempt: i64,
    error: &str,
    base_delay_s: u32,
) -> Result<QueueOutcome, AppError> {
    let now = now_s();
    match after_failure(attempt as u32, job.max_attempts as u32, base_delay_s) {
        AfterFailure::Retry { delay_s } => {
            d1::jobs::requeue(db, job, attempt, error, now + i64::from(delay_s), now).await?;
            Ok(QueueOutcome::Retry { delay_s })
        }
        AfterFailure::GiveUp => {
            if d1::jobs::give_up(db, job, attempt, error, now).await? {
                env.queue(crate::core::bindings::JOBS_DLQ)
                    .fault("jobs.fail")?
                    .send(&json!({"job_id": job.id, "error": error, "attempts": attempt}))
                    .await
                    .fault("jobs.fail")?;
            }
            Ok(QueueOutcome::Ack)
        }
    }
}
