-- Workspaces (tenants), their members and invitations.
--
-- Every query on these tables is scoped by the workspace id. A workspace being deleted is
-- `pending_deletion` (invisible to everyone: 404) until the cron purge deletes it after
-- WORKSPACE_DELETION_GRACE_SECONDS; its members and invitations cascade.
CREATE TABLE workspaces (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    timezone         TEXT,
    locale           TEXT,
    -- Verified users whose e-mail address is at this domain may join as members.
    auto_join_domain TEXT,
    status           TEXT    NOT NULL DEFAULT 'active'
        CONSTRAINT workspace_status CHECK (status IN ('active', 'pending_deletion')),
    deletion_due_at  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX workspaces_deletion_due_idx ON workspaces (status, deletion_due_at);

-- `seq` orders a workspace's members and a user's workspaces (the paging cursor). The last
-- admin guard lives in the statements that demote or remove (sql::workspace_members).
CREATE TABLE workspace_members (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL CONSTRAINT workspace_member_role CHECK (role IN ('admin', 'member')),
    joined_at    INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CONSTRAINT workspace_member_once UNIQUE (workspace_id, user_id)
) STRICT;
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id, seq);
CREATE INDEX workspace_members_role_idx ON workspace_members (workspace_id, role);

-- Single-use, expiring, revocable. Only the SHA-256 of the token is stored; the token travels
-- in the invitation mail.
CREATE TABLE workspace_invitations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        TEXT    NOT NULL,
    role         TEXT    NOT NULL CONSTRAINT workspace_invitation_role CHECK (role IN ('admin', 'member')),
    token_hash   TEXT    NOT NULL UNIQUE,
    invited_by   TEXT    REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    accepted_at  INTEGER,
    accepted_by  TEXT    REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX workspace_invitations_workspace_idx ON workspace_invitations (workspace_id, seq);
CREATE INDEX workspace_invitations_expires_idx ON workspace_invitations (expires_at);
