//! D1 adapters: small named functions per table over the SQL constants of `core::sql`.
//! Rows that must change together go in one `batch()` (D1's transaction). The helpers that
//! prepare and run statements are private to this module and its children: no other code can
//! run D1 SQL.

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod credits;
pub mod deliveries;
pub mod email_changes;
pub mod identities;
pub mod jobs;
pub mod mailbox;
pub mod maintenance;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod referral_keys;
pub mod sessions;
pub mod signing_keys;
pub mod sockets;
pub mod streams;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod wallets;
pub mod workspaces;

use crate::core::error::{AppError, Faulty};
use serde::de::DeserializeOwned;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1DatabaseSession, D1PreparedStatement, D1Result};

/// What the statement helpers below need of a database: D1's plain binding (every query on
/// the primary) and a D1 session (`D1_READ_REPLICATION`: reads on a replica at least as new
/// as the session's bookmark) both prepare statements. The helpers take `&dyn Database`, so
/// a `&D1Database` passes unchanged and only the reads a replica may serve take `Reads`.
pub trait Database {
    fn statement(&self, sql: &str) -> D1PreparedStatement;
}

impl Database for D1Database {
    fn statement(&self, sql: &str) -> D1PreparedStatement {
        self.prepare(sql)
    }
}

impl Database for D1DatabaseSession {
    fn statement(&self, sql: &str) -> D1PreparedStatement {
        self.prepare(sql)
    }
}

/// Where a route's reads go (`Ctx::reads`): the primary, or the request's D1 session on a
/// replica route with read replication on. Writes never take this: they take `D1Database`.
pub enum Reads {
    Primary(D1Database),
    Replica(Rc<D1DatabaseSession>),
}

impl Database for Reads {
    fn statement(&self, sql: &str) -> D1PreparedStatement {
        match self {
            Self::Primary(db) => db.statement(sql),
            Self::Replica(session) => session.statement(sql),
        }
    }
}

/// The "below" bound of a first page: above any rowid or sequence number (2^53, the largest
/// integer a JS number carries exactly).
pub const NO_CURSOR: i64 = 1 << 53;

/// Splits the `limit + 1` rows of a page query into the page and, when there are more, the
/// position to continue below.
pub fn split_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    position: impl Fn(&T) -> i64,
) -> (Vec<T>, Option<i64>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next = if more {
        rows.last().map(position)
    } else {
        None
    };
    (rows, next)
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn i(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

fn opt(v: Option<&str>) -> JsValue {
    v.map(s).unwrap_or(JsValue::NULL)
}

/// A D1 error with the statement it came from (its opening words name it; SQL text never
/// holds values, those are bound).
fn in_statement(sql: &str) -> impl Fn(worker::Error) -> String + '_ {
    move |e| {
        let head: String = sql.chars().take(80).collect();
        format!("{e} (in `{head}`)")
    }
}

fn stmt(db: &dyn Database, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, AppError> {
    db.statement(sql)
        .bind(args)
        .map_err(in_statement(sql))
        .fault("d1.stmt")
}

async fn first<T: DeserializeOwned>(
    db: &dyn Database,
    sql: &str,
    args: &[JsValue],
) -> Result<Option<T>, AppError> {
    stmt(db, sql, args)?
        .first::<T>(None)
        .await
        .map_err(in_statement(sql))
        .fault("d1.first")
}

async fn all<T: DeserializeOwned>(
    db: &dyn Database,
    sql: &str,
    args: &[JsValue],
) -> Result<Vec<T>, AppError> {
    stmt(db, sql, args)?
        .all()
        .await
        .map_err(in_statement(sql))
        .fault("d1.all")?
        .results::<T>()
        .map_err(in_statement(sql))
        .fault("d1.all")
}

/// Runs a statement; returns the number of rows it changed.
async fn run(db: &dyn Database, sql: &str, args: &[JsValue]) -> Result<usize, AppError> {
    let result = stmt(db, sql, args)?
        .run()
        .await
        .map_err(in_statement(sql))
        .fault("d1.run")?;
    Ok(changes(&result))
}

/// One of the deletes guarded by "it is not the last way to sign in"
/// (`sql::*::DELETE_IF_NOT_LAST`: the row's key, then the user five times); `true` when the
/// row was removed.
async fn delete_unless_last(
    db: &dyn Database,
    sql: &str,
    key: &str,
    user_id: &str,
) -> Result<bool, AppError> {
    let u = s(user_id);
    let args = [s(key), u.clone(), u.clone(), u.clone(), u.clone(), u];
    Ok(first::<serde_json::Value>(db, sql, &args).await?.is_some())
}

async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<Vec<D1Result>, AppError> {
    db.batch(statements).await.fault("d1.batch")
}

/// The primary's bookmark now: one read in a D1 session whose first query goes to the
/// primary. Taken after a write route's work, so it covers every write the route made
/// (its own and its Durable Objects' mirror writes, which finish before it answers).
pub async fn primary_bookmark(db: &D1Database) -> Result<Option<String>, AppError> {
    let session = db
        .with_session(Some("first-primary"))
        .fault("d1.primary_bookmark")?;
    first::<serde_json::Value>(&session, crate::core::sql::health::PING, &[]).await?;
    session.get_bookmark().fault("d1.primary_bookmark")
}

/// Does D1 answer a query? (Readiness.)
pub async fn ping(db: &D1Database) -> bool {
    first::<serde_json::Value>(db, crate::core::sql::health::PING, &[])
        .await
        .is_ok_and(|r| r.is_some())
}

fn changes(result: &D1Result) -> usize {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0)
}

fn rows<T: DeserializeOwned>(result: &D1Result) -> Result<Vec<T>, AppError> {
    result.results::<T>().fault("d1.rows")
}
