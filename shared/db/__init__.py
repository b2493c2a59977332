"""The database: the pool, and one repository module per table family.

Every statement on `proxy_images` lives here, in a function named for the
state change it makes (`claim_for_preview`, `mark_preview_ready`,
`reset_failed_preview`...), so the proxy lifecycle can be read in one place:

- `status`: the `ProxyStatus` (preview and enhancement) and `IngestStatus` values.
- `proxies`: a proxy's birth at upload, reads for its owner, deletion.
- `previews`: pending -> processing -> ready | failed, and back to pending on a retry.
- `enhancements`: the same walk for an enhanced preview.
- `ingests`: queued -> processing -> an Image (the proxy is deleted) | failed.
- `images`: the permanent `images` table and the per-directory sequences.
- `finalize_records`: what the finalize job needs of `proxies`, `ingests`,
  `images`, `sidecars` and `pairs`, as a protocol with its adapter on the pool.
- `tus`: `tus_uploads`, the resumable uploads (tus and the IETF draft) until they are accepted.
- `parked`: `parked_jobs`, the read model of the parking queues.

A function takes the pool, or a connection when the caller holds a
transaction (the outbox writes its job in the same one).
"""

from shared.db.pool import DatabaseUnreachable, Executor, create_pool, ensure_database

__all__ = ["DatabaseUnreachable", "Executor", "create_pool", "ensure_database"]
