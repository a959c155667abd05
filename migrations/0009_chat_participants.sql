-- The chat rooms each user has joined: when the account is purged, the messages it left in
-- each room's Durable Object are kept under the account's pseudonym, without its name.
CREATE TABLE chat_participants (
    user_id   TEXT    NOT NULL,
    stream_id TEXT    NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, stream_id)
) STRICT;
