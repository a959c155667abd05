//! Scheduled maintenance: bounded, idempotent steps, each logged as one line with what it did.

use crate::core::audit::pseudonym;
use crate::core::error::AppError;
use crate::edge::ctx::config;
use crate::edge::d1::maintenance::{self, Retention};
use crate::edge::objects::user_sessions::Client;
use worker::{D1Database, Env};

/// Rows one step may touch per run, so a run stays within the platform's limits.
const BATCH: i64 = 500;
/// Accounts purged per run (each costs a Durable Object call and a D1 batch).
const PURGE_BATCH: i64 = 50;
const DAY: i64 = 86_400;

/// `scheduled_ms` is the event's scheduled time: every step runs as of that instant (within a
/// second of the clock in production; a test may ask for a run "as of" a later day).
pub async fn run(cron: &str, scheduled_ms: f64, env: &Env) {
    let now = (scheduled_ms / 1000.0) as i64;
    let db = match env.d1(crate::core::bindings::DB) {
        Ok(db) => db,
        Err(e) => {
            worker::console_error!("cron: no DB binding: {e}");
            return;
        }
    };
    log(cron, "purged_accounts", purge_accounts(env, &db, now).await);
    log(cron, "stale_jobs", stale_jobs(env, &db, now).await);
    log(
        cron,
        "signing_keys",
        crate::edge::keys::rotate(env, &db, now).await,
    );
    let keep = config(env)
        .map(|c| Retention {
            audit_s: c.audit_retention_s,
            dead_letters_s: c.dead_letter_retention_s,
        })
        .unwrap_or(Retention {
            audit_s: 365 * DAY,
            dead_letters_s: 30 * DAY,
        });
    for (name, result) in maintenance::sweep(&db, now, BATCH, &keep).await {
        log(cron, name, result);
    }
}

fn log(cron: &str, step: &str, result: Result<usize, AppError>) {
    let line = match result {
        Ok(n) => {
            serde_json::json!({"level": "info", "msg": "cron", "cron": cron, "step": step, "count": n})
        }
        Err(e) => {
            serde_json::json!({"level": "error", "msg": "cron", "cron": cron, "step": step, "error": e.log_json()})
        }
    };
    worker::console_log!("{line}");
}

/// Jobs a crash or a lost message left behind: `running` past the timeout is requeued (or,
/// with no attempts left, failed and refunded once); `queued` with no delivery in sight is
/// enqueued again. Each change is conditional, so a consumer finishing meanwhile wins.
async fn stale_jobs(env: &Env, db: &D1Database, now: i64) -> Result<usize, AppError> {
    let cfg = config(env)?;
    let stale = crate::edge::d1::jobs::stale(
        db,
        now - cfg.job_running_timeout_s,
        now - cfg.job_queued_stale_s,
        PURGE_BATCH,
    )
    .await?;
    let mut handled = 0;
    for job in stale {
        if job.status == crate::core::jobs::JobStatus::Running {
            let error = "timed out while running";
            let outcome = crate::edge::jobs::fail(env, db, &job, job.attempts, error, 0).await?;
            if matches!(outcome, crate::core::mail::QueueOutcome::Retry { .. }) {
                crate::edge::routes::jobs::enqueue(env, &job.id).await?;
            }
        } else {
            crate::edge::d1::jobs::touch_queued(db, &job.id, now).await?;
            crate::edge::routes::jobs::enqueue(env, &job.id).await?;
        }
        crate::edge::jobs::announce(env, db, &job.id).await;
        handled += 1;
    }
    Ok(handled)
}

/// Accounts past their deletion grace period, and unverified accounts past the maximum age.
/// Nothing that identifies the person stays: their Durable Object state is erased, the user
/// row deleted (tokens, sessions, jobs and own streams cascade), their mail and idempotency
/// records deleted. What others' records depend on stays under the account's pseudonym:
/// audit events (without client details), ledger entries and balance, tips, and the messages
/// they wrote in chat rooms (without their name). Every D1 statement re-checks that the account
/// is still due, so one restored meanwhile is left alone.
async fn purge_accounts(env: &Env, db: &D1Database, now: i64) -> Result<usize, AppError> {
    let cfg = config(env)?;
    let unverified_cutoff = now - cfg.unverified_max_age_s;
    let due = maintenance::due_for_purge(db, now, unverified_cutoff, PURGE_BATCH).await?;
    let mut purged = 0;
    for id in due {
        let alias = pseudonym(&id);
        Client::for_user(env, &id)?.purge().await?;
        let rooms = maintenance::rooms_of(db, &id).await?;
        crate::edge::realtime::forget_user(env, &id, &alias, &rooms).await?;
        if maintenance::purge_account(db, &id, &alias, now, unverified_cutoff).await? {
            purged += 1;
        }
    }
    Ok(purged)
}
