-- Key allocation asks "does another proxy already hold this final key?" for
-- every finalize job; without an index that is a scan of every proxy waiting
-- (20 ms at 22,000 proxies, most of a finalize's time).
CREATE INDEX IF NOT EXISTS proxy_images_final_key ON proxy_images (final_key) WHERE final_key IS NOT NULL;
