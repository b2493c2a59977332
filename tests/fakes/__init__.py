"""In-memory fakes of the job functions' dependencies, for unit tests (no broker, no PostgreSQL).

Each implements the interface its real counterpart does, and `make lint` runs
mypy --strict on this package, so a fake cannot drift from the interface:
- `shared.storage.memory.MemoryStore` (in `shared/`: the storage contract
  suite runs on it too) for `ObjectStore`;
- `records.FakePreviewRecords` for `shared.db.previews.PreviewRecords`;
- `jobs.InProcess` for the preview job's `Renderer` (the render in this
  process, libvips and all), and `jobs.Recorder` for `ctx.report`.
"""
