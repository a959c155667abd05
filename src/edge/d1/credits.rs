//! The credits ledger. Every movement is one D1 batch: the balance changes, the ledger
//! entries, and (for idempotent requests) the remembered response. The balance CHECK
//! (`balance >= 0`) fails the whole batch on an overdraft, so concurrent spends can never
//! overdraw: D1 runs batches one at a time, each sees the previous one's balance.

use super::{all, batch, first, i, opt, rows, s, stmt, Database};
use crate::core::api::rfc3339;
use crate::core::credits::{EntryKind, Tip};
use crate::core::error::{AppError, Faulty, Within};
use crate::core::sql::{credits, tips, Violation, BALANCE_NOT_NEGATIVE, IDEMPOTENCY_KEY_TAKEN};
use crate::edge::rand;
use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

#[derive(Deserialize)]
struct BalanceRow {
    balance: i64,
}

pub async fn balance(db: &dyn Database, user_id: &str) -> Result<i64, AppError> {
    let row: Option<BalanceRow> = first(db, credits::BALANCE, &[s(user_id)]).await?;
    Ok(row.map_or(0, |r| r.balance))
}

#[derive(Debug, Deserialize)]
pub struct Remembered {
    pub fingerprint: String,
    pub status: i64,
    pub body: String,
}

pub async fn recall(
    db: &D1Database,
    user_id: &str,
    scope: &str,
    key: &str,
) -> Result<Option<Remembered>, AppError> {
    first(db, credits::RECALL, &[s(user_id), s(scope), s(key)]).await
}

pub struct Idem<'a> {
    pub user_id: &'a str,
    pub scope: &'a str,
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub status: u16,
    /// The response body; `$.balance` is filled in with the user's balance after the batch.
    pub body: &'a serde_json::Value,
}

fn remember(db: &D1Database, idem: &Idem<'_>, now: i64) -> Result<D1PreparedStatement, AppError> {
    stmt(
        db,
        credits::REMEMBER,
        &[
            s(idem.user_id),
            s(idem.scope),
            s(idem.key),
            s(idem.fingerprint),
            i(i64::from(idem.status)),
            s(&idem.body.to_string()),
            s(idem.user_id),
            i(now),
        ],
    )
}

fn entry(
    db: &D1Database,
    user_id: &str,
    kind: EntryKind,
    amount: i64,
    ref_id: Option<&str>,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    stmt(
        db,
        credits::INSERT_ENTRY,
        &[
            s(&rand::uuid()?),
            s(user_id),
            s(kind.as_str()),
            i(amount),
            opt(ref_id),
            i(now),
        ],
    )
}

fn credit(
    db: &D1Database,
    user_id: &str,
    amount: i64,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    stmt(db, credits::CREDIT, &[s(user_id), i(amount), i(now)])
}

/// Two statements: the row must exist for the CHECK to bite.
fn debit(
    db: &D1Database,
    user_id: &str,
    amount: i64,
    now: i64,
) -> Result<[D1PreparedStatement; 2], AppError> {
    Ok([
        stmt(db, credits::ENSURE, &[s(user_id), i(now)])?,
        stmt(db, credits::DEBIT, &[i(amount), i(now), s(user_id)])?,
    ])
}

/// How a movement batch ended.
pub enum Moved {
    /// Applied; the remembered response (status, body) of the request.
    Done(u16, serde_json::Value),
    /// The key was remembered meanwhile by a concurrent request.
    KeyTaken,
    InsufficientCredits,
}

/// The two constraint violations a movement batch can end with that are answers, not faults.
fn classify(err: &AppError) -> Option<Moved> {
    let AppError::Unexpected(fault) = err else {
        return None;
    };
    match Violation::parse(fault.cause())? {
        v if v.is_check(BALANCE_NOT_NEGATIVE) => Some(Moved::InsufficientCredits),
        v if v.is_unique(IDEMPOTENCY_KEY_TAKEN) => Some(Moved::KeyTaken),
        _ => None,
    }
}

#[derive(Deserialize)]
struct StatusBody {
    status: i64,
    body: String,
}

/// Runs one movement plus the remembered response, as one batch.
pub async fn apply(
    db: &D1Database,
    movement: &Movement<'_>,
    idem: &Idem<'_>,
    now: i64,
) -> Result<Moved, AppError> {
    let mut statements = statements(db, movement, now)?;
    statements.push(remember(db, idem, now)?);
    match batch(db, statements).await.within("d1.credits.apply") {
        Ok(results) => {
            let last = results
                .last()
                .ok_or_else(|| AppError::fault("d1.credits.apply", "empty batch"))?;
            let row = rows::<StatusBody>(last)?
                .into_iter()
                .next()
                .ok_or_else(|| AppError::fault("d1.credits.apply", "no remembered response"))?;
            let body = serde_json::from_str(&row.body).fault("d1.credits.apply")?;
            Ok(Moved::Done(row.status as u16, body))
        }
        Err(e) => classify(&e).ok_or(e),
    }
}

