-- Per-user caps (core::caps): each cap is counted inside its INSERT, so these indexes keep the
-- counts to the user's own rows.
CREATE INDEX realtime_tickets_user_idx ON realtime_tickets (user_id, expires_at);
CREATE INDEX jobs_user_status_idx ON jobs (user_id, status);
CREATE INDEX streams_owner_status_idx ON streams (owner_id, status);

-- One row per open WebSocket, for the per-user socket cap: inserted (under the cap) before the
-- handshake, deleted by the holding object when the socket closes. `holder` names that object,
-- so that a row whose socket vanished without a close event can be checked and dropped.
CREATE TABLE open_sockets (
    id        TEXT    PRIMARY KEY,
    user_id   TEXT    NOT NULL,
    holder    TEXT    NOT NULL,
    opened_at INTEGER NOT NULL
) STRICT;
CREATE INDEX open_sockets_user_idx ON open_sockets (user_id);
