use super::{all, first, i, opt, run, s, stmt, users::UserRow, Database};
use crate::core::account::User;
use crate::core::error::{AppError, Within};
use crate::core::session::SessionState;
use crate::core::sql::sessions;
use serde::Deserialize;
use worker::D1Database;

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub device_name: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert(db: &D1Database, n: &NewSession<'_>) -> Result<(), AppError> {
    run(
        db,
        sessions::INSERT,
        &[
            s(n.id),
            s(n.user_id),
            opt(n.device_name),
            opt(n.ip),
            opt(n.user_agent),
            i(n.now),
            i(n.now),
            i(n.expires_at),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
}

pub async fn list_active(
    db: &dyn Database,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRow>, AppError> {
    all(db, sessions::LIST_ACTIVE, &[s(user_id), i(now)]).await
}

#[derive(Debug, Deserialize)]
struct AuthRow {
    session_user_id: String,
    revoked_at: Option<i64>,
    expires_at: i64,
    #[serde(flatten)]
    user: UserRow,
}

/// A session with its owner and account, for the per-request check (`core::session::check`).
pub struct AuthLookup {
    pub owner: String,
    pub session: SessionState,
    pub user: User,
}

/// One read: the session's row joined to its account's.
pub async fn auth_lookup(
    db: &dyn Database,
    session_id: &str,
) -> Result<Option<AuthLookup>, AppError> {
    let row = first::<AuthRow>(db, sessions::AUTH_LOOKUP, &[s(session_id)])
        .await
        .within("d1.sessions.auth_lookup")?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(AuthLookup {
        owner: row.session_user_id,
        session: SessionState {
            id: session_id.to_owned(),
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        },
        user: row.user.into_user()?,
    }))
}

pub async fn touch_and_extend(
    db: &D1Database,
    session_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    run(
        db,
        sessions::TOUCH_AND_EXTEND,
        &[i(now), i(expires_at), s(session_id)],
    )
    .await?;
    Ok(())
}

/// Renames one of `user_id`'s active sessions; `None` when there is no such session.
pub async fn rename(
    db: &D1Database,
    user_id: &str,
    session_id: &str,
    device_name: Option<&str>,
    now: i64,
) -> Result<Option<SessionRow>, AppError> {
    first(
        db,
        sessions::RENAME,
        &[opt(device_name), s(session_id), s(user_id), i(now)],
    )
    .await
}

/// A change to a session that its `UserSessions` object made and D1 must learn.
pub enum Mirrored<'a> {
    Revoked {
        id: &'a str,
        reason: &'a str,
        at: i64,
    },
    Extended {
        id: &'a str,
        expires_at: i64,
    },
}

/// Writes the object's pending session changes to D1 in one batch (the per-request check reads
/// them there). Each is idempotent, so a retry after a partial failure changes nothing twice.
pub async fn mirror(db: &D1Database, changes: &[Mirrored<'_>]) -> Result<(), AppError> {
    let statements = changes
        .iter()
        .map(|c| match c {
            Mirrored::Revoked { id, reason, at } => {
                stmt(db, sessions::REVOKE, &[i(*at), s(reason), s(id)])
            }
            Mirrored::Extended { id, expires_at } => {
                stmt(db, sessions::EXTEND, &[i(*expires_at), s(id)])
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    super::batch(db, statements)
        .await
        .within("d1.sessions.mirror")?;
    Ok(())
}
