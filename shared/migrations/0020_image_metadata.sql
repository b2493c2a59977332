-- Metadata a photographer can trust (docs/metadata.md): the capture time as an instant only when
-- its zone is known, the wall-clock time always; rating, captions, rights, places, keywords;
-- lens, colour and HDR; the ids that pair a RAW with its JPEG and a Live Photo with its movie.
ALTER TABLE images
    ADD COLUMN IF NOT EXISTS taken_at_local          timestamp,
    ADD COLUMN IF NOT EXISTS taken_at_offset_minutes smallint,
    ADD COLUMN IF NOT EXISTS taken_at_zone           text,
    ADD COLUMN IF NOT EXISTS taken_at_zone_source    text
        CHECK (taken_at_zone_source IN ('offset', 'gps_time', 'gps_position', 'unknown')),
    ADD COLUMN IF NOT EXISTS rating                  smallint CHECK (rating BETWEEN -1 AND 5),
    ADD COLUMN IF NOT EXISTS label                   text,
    ADD COLUMN IF NOT EXISTS title                   text,
    ADD COLUMN IF NOT EXISTS caption                 text,
    ADD COLUMN IF NOT EXISTS creator                 text,
    ADD COLUMN IF NOT EXISTS copyright               text,
    ADD COLUMN IF NOT EXISTS credit                  text,
    ADD COLUMN IF NOT EXISTS location                jsonb,
    ADD COLUMN IF NOT EXISTS keywords                text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS keyword_paths           text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS lens                    text,
    ADD COLUMN IF NOT EXISTS color_space             text,
    ADD COLUMN IF NOT EXISTS bit_depth               smallint,
    ADD COLUMN IF NOT EXISTS hdr_gain_map            text,
    ADD COLUMN IF NOT EXISTS image_unique_id         text,
    ADD COLUMN IF NOT EXISTS content_identifier      text,
    ADD COLUMN IF NOT EXISTS metadata_read_at        timestamptz;

-- rows written before: `taken_at` held a time without offset as if it were UTC; it says no more
UPDATE images
   SET taken_at_local = (metadata->>'taken_at')::timestamp,
       taken_at_zone_source = CASE WHEN metadata->>'taken_at_tz' IS NULL THEN 'unknown' ELSE 'offset' END,
       taken_at = CASE WHEN metadata->>'taken_at_tz' IS NULL THEN NULL ELSE taken_at END
 WHERE taken_at_local IS NULL
   AND metadata->>'taken_at' ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}';
UPDATE images
   SET taken_at_offset_minutes = round(extract(epoch FROM taken_at_local - (taken_at AT TIME ZONE 'UTC')) / 60)
 WHERE taken_at IS NOT NULL AND taken_at_local IS NOT NULL AND taken_at_offset_minutes IS NULL;

CREATE INDEX IF NOT EXISTS images_user_local_time ON images (user_id, taken_at_local, id);
CREATE INDEX IF NOT EXISTS images_user_unique_id ON images (user_id, image_unique_id)
    WHERE image_unique_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS images_user_content_id ON images (user_id, content_identifier)
    WHERE content_identifier IS NOT NULL;