#[derive(Deserialize)]
struct EntryRow {
    seq: i64,
    id: String,
    kind: String,
    amount: i64,
    ref_id: Option<String>,
    created_at: i64,
}

#[derive(Serialize)]
pub struct EntryView {
    pub id: String,
    pub kind: String,
    pub amount: i64,
    pub ref_id: Option<String>,
    pub created_at: String,
}

pub async fn entries(
    db: &dyn Database,
    user_id: &str,
    below_seq: Option<i64>,
    limit: i64,
) -> Result<(Vec<EntryView>, Option<i64>), AppError> {
    let rows: Vec<EntryRow> = all(
        db,
        credits::ENTRIES,
        &[
            s(user_id),
            i(below_seq.unwrap_or(super::NO_CURSOR)),
            i(limit + 1),
        ],
    )
    .await?;
    let (rows, next) = super::split_page(rows, limit, |r| r.seq);
    Ok((
        rows.into_iter()
            .map(|r| EntryView {
                id: r.id,
                kind: r.kind,
                amount: r.amount,
                ref_id: r.ref_id,
                created_at: rfc3339(r.created_at),
            })
            .collect(),
        next,
    ))
}

#[derive(Deserialize)]
struct TipRow {
    seq: i64,
    id: String,
    stream_id: String,
    from_user_id: String,
    to_user_id: String,
    amount: i64,
    message: Option<String>,
    created_at: i64,
}

/// A movement of credits, applied as one batch by [`apply`].
pub enum Movement<'a> {
    /// Credits from nowhere to `user_id` (a development self-grant or an admin's grant).
    Grant { user_id: &'a str, amount: i64 },
    /// From the tipper to the stream's owner, with both ledger entries and the tip's row.
    Tip(&'a Tip),
}

fn statements(
    db: &D1Database,
    movement: &Movement<'_>,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, AppError> {
    match movement {
        Movement::Grant { user_id, amount } => Ok(vec![
            credit(db, user_id, *amount, now)?,
            entry(db, user_id, EntryKind::Grant, *amount, None, now)?,
        ]),
        Movement::Tip(tip) => tip_statements(db, tip, now),
    }
}

fn tip_statements(
    db: &D1Database,
    tip: &Tip,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, AppError> {
    let mut v: Vec<D1PreparedStatement> = debit(db, &tip.from_user_id, tip.amount, now)?.into();
    v.push(credit(db, &tip.to_user_id, tip.amount, now)?);
    v.push(entry(
        db,
        &tip.from_user_id,
        EntryKind::TipSent,
        -tip.amount,
        Some(&tip.id),
        now,
    )?);
    v.push(entry(
        db,
        &tip.to_user_id,
        EntryKind::TipReceived,
        tip.amount,
        Some(&tip.id),
        now,
    )?);
    v.push(stmt(
        db,
        tips::INSERT,
        &[
            s(&tip.id),
            s(&tip.stream_id),
            s(&tip.from_user_id),
            s(&tip.to_user_id),
            i(tip.amount),
            opt(tip.message.as_deref()),
            i(now),
        ],
    )?);
    Ok(v)
}

/// Tips sent or received, newest first, below the cursor (a list position).
pub async fn list_tips(
    db: &dyn Database,
    user_id: &str,
    received: bool,
    below: Option<i64>,
    limit: i64,
) -> Result<(Vec<Tip>, Option<i64>), AppError> {
    let sql = if received { tips::RECEIVED } else { tips::SENT };
    let rows: Vec<TipRow> = all(
        db,
        sql,
        &[
            s(user_id),
            i(below.unwrap_or(super::NO_CURSOR)),
            i(limit + 1),
        ],
    )
    .await?;
    let (rows, next) = super::split_page(rows, limit, |r| r.seq);
    Ok((
        rows.into_iter()
            .map(|r| Tip {
                id: r.id,
                stream_id: r.stream_id,
                from_user_id: r.from_user_id,
                to_user_id: r.to_user_id,
                amount: r.amount,
                message: r.message,
                created_at: rfc3339(r.created_at),
            })
            .collect(),
        next,
    ))
}
