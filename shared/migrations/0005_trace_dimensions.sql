-- the dimensions of what an attempt made (a thumbnail's width and height), so the debug page
-- shows every thumbnail attempt with its size; null for attempts that make no image
ALTER TABLE ingest_traces ADD COLUMN IF NOT EXISTS width integer;
ALTER TABLE ingest_traces ADD COLUMN IF NOT EXISTS height integer;
