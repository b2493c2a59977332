-- a redelivered trace event (consumer died between commit and ack) must not become a second row:
-- the tracing service stores a digest of the message body and inserts with ON CONFLICT DO NOTHING
ALTER TABLE ingest_traces ADD COLUMN IF NOT EXISTS event_key text;
CREATE UNIQUE INDEX IF NOT EXISTS ingest_traces_event_key ON ingest_traces (event_key);
CREATE INDEX IF NOT EXISTS ingest_traces_method_time ON ingest_traces (method, created_at DESC, id DESC);
