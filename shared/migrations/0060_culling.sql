-- Culling: the photographer's pick/reject flag and 0-5 star rating on a proxy
-- (set through PATCH /v1/proxies/{uuid}; the rating becomes the Image's), the
-- preview and thumbnail an Image keeps in the final store beside its original,
-- and the lookup that answers a re-upload of a kept photo.
ALTER TABLE proxy_images
    ADD COLUMN IF NOT EXISTS flag   text     CHECK (flag IN ('pick', 'reject')),
    ADD COLUMN IF NOT EXISTS rating smallint CHECK (rating BETWEEN 0 AND 5);

ALTER TABLE images
    ADD COLUMN IF NOT EXISTS preview_path   text,
    ADD COLUMN IF NOT EXISTS thumbnail_path text;

CREATE INDEX IF NOT EXISTS images_user_sha ON images (user_id, sha256);
CREATE INDEX IF NOT EXISTS images_user_created ON images (user_id, id DESC);
