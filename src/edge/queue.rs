//! Queue consumers. The e-mail queue renders and delivers each message on its own and acks or
//! retries it with backoff; after `EMAIL_MAX_ATTEMPTS` (or a permanent refusal) it keeps the
//! message in D1 `dead_letters` for inspection, without its tokens. The queue's own dead-letter
//! queue is the backstop, whose consumer keeps messages the same way.

use crate::core::config::{Config, EmailProvider};
use crate::core::error::{AppError, Faulty};
use crate::core::mail::{
    backoff_s, describe_ttl, outcome_for_status, redact_secrets, render, retry_or_give_up, wanted,
    EmailJob, MailKind, QueueOutcome, Rendered, RetryPolicy, Template,
};
use crate::core::preferences::Preferences;
use crate::edge::ctx::{config, now_s};
use crate::edge::d1;
use worker::{
    Env, Fetch, Headers, Message, MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder,
    Request, RequestInit,
};

pub const EMAIL_QUEUE: &str = "edgeward-email";
pub const JOBS_QUEUE: &str = "edgeward-jobs";
pub const JOBS_DLQ: &str = "edgeward-jobs-dlq";

pub async fn consume(batch: MessageBatch<serde_json::Value>, env: Env) {
    let queue = batch.queue();
    let messages = match batch.messages() {
        Ok(m) => m,
        Err(e) => {
            worker::console_error!("queue {queue}: undecodable batch: {e}");
            batch.retry_all();
            return;
        }
    };
    for msg in messages {
        let outcome = match queue.as_str() {
            EMAIL_QUEUE => deliver_email(&msg, &env).await,
            JOBS_QUEUE => crate::edge::jobs::process(&msg, &env).await,
            _ => keep_dead_letter(&queue, &msg, &env).await,
        };
        match outcome {
            QueueOutcome::Ack => msg.ack(),
            QueueOutcome::Retry { delay_s } => msg.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay_s)
                    .build(),
            ),
            QueueOutcome::DeadLetter => {
                // Permanent failure: keep it where operators look, stop retrying.
                let _ = keep_dead_letter(&queue, &msg, &env).await;
                msg.ack();
            }
        }
    }
}

async fn count_attempt(env: &Env, id: &str) -> Result<u32, AppError> {
    let db = env
        .d1(crate::core::bindings::DB)
        .fault("queue.count_attempt")?;
    d1::deliveries::count_attempt(&db, id, now_s()).await
}

async fn deliver_email(msg: &Message<serde_json::Value>, env: &Env) -> QueueOutcome {
    let job: EmailJob = match serde_json::from_value(msg.body().clone()) {
        Ok(j) => j,
        Err(e) => {
            worker::console_error!("email: undecodable message {}: {e}", msg.id());
            return QueueOutcome::DeadLetter;
        }
    };
    let attempt = count_attempt(env, &job.id).await.unwrap_or(1);
    let cfg = match config(env) {
        Ok(c) => c,
        Err(e) => {
            worker::console_error!("email: configuration: {e}");
            return QueueOutcome::Retry {
                delay_s: backoff_s(10, attempt),
            };
        }
    };
    let policy = RetryPolicy {
        max_attempts: cfg.email_max_attempts,
        base_s: cfg.email_retry_base_s,
    };
    let outcome = match deliver_if_wanted(env, &cfg, &job, attempt, &policy).await {
        Ok(outcome) => outcome,
        Err(e) => {
            worker::console_error!("email {}: {e}", job.id);
            retry_or_give_up(attempt, &policy)
        }
    };
    worker::console_log!(
        "{}",
        serde_json::json!({"level": "info", "msg": "email", "job": job.id, "attempt": attempt, "outcome": format!("{outcome:?}")})
    );
    outcome
}

