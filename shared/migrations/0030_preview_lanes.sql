-- preview lanes (docs/architecture.md, "Interactive work first")
-- which copy of a proxy's preview job holds it: of the upload's job and a prioritize's copy,
-- the first to claim renders and the other finds it taken
ALTER TABLE proxy_images ADD COLUMN IF NOT EXISTS preview_claim uuid;
-- set once when the owner asks for the photo first (a repeat queues nothing)
ALTER TABLE proxy_images ADD COLUMN IF NOT EXISTS preview_prioritized_at timestamptz;
-- when the current preview was made: a re-render renders what is older than its start
ALTER TABLE proxy_images ADD COLUMN IF NOT EXISTS preview_rendered_at timestamptz;
-- a user's uploads of the last minute (automatic bulk lane)
CREATE INDEX IF NOT EXISTS proxy_images_user_uploaded ON proxy_images (user_id, uploaded_at);
CREATE INDEX IF NOT EXISTS proxy_images_prioritized ON proxy_images (user_id)
    WHERE preview_prioritized_at IS NOT NULL AND preview_status IN ('pending', 'processing');

-- an operator's re-render: every proxy's preview (or one user's) queued again on the bulk lane,
-- a batch per transaction from `position`, so a run cut short resumes where it stopped
CREATE TABLE IF NOT EXISTS rerender_runs (
    id           bigserial   PRIMARY KEY,
    requested_by text        NOT NULL,
    user_id      text,
    status       text        NOT NULL DEFAULT 'queueing'
        CHECK (status IN ('queueing', 'queued', 'cancelled')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    position     uuid,
    total        integer     NOT NULL,
    queued       integer     NOT NULL DEFAULT 0,
    finished_at  timestamptz
);
