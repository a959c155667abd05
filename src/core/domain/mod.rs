//! Validated newtypes. Each has one fallible constructor; core functions take only these.

mod email;
mod ids;
mod number;
mod password;
mod text;

pub use email::Email;
pub use ids::{new_uuid, ApiKeyId, InvitationId, JobId, SessionId, StreamId, UserId, WorkspaceId};
pub use number::{opt_whole_i64, whole_i64, whole_number, whole_u32};
pub use password::Password;
pub use text::{DeviceName, DisplayName};

use std::fmt;

/// Why a value from a client was refused. Rendered as 400 `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationError {
    EmailInvalid,
    EmailTooLong,
    PasswordTooShort {
        min: usize,
    },
    PasswordTooLong {
        max: usize,
    },
    TextTooLong {
        field: &'static str,
        max: usize,
    },
    TextHasControlCharacters {
        field: &'static str,
    },
    InvalidId {
        field: &'static str,
    },
    Invalid {
        field: &'static str,
        why: &'static str,
    },
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmailInvalid => write!(f, "email is not a valid e-mail address"),
            Self::EmailTooLong => write!(
                f,
                "email is too long (local part at most 64, whole at most 254 characters)"
            ),
            Self::PasswordTooShort { min } => {
                write!(f, "password must be at least {min} characters")
            }
            Self::PasswordTooLong { max } => write!(f, "password must be at most {max} characters"),
            Self::TextTooLong { field, max } => {
                write!(f, "{field} must be at most {max} characters")
            }
            Self::TextHasControlCharacters { field } => {
                write!(f, "{field} must not contain control characters")
            }
            Self::InvalidId { field } => write!(f, "{field} is not a valid id"),
            Self::Invalid { field, why } => write!(f, "{field} {why}"),
        }
    }
}

impl std::error::Error for ValidationError {}

/// Lifecycle state of an account, as stored and as shown in `User.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    PendingVerification,
    Active,
    Deactivated,
    PendingDeletion,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingVerification => "pending_verification",
            Self::Active => "active",
            Self::Deactivated => "deactivated",
            Self::PendingDeletion => "pending_deletion",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending_verification" => Self::PendingVerification,
            "active" => Self::Active,
            "deactivated" => Self::Deactivated,
            "pending_deletion" => Self::PendingDeletion,
            _ => return None,
        })
    }
}
