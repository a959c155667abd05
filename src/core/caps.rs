//! Per-user caps on what a user can hold open at once: realtime tickets, unfinished jobs, live
//! streams and WebSockets. The numbers are configuration; the check itself must not race, so
//! each one is a single conditional SQL statement (the count and the insert together, see
//! `core::sql`): D1 runs one statement at a time, so parallel requests cannot both take the last
//! slot.

use crate::core::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Unused, unexpired realtime tickets.
    pub tickets: u32,
    /// Jobs queued or running.
    pub queued_jobs: u32,
    pub live_streams: u32,
    /// Open WebSockets, chat rooms and the user channel together.
    pub sockets: u32,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            tickets: 20,
            queued_jobs: 10,
            live_streams: 5,
            sockets: 10,
        }
    }
}

/// Which cap a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Tickets,
    QueuedJobs,
    LiveStreams,
    Sockets,
}

/// How long a refused client should wait for a slot: tickets expire after their TTL, jobs and
/// sockets usually end within seconds.
const TICKETS_RETRY_S: u64 = 30;
const JOBS_RETRY_S: u64 = 10;
const SOCKETS_RETRY_S: u64 = 10;

impl Cap {
    /// The answer to a request over the cap. Tickets, jobs and sockets free themselves, so
    /// they are 429 with a `Retry-After`; a live stream only frees when its owner ends it, so
    /// that is a 409 naming what to do.
    pub fn refused(self) -> AppError {
        match self {
            Self::Tickets => AppError::RateLimited {
                retry_after_s: TICKETS_RETRY_S,
            },
            Self::QueuedJobs => AppError::RateLimited {
                retry_after_s: JOBS_RETRY_S,
            },
            Self::Sockets => AppError::RateLimited {
                retry_after_s: SOCKETS_RETRY_S,
            },
            Self::LiveStreams => AppError::Conflict {
                code: "too_many_live_streams",
                detail: "you have as many live streams as allowed; end one first".into(),
            },
        }
    }
}

/// The object that holds an open WebSocket, as recorded next to the socket's row (`open_sockets`),
/// so that rows whose socket vanished without a close event can be checked and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketHolder {
    /// The chat room of a stream (`Room`, named by the stream id).
    Room(String),
    /// A user's event channel (`UserChannel`, named by the user id).
    Channel(String),
}

impl SocketHolder {
    pub fn name(&self) -> String {
        match self {
            Self::Room(id) => format!("room:{id}"),
            Self::Channel(id) => format!("channel:{id}"),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.split_once(':')? {
            ("room", id) if !id.is_empty() => Some(Self::Room(id.to_owned())),
            ("channel", id) if !id.is_empty() => Some(Self::Channel(id.to_owned())),
            _ => None,
        }
    }
}

/// The rows of a user's sockets that their holders no longer have open: `rows` are
/// (socket id, holder name), `alive` the ids the holder reported open. Only rows of that holder
/// are judged.
pub fn vanished<'a>(rows: &'a [(String, String)], holder: &str, alive: &[String]) -> Vec<&'a str> {
    rows.iter()
        .filter(|(id, h)| h == holder && !alive.contains(id))
        .map(|(id, _)| id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_holders_round_trip_by_name() {
        for h in [
            SocketHolder::Room("s1".into()),
            SocketHolder::Channel("u1".into()),
        ] {
            assert_eq!(SocketHolder::parse(&h.name()), Some(h));
        }
        assert_eq!(SocketHolder::parse("room:"), None);
        assert_eq!(SocketHolder::parse("elsewhere:x"), None);
    }

    #[test]
    fn only_rows_of_the_asked_holder_that_it_does_not_hold_have_vanished() {
        let rows = vec![
            ("a".to_owned(), "room:s1".to_owned()),
            ("b".to_owned(), "room:s1".to_owned()),
            ("c".to_owned(), "channel:u1".to_owned()),
        ];
        assert_eq!(vanished(&rows, "room:s1", &["b".into()]), ["a"]);
        assert!(vanished(&rows, "channel:u1", &["c".into()]).is_empty());
    }

    #[test]
    fn caps_that_free_themselves_answer_429_with_a_wait() {
        for cap in [Cap::Tickets, Cap::QueuedJobs, Cap::Sockets] {
            let e = cap.refused();
            assert_eq!((e.status(), e.code()), (429, "rate_limited"));
            assert!(e.retry_after_s().is_some_and(|s| s >= 1));
        }
    }

    #[test]
    fn the_live_stream_cap_is_a_conflict_until_one_ends() {
        let e = Cap::LiveStreams.refused();
        assert_eq!((e.status(), e.code()), (409, "too_many_live_streams"));
        assert_eq!(e.retry_after_s(), None);
    }
}
