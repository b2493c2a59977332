"""`prophoto`: the command-line client (upload, status, ingest, failed jobs) over the typed
client `prophoto.AsyncClient`; `prophoto dev` hands over to `services.dev`."""
