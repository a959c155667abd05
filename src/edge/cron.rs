//! Scheduled maintenance: bounded, idempotent steps, each logged with what it did.

use crate::core::sql::{dev_mailbox, email_tokens, queue_deliveries, sessions};
use crate::edge::ctx::now_s;
use crate::edge::d1;
use worker::Env;

/// Rows one step may delete per run, so a run stays within the platform's limits.
const BATCH: i64 = 500;
const DAY: i64 = 86_400;

pub async fn run(cron: &str, env: &Env) {
    let now = now_s();
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            worker::console_error!("cron: no DB binding: {e}");
            return;
        }
    };
    let steps: [(&str, &str, Vec<wasm_bindgen::JsValue>); 4] = [
        // Sessions that ended over a day ago (the objects keep their own state).
        (
            "ended_sessions",
            sessions::PURGE_ENDED,
            vec![d1::i(now - DAY), d1::i(now - DAY), d1::i(BATCH)],
        ),
        // Verification and reset tokens that expired or were used over a day ago.
        (
            "dead_email_tokens",
            email_tokens::PURGE_DEAD,
            vec![d1::i(now - DAY), d1::i(now - DAY), d1::i(BATCH)],
        ),
        (
            "old_dev_mail",
            dev_mailbox::PURGE_OLD,
            vec![d1::i(now - 7 * DAY)],
        ),
        (
            "old_queue_deliveries",
            queue_deliveries::PURGE_OLD,
            vec![d1::i(now - 7 * DAY)],
        ),
    ];
    for (name, sql, args) in steps {
        let line = match d1::run(&db, sql, &args).await {
            Ok(n) => {
                serde_json::json!({"level": "info", "msg": "cron", "cron": cron, "step": name, "deleted": n})
            }
            Err(e) => {
                serde_json::json!({"level": "error", "msg": "cron", "cron": cron, "step": name, "error": e.to_string()})
            }
        };
        worker::console_log!("{line}");
    }
}
