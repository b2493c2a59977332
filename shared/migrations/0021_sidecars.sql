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

-- the colour space the file's metadata declares, named apart from the one the render found (0010)
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'images' AND column_name = 'color_space') THEN
        ALTER TABLE images RENAME COLUMN color_space TO declared_colour_space;
    END IF;
END $$;
