//! Jobs in D1: every state change is one conditional statement or one batch (see `sql::jobs`).

use super::{all, batch, changes, first, i, opt, s, stmt};
use crate::core::domain::{JobId, UserId};
use crate::core::error::{AppError, Faulty, Within};
use crate::core::jobs::{Job, JobStatus};
use crate::core::sql::{credits, jobs, Violation, BALANCE_NOT_NEGATIVE};
use crate::edge::rand;
use serde::Deserialize;
use serde_json::Value;
use worker::D1Database;

/// The `jobs` row as D1 returns it; turned into the core `Job` at once.
#[derive(Debug, Clone, Deserialize)]
struct JobRow {
    /// The list position (rowid), present in list queries.
    #[serde(default)]
    seq: i64,
    id: String,
    user_id: String,
    kind: String,
    input: String,
    status: String,
    attempts: i64,
    max_attempts: i64,
    cost: i64,
    charged: i64,
    refunded: i64,
    result: Option<String>,
    error: Option<String>,
    request_hash: String,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl JobRow {
    fn into_job(self) -> Result<Job, AppError> {
        const OP: &str = "d1.jobs.row";
        Ok(Job {
            id: JobId::parse(&self.id).fault(OP)?,
            user_id: UserId::parse(&self.user_id).fault(OP)?,
            status: JobStatus::parse(&self.status)
                .ok_or_else(|| AppError::fault(OP, "unknown status"))?,
            input: serde_json::from_str(&self.input).fault(OP)?,
            result: self
                .result
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .fault(OP)?,
            kind: self.kind,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            cost: self.cost,
            charged: self.charged != 0,
            refunded: self.refunded != 0,
            error: self.error,
            request_hash: self.request_hash,
            created_at: self.created_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
        })
    }
}

fn job(row: Option<JobRow>) -> Result<Option<Job>, AppError> {
    row.map(JobRow::into_job).transpose()
}

pub struct NewJob<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub kind: &'a str,
    pub input: &'a Value,
    pub max_attempts: i64,
    pub cost: i64,
    pub key: &'a str,
    pub request_hash: &'a str,
    pub now: i64,
    /// Most unfinished (queued or running) jobs a user may have.
    pub cap: u32,
}

/// `None`: the key exists already, or the user has the cap of unfinished jobs (nothing
/// inserted either way; `by_key` tells which).
pub async fn insert(db: &D1Database, j: &NewJob<'_>) -> Result<Option<Job>, AppError> {
    let row = first(
        db,
        jobs::INSERT,
        &[
            s(j.id),
            s(j.user_id),
            s(j.kind),
            s(&j.input.to_string()),
            i(j.max_attempts),
            i(j.cost),
            s(j.key),
            s(j.request_hash),
            i(j.now),
            i(j.now),
            s(j.user_id),
            i(i64::from(j.cap)),
        ],
    )
    .await?;
    job(row)
}

pub async fn by_key(db: &D1Database, user_id: &str, key: &str) -> Result<Option<Job>, AppError> {
    job(first(db, jobs::BY_KEY, &[s(user_id), s(key)]).await?)
}

pub async fn by_id(db: &D1Database, id: &str) -> Result<Option<Job>, AppError> {
    job(first(db, jobs::BY_ID, &[s(id)]).await?)
}

pub async fn list(
    db: &D1Database,
    user_id: &str,
    status: Option<JobStatus>,
    below: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, Job)>, AppError> {
    let below = i(below.unwrap_or(super::NO_CURSOR));
    let status = status.map(JobStatus::as_str);
    let rows: Vec<JobRow> = all(
        db,
        jobs::LIST,
        &[s(user_id), opt(status), opt(status), below, i(limit)],
    )
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.seq, r.into_job()?)))
        .collect()
}

pub enum Claim {
    Claimed,
    /// Someone else claimed it, or it is no longer queued.
    NotClaimed,
    InsufficientCredits,
}

