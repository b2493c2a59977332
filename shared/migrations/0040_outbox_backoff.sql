-- per-row backoff of the outbox relay: a row the broker refused is not tried again before
-- this time (jittered, growing with `attempts`), so a failing row neither spins nor holds
-- back the rows behind it; NULL = due now
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz;
