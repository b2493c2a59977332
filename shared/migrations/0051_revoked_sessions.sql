-- Debug-page sessions ended by their owner (logout): the signed cookie names its session, and a
-- session listed here is refused until its own expiry, after which the row may go.
CREATE TABLE IF NOT EXISTS revoked_sessions (
    session_id  text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_sessions_expires ON revoked_sessions (expires_at);
