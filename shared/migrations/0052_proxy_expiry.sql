-- An unconfirmed proxy expires (PROPHOTO_PROXY_EXPIRY_DAYS after its upload, 30 by default):
-- the upload service's janitor then removes its objects and its row. The answer to the upload
-- and every view of the proxy say when. Proxies from before get the default from their upload.
ALTER TABLE proxy_images ADD COLUMN IF NOT EXISTS expires_at timestamptz;
UPDATE proxy_images SET expires_at = created_at + interval '30 days' WHERE expires_at IS NULL;
CREATE INDEX IF NOT EXISTS proxy_images_expiry ON proxy_images (expires_at) WHERE ingest_status IS NULL;
