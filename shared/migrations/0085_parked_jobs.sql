-- The read model of parked jobs: one row per message held in a parking queue (`<queue>.failed`),
-- written by whoever parks it (after the broker confirmed the parked copy) and by the reconciler
-- (messages the broker dead-lettered itself, or a park whose row was lost to a crash). Listings
-- and counts read these rows and never take messages off the broker; replay and remove find the
-- exact messages by `park_id` (the copy's `job-park-id` header) and delete the row once acted on.
CREATE TABLE IF NOT EXISTS parked_jobs (
    park_id      text PRIMARY KEY,
    queue        text NOT NULL,          -- the work queue whose parking queue holds the message
    uuid         text,                   -- the proxy's, from the payload
    user_id      text,
    tags         text[] NOT NULL DEFAULT '{}',
    reason       text,
    error        text,
    attempt      integer NOT NULL DEFAULT 1,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS parked_jobs_user ON parked_jobs (user_id, parked_at);
CREATE INDEX IF NOT EXISTS parked_jobs_queue ON parked_jobs (queue);
CREATE INDEX IF NOT EXISTS parked_jobs_tags ON parked_jobs USING gin (tags);
