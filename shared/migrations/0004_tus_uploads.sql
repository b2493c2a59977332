-- Resumable (tus) uploads: one row per upload from creation until it expires.
-- `offset` and `hash_state` move together, in the transaction that records a
-- request's bytes; `storage` is the partial-object backend's own state (S3
-- multipart id, parts and tail). After the last byte the row keeps the outcome
-- (the proxy, or the problem that refused the file) until it expires.
CREATE TABLE IF NOT EXISTS tus_uploads (
    id          uuid PRIMARY KEY,
    user_id     text NOT NULL,
    length      bigint NOT NULL CHECK (length >= 0),
    "offset"    bigint NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
    filename    text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}',
    storage     jsonb NOT NULL DEFAULT '{}',
    hash_state  bytea NOT NULL,
    state       text NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'accepted', 'rejected')),
    sha256      text,
    proxy_uuid  uuid,
    problem     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS tus_uploads_user_receiving ON tus_uploads (user_id) WHERE state = 'receiving';
CREATE INDEX IF NOT EXISTS tus_uploads_expires ON tus_uploads (expires_at);
