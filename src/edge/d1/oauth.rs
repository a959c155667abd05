//! `oauth_states` and `oauth_codes`: sign-ins in flight, each record taken once.

use super::{first, i, opt, run, s};
use crate::core::browser::cookies::Mode;
use crate::core::error::{AppError, Faulty};
use crate::core::idp::flow::{Code, Pending};
use crate::core::sql::{oauth_codes, oauth_states};
use serde::Deserialize;
use worker::D1Database;

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Bearer => "bearer",
        Mode::Cookie => "cookie",
    }
}

pub async fn insert_state(
    db: &D1Database,
    state_hash: &str,
    provider: &str,
    p: &Pending,
    now: i64,
) -> Result<(), AppError> {
    run(
        db,
        oauth_states::INSERT,
        &[
            s(state_hash),
            s(provider),
            s(&p.redirect_uri),
            s(mode_str(p.mode)),
            s(&p.nonce),
            s(&p.code_verifier),
            opt(p.app_code_challenge.as_deref()),
            opt(p.browser_hash.as_deref()),
            opt(p.link_user_id.as_deref()),
            i(now),
            i(p.expires_at),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct StateRow {
    redirect_uri: String,
    mode: String,
    nonce: String,
    code_verifier: String,
    app_code_challenge: Option<String>,
    browser_hash: Option<String>,
    link_user_id: Option<String>,
    expires_at: i64,
}

/// Takes (deletes and returns) the state of `provider`; `None` when unknown or used.
pub async fn take_state(
    db: &D1Database,
    state_hash: &str,
    provider: &str,
) -> Result<Option<Pending>, AppError> {
    let row: Option<StateRow> =
        first(db, oauth_states::TAKE, &[s(state_hash), s(provider)]).await?;
    row.map(|r| {
        Ok(Pending {
            mode: Mode::parse(Some(&r.mode))
                .map_err(|_| "unknown mode")
                .fault("d1.oauth.state_row")?,
            redirect_uri: r.redirect_uri,
            nonce: r.nonce,
            code_verifier: r.code_verifier,
            app_code_challenge: r.app_code_challenge,
            browser_hash: r.browser_hash,
            link_user_id: r.link_user_id,
            expires_at: r.expires_at,
        })
    })
    .transpose()
}

pub async fn insert_code(
    db: &D1Database,
    code_hash: &str,
    user_id: &str,
    code_challenge: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    run(
        db,
        oauth_codes::INSERT,
        &[
            s(code_hash),
            s(user_id),
            opt(code_challenge),
            i(now),
            i(expires_at),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct CodeRow {
    user_id: String,
    code_challenge: Option<String>,
    expires_at: i64,
}

pub async fn take_code(db: &D1Database, code_hash: &str) -> Result<Option<Code>, AppError> {
    let row: Option<CodeRow> = first(db, oauth_codes::TAKE, &[s(code_hash)]).await?;
    Ok(row.map(|r| Code {
        user_id: r.user_id,
        code_challenge: r.code_challenge,
        expires_at: r.expires_at,
    }))
}
