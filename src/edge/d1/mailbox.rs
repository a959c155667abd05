use super::{all, i, run, s};
use crate::core::api::rfc3339;
use crate::core::error::AppError;
use crate::core::mail::Rendered;
use crate::core::sql::dev_mailbox;
use serde::{Deserialize, Serialize};
use worker::D1Database;

/// Stores a delivered message once per e-mail job id.
pub async fn insert(
    db: &D1Database,
    id: &str,
    to: &str,
    mail: &Rendered,
    now: i64,
) -> Result<(), AppError> {
    run(
        db,
        dev_mailbox::INSERT,
        &[
            s(id),
            s(to),
            s(&mail.subject),
            s(&mail.text),
            s(&mail.html),
            i(now),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Row {
    to_email: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: i64,
}

#[derive(Serialize)]
pub struct MessageView {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: String,
}

pub async fn list_for(db: &D1Database, to: &str) -> Result<Vec<MessageView>, AppError> {
    let rows: Vec<Row> = all(db, dev_mailbox::LIST_FOR, &[s(to)]).await?;
    Ok(rows
        .into_iter()
        .map(|r| MessageView {
            to: r.to_email,
            subject: r.subject,
            text: r.text_body,
            html: r.html_body,
            created_at: rfc3339(r.created_at),
        })
        .collect())
}
