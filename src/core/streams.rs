//! Live streams: the `Stream` entity, its text fields, who may change it, and who may tip it.

use crate::core::api::rfc3339;
use crate::core::domain::{StreamId, UserId, ValidationError};
use crate::core::error::AppError;
use serde::Serialize;

pub const TITLE_MAX: usize = 120;
pub const DESCRIPTION_MAX: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Live,
    Ended,
}

impl StreamStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }
}

/// A stream as stored. Built by `edge::d1::streams` from its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub id: StreamId,
    pub owner_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub status: StreamStatus,
    pub created_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamView {
    pub id: String,
    pub owner_id: String,
    pub title: String,
    pub description: Option<String>,
    pub status: StreamStatus,
    pub created_at: String,
    pub updated_at: String,
    pub ended_at: Option<String>,
}

impl Stream {
    pub fn is_live(&self) -> bool {
        self.status == StreamStatus::Live
    }

    pub fn view(&self) -> StreamView {
        StreamView {
            id: self.id.to_string(),
            owner_id: self.owner_id.to_string(),
            title: self.title.clone(),
            description: self.description.clone(),
            status: self.status,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            ended_at: self.ended_at.map(rfc3339),
        }
    }

    /// Only the owner may change or end a stream.
    pub fn require_owner(&self, user: &UserId) -> Result<(), AppError> {
        if self.owner_id == *user {
            Ok(())
        } else {
            Err(owner_only())
        }
    }
}

/// The 403 for anyone but the owner (also when the owner changed under a guarded update).
pub fn owner_only() -> AppError {
    AppError::Forbidden("only the stream's owner can do this".into())
}

/// A stream's title: trimmed, 1 to 120 characters, no control characters.
pub fn title(raw: &str) -> Result<String, ValidationError> {
    let t = text(raw, "title", TITLE_MAX)?;
    if t.is_empty() {
        return Err(ValidationError::Invalid {
            field: "title",
            why: "must not be empty",
        });
    }
    Ok(t)
}

/// A stream's description: trimmed, at most 2,000 characters, line breaks but no other
/// control characters; empty means none.
pub fn description(raw: &str) -> Result<Option<String>, ValidationError> {
    let d = text(raw, "description", DESCRIPTION_MAX)?;
    Ok(Some(d).filter(|d| !d.is_empty()))
}

fn text(raw: &str, field: &'static str, max: usize) -> Result<String, ValidationError> {
    let t = raw.trim();
    if t.chars().count() > max {
        return Err(ValidationError::TextTooLong { field, max });
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::TextHasControlCharacters { field });
    }
    Ok(t.to_owned())
}

/// May `tipper` tip `stream` now? `may_post` is the room's word on whether the tipper may
/// post in its chat (it matters only when the tip carries a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TipDecision {
    Allowed,
    OwnStream,
    StreamEnded,
    /// Muted in or removed from the room: a message would post where they may not.
    MessageNotAllowed,
}

pub fn decide_tip(
    stream: &Stream,
    tipper: &UserId,
    has_message: bool,
    may_post: bool,
) -> TipDecision {
    if stream.owner_id == *tipper {
        TipDecision::OwnStream
    } else if !stream.is_live() {
        TipDecision::StreamEnded
    } else if has_message && !may_post {
        TipDecision::MessageNotAllowed
    } else {
        TipDecision::Allowed
    }
}

impl TipDecision {
    pub fn into_result(self) -> Result<(), AppError> {
        match self {
            Self::Allowed => Ok(()),
            Self::OwnStream => Err(AppError::InvalidRequest(
                "you cannot tip your own stream".into(),
            )),
            Self::StreamEnded => Err(AppError::Conflict {
                code: "stream_ended",
                detail: "the stream has ended".into(),
            }),
            Self::MessageNotAllowed => Err(AppError::Forbidden(
                "you are muted in or removed from this stream's chat: tip without a message".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(status: StreamStatus) -> Stream {
        Stream {
            id: StreamId::new([2; 16]),
            owner_id: UserId::new([3; 16]),
            title: "t".into(),
            description: None,
            status,
            created_at: 0,
            updated_at: 0,
            ended_at: None,
        }
    }

    #[test]
    fn a_tip_goes_to_someone_elses_live_stream_and_a_message_only_where_one_may_post() {
        let live = stream(StreamStatus::Live);
        let viewer = UserId::new([4; 16]);
        let owner = live.owner_id.clone();
        assert_eq!(
            decide_tip(&live, &viewer, false, false),
            TipDecision::Allowed
        );
        assert_eq!(decide_tip(&live, &viewer, true, true), TipDecision::Allowed);
        assert_eq!(
            decide_tip(&live, &viewer, true, false),
            TipDecision::MessageNotAllowed
        );
        assert_eq!(
            decide_tip(&live, &owner, false, true),
            TipDecision::OwnStream
        );
        let ended = stream(StreamStatus::Ended);
        assert_eq!(
            decide_tip(&ended, &viewer, false, true),
            TipDecision::StreamEnded
        );
        let e = TipDecision::StreamEnded.into_result().unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "stream_ended"));
    }

    #[test]
    fn only_the_owner_changes_a_stream() {
        let s = stream(StreamStatus::Live);
        assert!(s.require_owner(&s.owner_id.clone()).is_ok());
        assert_eq!(
            s.require_owner(&UserId::new([9; 16])).unwrap_err().status(),
            403
        );
    }

    #[test]
    fn titles_and_descriptions_are_trimmed_bounded_plain_text() {
        assert_eq!(title("  Live now ").unwrap(), "Live now");
        assert!(title("   ").is_err());
        assert!(title(&"x".repeat(121)).is_err());
        assert!(title("bell\u{7}").is_err());
        assert_eq!(description("a\nb").unwrap().as_deref(), Some("a\nb"));
        assert_eq!(description("  ").unwrap(), None);
        assert!(description("tab\there").is_err());
        assert!(description(&"x".repeat(2001)).is_err());
        let v = serde_json::to_value(stream(StreamStatus::Ended).view()).unwrap();
        assert_eq!(v["status"], "ended");
    }
}
