"""A photo somebody is looking at comes first: one copy of its preview job at the front of the lane.

`POST /v1/proxies/{uuid}/prioritize` marks a pending proxy as asked for and,
in the same transaction, records a copy of its preview job for the
on-demand queue (the front of the interactive lane). The mark is set once:
a repeat finds it and queues nothing. Whichever copy reaches a worker first
claims the proxy (`shared/db/previews.py`); the other finds it taken, so a
photo is never rendered twice. A proxy already rendering, ready or failed
has nothing to move.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from services.upload.deps import UploadContext
from shared.broker.outbox import enqueue
from shared.db import lanes
from shared.db.status import ProxyStatus
from shared.errors import NotFound, Refused
from shared.lanes import preview_job
from shared.messages import Lane


@dataclass(frozen=True)
class Prioritized:
    queued: bool  # a copy was queued now (a repeat, or a photo past pending, queues none)
    preview_status: str


async def prioritize(ctx: UploadContext, user_id: str, uuid: UUID) -> Prioritized:
    limit = ctx.settings.prioritize_max_pending
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await lanes.mark_prioritized(conn, user_id, uuid, limit)
        if row is not None:
            await enqueue(conn, ctx.topology,
                          preview_job(uuid, user_id, Lane.ON_DEMAND, row["uploaded_at"]))
    if row is not None:
        ctx.relay.wake()
        return Prioritized(True, ProxyStatus.PENDING)
    current = await lanes.preview_state(ctx.pool, user_id, uuid)
    if current is None:
        raise NotFound(f"no proxy {uuid}")
    status = current["preview_status"]
    if status == ProxyStatus.PENDING and current["preview_prioritized_at"] is None:
        pending = await lanes.prioritized_pending(ctx.pool, user_id)
        raise Refused(f"{pending} of your photos are already asked for first (the limit is {limit}); "
                      "ask again once some are ready", title="Too many photos asked for first",
                      limit=limit)
    return Prioritized(False, status)
