-- A metadata_extraction trace names the fields it extracted (docs/metadata.md, docs/observability.md).
ALTER TABLE ingest_traces ADD COLUMN IF NOT EXISTS fields jsonb;
