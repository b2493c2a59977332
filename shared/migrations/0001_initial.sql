-- proxies: uploads waiting for review (temporary files)
CREATE TABLE IF NOT EXISTS proxy_images (
    uuid               uuid PRIMARY KEY,
    user_id            text        NOT NULL,
    original_name      text        NOT NULL,
    ext                text        NOT NULL,
    mime               text        NOT NULL,
    format             text        NOT NULL,
    size               bigint      NOT NULL,
    sha256             text        NOT NULL,
    temp_key           text        NOT NULL,
    exif_thumb_key     text,
    metadata           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    preview_status     text        NOT NULL DEFAULT 'pending'
        CHECK (preview_status IN ('pending', 'processing', 'ready', 'failed')),
    preview_path       text,
    thumbnail_path     text,
    preview_width      integer,
    preview_height     integer,
    preview_method     text,
    preview_degraded   text,
    preview_error      text,
    preview_attempts   integer     NOT NULL DEFAULT 0,
    enhancement_status text
        CHECK (enhancement_status IN ('pending', 'processing', 'ready', 'failed')),
    enhancement_error  text,
    ingest_status      text
        CHECK (ingest_status IN ('queued', 'processing', 'failed')),
    ingest_tags        text[]      NOT NULL DEFAULT '{}',
    ingest_association jsonb       NOT NULL DEFAULT '{}'::jsonb,
    metadata_error     text,
    final_key          text,
    sequence           integer,
    image_id           bigint,
    uploaded_at        timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS proxy_images_user_sha ON proxy_images (user_id, sha256);
CREATE INDEX IF NOT EXISTS proxy_images_user_status ON proxy_images (user_id, preview_status, created_at);

-- transactional outbox: a job is durable once its row commits with the proxy
CREATE TABLE IF NOT EXISTS outbox (
    id           bigserial PRIMARY KEY,
    exchange     text        NOT NULL,
    routing_key  text        NOT NULL,
    message_id   text,
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    body         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- permanent images
CREATE TABLE IF NOT EXISTS images (
    id            bigserial PRIMARY KEY,
    proxy_uuid    uuid        NOT NULL UNIQUE,
    user_id       text        NOT NULL,
    disk          text        NOT NULL,
    path          text        NOT NULL,
    original_name text        NOT NULL,
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    tags          text[]      NOT NULL DEFAULT '{}',
    association   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    sha256        text        NOT NULL,
    size          bigint      NOT NULL,
    taken_at      timestamptz,
    camera_make   text,
    camera_model  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (disk, path)
);
CREATE INDEX IF NOT EXISTS images_user_taken ON images (user_id, taken_at, id);
CREATE INDEX IF NOT EXISTS images_tags ON images USING gin (tags);

-- one counter per (user, directory): sequence numbers for final keys
CREATE TABLE IF NOT EXISTS directory_sequences (
    user_id   text    NOT NULL,
    directory text    NOT NULL,
    last_seq  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, directory)
);

-- every attempt of every step
CREATE TABLE IF NOT EXISTS ingest_traces (
    id          bigserial PRIMARY KEY,
    uuid        uuid        NOT NULL,
    user_id     text,
    trace_type  text        NOT NULL,
    method      text        NOT NULL,
    success     boolean     NOT NULL,
    reason      text,
    duration_ms double precision NOT NULL,
    result_size bigint,
    attempt     integer     NOT NULL DEFAULT 1,
    service     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ingest_traces_uuid ON ingest_traces (uuid, created_at);
CREATE INDEX IF NOT EXISTS ingest_traces_type_time ON ingest_traces (trace_type, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS ingest_traces_time ON ingest_traces (created_at DESC, id DESC);
