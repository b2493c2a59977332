"""In-memory fakes of the job functions' dependencies, for unit tests (no broker, no PostgreSQL).

Each implements the interface its real counterpart does, and `make lint` runs
mypy --strict on this package, so a fake cannot drift from the interface:
- `shared.storage.memory.MemoryStore` (in `shared/`: the storage contract
  suite runs on it too) for `ObjectStore`;
- `records.FakeProxies` for `shared.db.previews.PreviewRecords` and
  `shared.db.enhancements.EnhanceRecords` (the proxy rows);
- `finalize_records.FakeFinalizeRecords` (the proxy rows too, with Images,
  companions and directory sequences) for
  `shared.db.finalize_records.FinalizeRecords`; its guards are held to the
  SQL's by `tests/integration/test_finalize_records_contract.py`;
- `jobs.InProcess` for `shared.worker.render_protocol.Renderer` (the render
  in this process, libvips and all), and `jobs.Recorder` for `ctx.report`.
The finalize job's metadata read stays the real ExifTool (`AsyncExifTool`).
"""
