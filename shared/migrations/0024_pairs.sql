-- Pairs (docs/metadata.md, "Pairs"): a RAW and the camera JPEG of the same frame name each other;
-- a Live Photo's HEIC keeps its movie as a companion file. Sidecar rows also hold the movies
-- waiting for (or attached to) their photo, told apart by `kind`.
ALTER TABLE images
    ADD COLUMN IF NOT EXISTS paired_image_id bigint REFERENCES images (id) ON DELETE SET NULL,
    ADD COLUMN IF NOT EXISTS pair_kind       text CHECK (pair_kind IN ('raw+jpeg', 'live-photo')),
    ADD COLUMN IF NOT EXISTS live_video_path text;
CREATE INDEX IF NOT EXISTS images_user_pairing ON images (user_id, taken_at_local) WHERE paired_image_id IS NULL;

ALTER TABLE sidecars ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'xmp'
    CHECK (kind IN ('xmp', 'live-video'));
DROP INDEX IF EXISTS sidecars_proxy;
CREATE UNIQUE INDEX IF NOT EXISTS sidecars_proxy_kind ON sidecars (proxy_uuid, kind) WHERE proxy_uuid IS NOT NULL;
DROP INDEX IF EXISTS sidecars_waiting;
CREATE INDEX IF NOT EXISTS sidecars_waiting_kind ON sidecars (user_id, kind, base_name) WHERE proxy_uuid IS NULL;