/// queued -> running. The first claim also charges the cost, in the same batch; a retry's
/// claim charges nothing.
pub async fn claim(db: &D1Database, job: &Job, now: i64) -> Result<Claim, AppError> {
    if job.charged {
        let n = super::run(db, jobs::CLAIM_RETRY, &[i(now), s(&job.id)]).await?;
        return Ok(if n == 1 {
            Claim::Claimed
        } else {
            Claim::NotClaimed
        });
    }
    let statements = vec![
        stmt(db, credits::ENSURE, &[s(&job.user_id), i(now)])?,
        stmt(db, jobs::CLAIM_CHARGING, &[i(now), s(&job.id)])?,
        stmt(
            db,
            jobs::DEBIT_IF_CLAIMED,
            &[i(job.cost), i(now), s(&job.user_id)],
        )?,
        stmt(
            db,
            jobs::CHARGE_IF_DEBITED,
            &[
                s(&rand::uuid()?),
                s(&job.user_id),
                i(-job.cost),
                s(&job.id),
                i(now),
            ],
        )?,
    ];
    match batch(db, statements).await.within("d1.jobs.claim") {
        Ok(results) => Ok(if changes(&results[1]) == 1 {
            Claim::Claimed
        } else {
            Claim::NotClaimed
        }),
        Err(AppError::Unexpected(fault))
            if Violation::parse(fault.cause())
                .is_some_and(|v| v.is_check(BALANCE_NOT_NEGATIVE)) =>
        {
            super::run(db, jobs::FAIL_UNFUNDED, &[i(now), i(now), s(&job.id)]).await?;
            Ok(Claim::InsufficientCredits)
        }
        Err(e) => Err(e),
    }
}

pub async fn succeed(
    db: &D1Database,
    job: &Job,
    attempt: i64,
    result: &Value,
    now: i64,
) -> Result<bool, AppError> {
    let n = super::run(
        db,
        jobs::SUCCEED,
        &[
            s(&result.to_string()),
            i(now),
            i(now),
            s(&job.id),
            i(attempt),
        ],
    )
    .await?;
    Ok(n == 1)
}

pub async fn requeue(
    db: &D1Database,
    job: &Job,
    attempt: i64,
    error: &str,
    next_attempt_at: i64,
    now: i64,
) -> Result<bool, AppError> {
    let n = super::run(
        db,
        jobs::REQUEUE,
        &[s(error), i(next_attempt_at), i(now), s(&job.id), i(attempt)],
    )
    .await?;
    Ok(n == 1)
}

/// running -> failed with the charge refunded, once. `false`: another actor finished it.
pub async fn give_up(
    db: &D1Database,
    job: &Job,
    attempt: i64,
    error: &str,
    now: i64,
) -> Result<bool, AppError> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                jobs::GIVE_UP,
                &[s(error), i(now), i(now), s(&job.id), i(attempt)],
            )?,
            stmt(
                db,
                jobs::REFUND_IF_FAILED,
                &[s(&job.user_id), i(job.cost), i(now)],
            )?,
            stmt(
                db,
                jobs::REFUND_ENTRY_IF_CREDITED,
                &[
                    s(&rand::uuid()?),
                    s(&job.user_id),
                    i(job.cost),
                    s(&job.id),
                    i(now),
                ],
            )?,
        ],
    )
    .await?;
    Ok(changes(&results[0]) == 1)
}

pub async fn stale(
    db: &D1Database,
    running_before: i64,
    queued_before: i64,
    limit: i64,
) -> Result<Vec<Job>, AppError> {
    let rows: Vec<JobRow> = all(
        db,
        jobs::STALE,
        &[i(running_before), i(queued_before), i(limit)],
    )
    .await?;
    rows.into_iter().map(JobRow::into_job).collect()
}

pub async fn touch_queued(db: &D1Database, id: &str, now: i64) -> Result<(), AppError> {
    super::run(db, jobs::TOUCH_QUEUED, &[i(now), s(id)]).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct StatusCount {
    pub status: String,
    pub n: i64,
}

pub async fn counts(db: &D1Database) -> Result<Vec<StatusCount>, AppError> {
    all(db, jobs::COUNT_BY_STATUS, &[]).await
}
