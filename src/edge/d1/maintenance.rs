//! The scheduled sweeps and the account purge: every statement bounded, every purge statement
//! re-checking that the account is still due (so one restored meanwhile is left alone).

use super::{all, batch, changes, i, run, s, stmt};
use crate::core::error::{AppError, Within};
use crate::core::sql::{
    audit, chat_participants, credits, dead_letters, dev_mailbox, email_changes, email_tokens,
    mfa_challenges, oauth_codes, oauth_states, purge, queue_deliveries, sessions, siwe_nonces,
    tickets, users, webauthn_challenges, workspace_invitations, workspaces,
};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

const DAY: i64 = 86_400;

/// How long what the sweeps delete is kept (from configuration).
pub struct Retention {
    pub audit_s: i64,
    pub dead_letters_s: i64,
}

/// Runs each sweep once as of `now`, deleting at most `batch` rows each; returns every
/// sweep's name and how many rows it removed (or why it failed: one failing sweep does not
/// stop the others).
pub async fn sweep(
    db: &D1Database,
    now: i64,
    batch: i64,
    keep: &Retention,
) -> Vec<(&'static str, Result<usize, AppError>)> {
    let steps: [(&str, &str, Vec<JsValue>); 16] = [
        // Realtime tickets live 30 s; used ones are kept no longer than expired ones.
        (
            "dead_realtime_tickets",
            tickets::PURGE_DEAD,
            vec![i(now), i(batch)],
        ),
        // OAuth sign-ins in flight live 10 min, one-time codes 60 s.
        (
            "dead_oauth_states",
            oauth_states::PURGE_DEAD,
            vec![i(now), i(batch)],
        ),
        (
            "dead_oauth_codes",
            oauth_codes::PURGE_DEAD,
            vec![i(now), i(batch)],
        ),
        // SIWE nonces live 5 min.
        (
            "dead_siwe_nonces",
            siwe_nonces::PURGE_DEAD,
            vec![i(now), i(batch)],
        ),
        // Idempotency keys answer replays for a week.
        (
            "old_idempotency_keys",
            credits::PURGE_OLD_KEYS,
            vec![i(now - 7 * DAY), i(batch)],
        ),
        // Sessions that ended over a day ago (the objects keep their own state).
        (
            "ended_sessions",
            sessions::PURGE_ENDED,
            vec![i(now - DAY), i(now - DAY), i(batch)],
        ),
        // Verification and reset tokens that expired or were used over a day ago.
        (
            "dead_email_tokens",
            email_tokens::PURGE_DEAD,
            vec![i(now - DAY), i(now - DAY), i(batch)],
        ),
        // E-mail change links, likewise.
        (
            "dead_email_changes",
            email_changes::PURGE_DEAD,
            vec![i(now - DAY), i(now - DAY), i(batch)],
        ),
        (
            "expired_audit_events",
            audit::PURGE_OLD,
            vec![i(now - keep.audit_s), i(batch)],
        ),
        (
            "old_dev_mail",
            dev_mailbox::PURGE_OLD,
            vec![i(now - 7 * DAY)],
        ),
        (
            "old_dead_letters",
            dead_letters::PURGE_OLD,
            vec![i(now - keep.dead_letters_s), i(batch)],
        ),
        (
            "old_queue_deliveries",
            queue_deliveries::PURGE_OLD,
            vec![i(now - 7 * DAY)],
        ),
        // Workspaces past their deletion grace period (members and invitations cascade).
        (
            "deleted_workspaces",
            workspaces::PURGE_DUE,
            vec![i(now), i(batch)],
        ),
        // Workspace invitations that expired, were used or revoked over 30 days ago (they
        // name the invitee's address).
        (
            "dead_workspace_invitations",
            workspace_invitations::PURGE_DEAD,
            vec![
                i(now - 30 * DAY),
                i(now - 30 * DAY),
                i(now - 30 * DAY),
                i(batch),
            ],
        ),
        // Sign-ins that never got their second factor (an `mfa_token` lives minutes).
        (
            "expired_mfa_challenges",
            mfa_challenges::PURGE_EXPIRED,
            vec![i(now), i(batch)],
        ),
        // Passkey challenges never answered (they live minutes).
        (
            "expired_webauthn_challenges",
            webauthn_challenges::PURGE_EXPIRED,
            vec![i(now), i(batch)],
        ),
    ];
    let mut done = Vec::with_capacity(steps.len());
    for (name, sql, args) in steps {
        done.push((name, run(db, sql, &args).await));
    }
    done
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct StreamIdRow {
    stream_id: String,
}

/// Accounts past their deletion grace period, and unverified ones created before
/// `unverified_cutoff`, at most `limit`.
pub async fn due_for_purge(
    db: &D1Database,
    now: i64,
    unverified_cutoff: i64,
    limit: i64,
) -> Result<Vec<String>, AppError> {
    let rows: Vec<IdRow> = all(
        db,
        users::DUE_FOR_PURGE,
        &[i(now), i(unverified_cutoff), i(limit)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The chat rooms (stream ids) a user has written in.
pub async fn rooms_of(db: &D1Database, user_id: &str) -> Result<Vec<String>, AppError> {
    let rows: Vec<StreamIdRow> = all(db, chat_participants::STREAMS_OF, &[s(user_id)]).await?;
    Ok(rows.into_iter().map(|r| r.stream_id).collect())
}

/// Erases the account in one batch if it is still due: what names the person goes, what
/// others' records depend on stays under `alias`. Returns whether the account row went.
pub async fn purge_account(
    db: &D1Database,
    id: &str,
    alias: &str,
    now: i64,
    unverified_cutoff: i64,
) -> Result<bool, AppError> {
    let guard = || [s(id), i(now), i(unverified_cutoff)];
    let renamed = |sql: &str| {
        let mut args = vec![s(alias), s(id)];
        args.extend(guard());
        stmt(db, sql, &args)
    };
    let removed = |sql: &str| {
        let mut args = vec![s(id)];
        args.extend(guard());
        stmt(db, sql, &args)
    };
    let mentions = {
        let mut args = vec![s(id), s(alias), s(id)];
        args.extend(guard());
        stmt(db, purge::IDEMPOTENCY_MENTIONS, &args)?
    };
    let results = batch(
        db,
        vec![
            stmt(
                db,
                audit::ANONYMISE_IF_DUE,
                &[s(alias), s(id), s(id), i(now), i(unverified_cutoff)],
            )?,
            renamed(purge::LEDGER)?,
            renamed(purge::BALANCE)?,
            renamed(purge::TIPS_SENT)?,
            renamed(purge::TIPS_RECEIVED)?,
            renamed(purge::AUDIT_ACTOR)?,
            renamed(purge::API_KEYS_CREATED_BY)?,
            renamed(purge::REFERRAL_KEYS_CREATED_BY)?,
            renamed(purge::REFERRAL_KEYS_USED_BY)?,
            mentions,
            removed(purge::IDEMPOTENCY_KEYS)?,
            removed(purge::TICKETS)?,
            removed(purge::CHAT_PARTICIPATION)?,
            removed(purge::DEV_MAIL)?,
            removed(purge::DEAD_LETTERS)?,
            removed(purge::WORKSPACE_INVITATIONS)?,
            // Before the user row goes (and its memberships with it).
            {
                let mut args = vec![s(id), s(id), s(id)];
                args.extend(guard());
                stmt(db, purge::WORKSPACE_SUCCESSION, &args)?
            },
            {
                let mut args = vec![i(now), s(id), s(id)];
                args.extend(guard());
                stmt(db, purge::SOLE_MEMBER_WORKSPACES, &args)?
            },
            stmt(
                db,
                users::DELETE_IF_DUE,
                &[s(id), i(now), i(unverified_cutoff)],
            )?,
        ],
    )
    .await
    .within("d1.maintenance.purge_account")?;
    Ok(results.last().map_or(0, changes) == 1)
}