/// Optional mails follow the recipient's preferences as they are at delivery; security mails
/// go out whatever they say.
async fn deliver_if_wanted(
    env: &Env,
    cfg: &Config,
    job: &EmailJob,
    attempt: u32,
    policy: &RetryPolicy,
) -> Result<QueueOutcome, AppError> {
    let kind = job.template.kind();
    if kind != MailKind::Security {
        let db = env
            .d1(crate::core::bindings::DB)
            .fault("queue.deliver_if_wanted")?;
        let prefs = d1::users::by_email(&db, &job.to)
            .await?
            .map(|u| Preferences::from_stored(u.notification_prefs.as_deref()));
        if !wanted(kind, prefs.as_ref()) {
            worker::console_log!(
                "{}",
                serde_json::json!({"level": "info", "msg": "email not wanted", "job": job.id, "kind": format!("{kind:?}")})
            );
            return Ok(QueueOutcome::Ack);
        }
    }
    let ttl = match job.template {
        Template::PasswordReset { .. } | Template::AccountLocked { .. } => {
            describe_ttl(cfg.reset_ttl_s)
        }
        Template::WorkspaceInvitation { .. } => describe_ttl(cfg.invitation_ttl_s),
        _ => describe_ttl(cfg.verification_ttl_s),
    };
    let mail = render(&job.template, &cfg.app_base_url, &ttl);
    match &cfg.email_provider {
        EmailProvider::Log => deliver_to_mailbox(env, cfg, job, &mail).await,
        EmailProvider::Http { api_url, api_key } => {
            deliver_http(cfg, api_url, api_key.expose(), job, &mail, attempt, policy).await
        }
    }
}

/// The `log` provider: the dev mailbox in development (no address is logged in full).
async fn deliver_to_mailbox(
    env: &Env,
    cfg: &Config,
    job: &EmailJob,
    mail: &Rendered,
) -> Result<QueueOutcome, AppError> {
    if cfg.is_development() {
        let db = env
            .d1(crate::core::bindings::DB)
            .fault("queue.deliver_to_mailbox")?;
        d1::mailbox::insert(&db, &job.id, &job.to, mail, now_s()).await?;
    }
    Ok(QueueOutcome::Ack)
}

/// A Resend-compatible API: `POST {api_url}/emails`. The job id is the idempotency key, so a
/// redelivered message is not sent twice.
async fn deliver_http(
    cfg: &Config,
    api_url: &str,
    api_key: &str,
    job: &EmailJob,
    mail: &Rendered,
    attempt: u32,
    policy: &RetryPolicy,
) -> Result<QueueOutcome, AppError> {
    let body = serde_json::json!({
        "from": cfg.email_from,
        "to": [job.to],
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
    });
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).fault("queue.deliver_http");
    set("authorization", &format!("Bearer {api_key}"))?;
    set("content-type", "application/json")?;
    set("idempotency-key", &job.id)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(wasm_bindgen::JsValue::from_str(&body.to_string())));
    let req =
        Request::new_with_init(&format!("{api_url}/emails"), &init).fault("queue.deliver_http")?;
    let resp = Fetch::Request(req)
        .send()
        .await
        .fault("queue.deliver_http")?;
    Ok(outcome_for_status(resp.status_code(), attempt, policy))
}

async fn keep_dead_letter(
    queue: &str,
    msg: &Message<serde_json::Value>,
    env: &Env,
) -> QueueOutcome {
    let stored = async {
        let db = env
            .d1(crate::core::bindings::DB)
            .fault("queue.keep_dead_letter")?;
        // Kept for inspection, but never with a usable link token in it.
        let body = redact_secrets(msg.body()).to_string();
        d1::deliveries::keep_dead_letter(&db, &msg.id(), queue, &body, now_s()).await
    }
    .await;
    match stored {
        Ok(_) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"level": "error", "msg": "dead letter", "queue": queue, "id": msg.id()})
            );
            QueueOutcome::Ack
        }
        Err(e) => {
            worker::console_error!("dead letter {}: {e}", msg.id());
            QueueOutcome::Retry { delay_s: 60 }
        }
    }
}
