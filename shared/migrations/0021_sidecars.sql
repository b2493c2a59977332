-- XMP sidecars (docs/metadata.md): held until their original's Image is written, then kept beside it.
CREATE TABLE IF NOT EXISTS sidecars (
    id            bigserial   PRIMARY KEY,
    user_id       text        NOT NULL,
    -- the file name without its extension, lower-cased: what pairs it with an original
    base_name     text        NOT NULL,
    original_name text        NOT NULL,
    temp_key      text        NOT NULL,
    sha256        text        NOT NULL,
    size          integer     NOT NULL,
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    proxy_uuid    uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS sidecars_proxy ON sidecars (proxy_uuid) WHERE proxy_uuid IS NOT NULL;
CREATE INDEX IF NOT EXISTS sidecars_waiting ON sidecars (user_id, base_name) WHERE proxy_uuid IS NULL;

ALTER TABLE images ADD COLUMN IF NOT EXISTS sidecar_path text;
