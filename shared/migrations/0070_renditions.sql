-- Every rendition a proxy or an Image has (shared/imaging/renditions.py), by name:
-- {"preview": {"key": ..., "width": ..., "height": ...}, "thumbnail": {...}, ...}. A new rendition in
-- the list needs no column. preview_path and thumbnail_path stay, written in the same statements:
-- the preview's and thumbnail's keys, which the wire's preview_*/thumbnail_* fields and older code read.
ALTER TABLE proxy_images ADD COLUMN IF NOT EXISTS renditions jsonb NOT NULL DEFAULT '{}';
ALTER TABLE images ADD COLUMN IF NOT EXISTS renditions jsonb NOT NULL DEFAULT '{}';

-- what existing rows already have (the thumbnail's size was not recorded)
UPDATE proxy_images SET renditions = jsonb_strip_nulls(jsonb_build_object(
        'preview', CASE WHEN preview_path IS NOT NULL THEN jsonb_build_object(
                       'key', preview_path, 'width', preview_width, 'height', preview_height) END,
        'thumbnail', CASE WHEN thumbnail_path IS NOT NULL THEN jsonb_build_object('key', thumbnail_path) END))
 WHERE renditions = '{}' AND (preview_path IS NOT NULL OR thumbnail_path IS NOT NULL);

UPDATE images SET renditions = jsonb_strip_nulls(jsonb_build_object(
        'preview', CASE WHEN preview_path IS NOT NULL THEN jsonb_build_object(
                       'key', preview_path, 'width', metadata->'preview_size'->0,
                       'height', metadata->'preview_size'->1) END,
        'thumbnail', CASE WHEN thumbnail_path IS NOT NULL THEN jsonb_build_object('key', thumbnail_path) END))
 WHERE renditions = '{}' AND (preview_path IS NOT NULL OR thumbnail_path IS NOT NULL);
