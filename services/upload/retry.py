"""Second chances: retry a failed proxy, and put a proxy back in shape before its parked job is replayed.

A retry removes the parked message first when it can; if one survives,
replaying it later is harmless: the worker finishes or skips a settled proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from services.upload.deps import UploadContext, parked_of, shards_of
from shared.broker.outbox import enqueue
from shared.db import enhancements, ingests, previews, proxies
from shared.db.status import IngestStatus, ProxyStatus
from shared.errors import Conflict, NotFound
from shared.lanes import preview_job
from shared.messages import FinalizeIngest, Lane


@dataclass
class Retried:
    requeued: str  # preview | ingest
    removed_parked: int


async def retry(ctx: UploadContext, user_id: str, uuid: UUID) -> Retried:
    """Requeue whichever of the preview or the ingest failed (the ingest once one was confirmed)."""
    row = await proxies.get_proxy_for_user(ctx.pool, user_id, uuid)
    if row is None:
        raise NotFound(f"no proxy {uuid}")
    if row["preview_status"] == ProxyStatus.FAILED and row["ingest_status"] is None:
        removed = 0
        for lane in Lane:  # parked in whichever lane it was in
            removed += await parked_of(ctx).remove(ctx.topology.lane_queue(lane), str(uuid))
        async with ctx.pool.acquire() as conn, conn.transaction():
            if await previews.reset_failed_preview(conn, uuid, user_id) is None:
                raise Conflict("the preview is no longer failed", title="Not failed")
            # somebody is waiting for this one: the interactive lane
            shard = await shards_of(ctx).choose(conn, Lane.INTERACTIVE, user_id)
            await enqueue(conn, ctx.topology,
                          preview_job(uuid, user_id, Lane.INTERACTIVE, row["uploaded_at"], shard=shard))
        ctx.relay.wake()
        return Retried("preview", removed)
    if row["ingest_status"] == IngestStatus.FAILED:
        removed = await parked_of(ctx).remove(ctx.settings.queue_finalize, str(uuid))
        if not await requeue_failed_ingest(ctx, user_id, uuid):
            raise Conflict("the ingest is no longer failed", title="Not failed")
        return Retried("ingest", removed)
    raise Conflict("neither the preview nor the ingest has failed", title="Nothing to retry")


async def requeue_failed_ingest(ctx: UploadContext, user_id: str, uuid: UUID) -> bool:
    """failed -> queued with a fresh finalize job; False when the ingest is not failed."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await ingests.requeue_failed_ingest(conn, uuid, user_id)
        if row is None:
            return False
        await enqueue(conn, ctx.topology, FinalizeIngest(
            uuid=uuid, user_id=user_id, image_tags=list(row["ingest_tags"] or []),
            association=dict(row["ingest_association"] or {})))
    ctx.relay.wake()
    return True


def reset_before_replay(ctx: UploadContext, queue: str) -> Callable[[str], Awaitable[None]]:
    """Before a parked job goes back, put its proxy back in the state the job expects."""
    async def reset(uuid: str) -> None:
        if ctx.topology.lane_of(queue) is not None:
            await previews.reset_failed_preview(ctx.pool, UUID(uuid))
        elif queue == ctx.settings.queue_finalize:
            await ingests.requeue_failed_ingest(ctx.pool, UUID(uuid))
        elif queue == ctx.settings.queue_enhance:
            await enhancements.reset_failed_enhancement(ctx.pool, UUID(uuid))
    return reset
