-- Resumable uploads are serialized by a lease on their row instead of a session advisory
-- lock: a request takes the lease (a token and an expiry) in one short statement, renews it
-- while it reads the body, and records its offset only if it still holds it. No database
-- connection is held while a slow client sends; a crashed process's lease simply expires.
ALTER TABLE tus_uploads ADD COLUMN IF NOT EXISTS lease_token uuid;
ALTER TABLE tus_uploads ADD COLUMN IF NOT EXISTS lease_until timestamptz;
-- every row counts toward its user's caps until it is swept
CREATE INDEX IF NOT EXISTS tus_uploads_user ON tus_uploads (user_id);
