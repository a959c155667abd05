//! Scheduled maintenance: bounded, idempotent steps, each logged as one line with what it did.

use crate::core::audit::pseudonym;
use crate::core::error::AppError;
use crate::core::sql::{
    audit, chat_participants, credits, dead_letters, dev_mailbox, email_changes, email_tokens,
    purge, queue_deliveries, sessions, tickets, users,
};
use crate::edge::ctx::config;
use crate::edge::d1::{self, i, s};
use crate::edge::objects::user_sessions::Client;
use serde::Deserialize;
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
    let db = match env.d1("DB") {
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
    let (retention, dead_letter_retention) = config(env)
        .map(|c| (c.audit_retention_s, c.dead_letter_retention_s))
        .unwrap_or((365 * DAY, 30 * DAY));
    let steps: [(&str, &str, Vec<wasm_bindgen::JsValue>); 9] = [
        // Realtime tickets live 30 s; used ones are kept no longer than expired ones.
        (
            "dead_realtime_tickets",
            tickets::PURGE_DEAD,
            vec![i(now), i(BATCH)],
        ),
        // Idempotency keys answer replays for a week.
        (
            "old_idempotency_keys",
            credits::PURGE_OLD_KEYS,
            vec![i(now - 7 * DAY), i(BATCH)],
        ),
        // Sessions that ended over a day ago (the objects keep their own state).
        (
            "ended_sessions",
            sessions::PURGE_ENDED,
            vec![i(now - DAY), i(now - DAY), i(BATCH)],
        ),
        // Verification and reset tokens that expired or were used over a day ago.
        (
            "dead_email_tokens",
            email_tokens::PURGE_DEAD,
            vec![i(now - DAY), i(now - DAY), i(BATCH)],
        ),
        // E-mail change links, likewise.
        (
            "dead_email_changes",
            email_changes::PURGE_DEAD,
            vec![i(now - DAY), i(now - DAY), i(BATCH)],
        ),
        (
            "expired_audit_events",
            audit::PURGE_OLD,
            vec![i(now - retention), i(BATCH)],
        ),
        (
            "old_dev_mail",
            dev_mailbox::PURGE_OLD,
            vec![i(now - 7 * DAY)],
        ),
        (
            "old_dead_letters",
            dead_letters::PURGE_OLD,
            vec![i(now - dead_letter_retention), i(BATCH)],
        ),
        (
            "old_queue_deliveries",
            queue_deliveries::PURGE_OLD,
            vec![i(now - 7 * DAY)],
        ),
    ];
    for (name, sql, args) in steps {
        log(cron, name, d1::run(&db, sql, &args).await);
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

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct StreamIdRow {
    stream_id: String,
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
    let due: Vec<IdRow> = d1::all(
        db,
        users::DUE_FOR_PURGE,
        &[i(now), i(unverified_cutoff), i(PURGE_BATCH)],
    )
    .await?;
    let mut purged = 0;
    for row in due {
        let id = row.id.as_str();
        let alias = pseudonym(id);
        Client::for_user(env, id)?.purge(id).await?;
        let rooms: Vec<StreamIdRow> = d1::all(db, chat_participants::STREAMS_OF, &[s(id)]).await?;
        let rooms: Vec<String> = rooms.into_iter().map(|r| r.stream_id).collect();
        crate::edge::realtime::forget_user(env, id, &alias, &rooms).await?;
        let guard = || [s(id), i(now), i(unverified_cutoff)];
        let renamed = |sql: &str| -> Result<_, AppError> {
            let mut args = vec![s(&alias), s(id)];
            args.extend(guard());
            d1::stmt(db, sql, &args)
        };
        let removed = |sql: &str| -> Result<_, AppError> {
            let mut args = vec![s(id)];
            args.extend(guard());
            d1::stmt(db, sql, &args)
        };
        let results = d1::batch(
            db,
            vec![
                d1::stmt(
                    db,
                    audit::ANONYMISE_IF_DUE,
                    &[s(&alias), s(id), s(id), i(now), i(unverified_cutoff)],
                )?,
                renamed(purge::LEDGER)?,
                renamed(purge::BALANCE)?,
                renamed(purge::TIPS_SENT)?,
                renamed(purge::TIPS_RECEIVED)?,
                {
                    let mut args = vec![s(id), s(&alias), s(id)];
                    args.extend(guard());
                    d1::stmt(db, purge::IDEMPOTENCY_MENTIONS, &args)?
                },
                removed(purge::IDEMPOTENCY_KEYS)?,
                removed(purge::TICKETS)?,
                removed(purge::CHAT_PARTICIPATION)?,
                removed(purge::DEV_MAIL)?,
                removed(purge::DEAD_LETTERS)?,
                d1::stmt(
                    db,
                    users::DELETE_IF_DUE,
                    &[s(id), i(now), i(unverified_cutoff)],
                )?,
            ],
        )
        .await?;
        purged += results.last().map_or(0, d1::changes);
    }
    Ok(purged)
}
