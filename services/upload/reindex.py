"""Reindex: queue a metadata re-read of every existing Image (or one user's).

Operators run it (`POST /v1/reindex`, `prophoto reindex`) after the metadata
reader learned new fields. Each Image becomes one finalize job
(`FinalizeIngest.reindex_image_id`) recorded in the outbox a batch at a time,
each batch in its own transaction, so a huge library is queued without one
long transaction and a stop midway loses nothing already queued (run it
again: a re-read is idempotent). The finalize queue has no lanes: reindex
jobs wait behind the confirmed ingests already queued, and each is a read
of one file, short enough not to hold them back for long.
"""

from __future__ import annotations

from services.upload.deps import UploadContext
from shared.broker.outbox import enqueue
from shared.db import images
from shared.messages import FinalizeIngest

BATCH = 500


async def queue_reindex(ctx: UploadContext, user_id: str | None) -> int:
    """Queue a re-read of each Image (of `user_id`, or everyone's); returns how many were queued."""
    after, queued = 0, 0
    while True:
        async with ctx.pool.acquire() as conn, conn.transaction():
            rows = await images.reindex_batch(conn, user_id, after, BATCH)
            for row in rows:
                await enqueue(conn, ctx.topology, FinalizeIngest(
                    uuid=row["proxy_uuid"], user_id=row["user_id"], reindex_image_id=row["id"]))
        if not rows:
            return queued
        queued += len(rows)
        after = rows[-1]["id"]
        ctx.relay.wake()
