"""Asking for a bigger preview: the rules (`shared.imaging.enhance_rules`) and the job.

Refusals: not the caller's proxy (NotFound); no ready preview, being
ingested, or already enhancing (Conflict); too wide for the configured
maximum or the source, not wider than the current preview, or an output the
job memory budget cannot hold (Refused, with `limit` and `current_width`;
the last also with `needed_mb` and `budget_mb`).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from services.upload.deps import UploadContext
from shared.broker.outbox import enqueue
from shared.db import enhancements, proxies
from shared.db.status import IN_FLIGHT, ProxyStatus
from shared.errors import Conflict, NotFound, Refused
from shared.imaging.enhance_rules import Source, best_source, enhance_limit, output_budget_error
from shared.messages import EnhancePreview, ProxyStatusChanged
from shared.worker.reports import announce


@dataclass
class Requested:
    target_width: int
    limit: int
    source: Source


async def request_enhancement(ctx: UploadContext, user_id: str, uuid: UUID, target_width: int | None,
                              factor: float | None) -> Requested:
    """Validate the width, mark the proxy pending and queue the job (default: 1.25x the current width)."""
    row = await proxies.load_proxy_for_user(ctx.pool, user_id, uuid)
    if row is None:
        raise NotFound(f"no proxy {uuid}")
    if row["preview_status"] != ProxyStatus.READY or not row["preview_width"]:
        raise Conflict(f"the preview is {row['preview_status']}", title="Preview not ready",
                       preview_status=row["preview_status"])
    if row["ingest_status"] is not None:
        raise Conflict("the proxy is confirmed; its preview is going away", title="Being ingested")
    if row["enhancement_status"] in IN_FLIGHT:
        raise Conflict(f"enhancement is {row['enhancement_status']}", title="Already enhancing",
                       enhancement_status=row["enhancement_status"])
    current = int(row["preview_width"])
    target = target_width or round(current * (factor or ctx.settings.enhance_default_factor))
    source, source_width = best_source(row["mime"], row["metadata"], current)
    limit = enhance_limit(ctx.settings.enhance_max_width, source_width)
    if target > limit:
        raise Refused(f"the widest preview this photo can get is {limit} px", title="Too wide",
                      limit=limit, current_width=current)
    if target <= current:
        raise Refused(f"the preview is already {current} px wide", title="Not wider",
                      limit=limit, current_width=current)
    over = output_budget_error(target, current, int(row["preview_height"] or current),
                               ctx.settings.job_memory_mb * 2**20)
    if over is not None:  # an extreme aspect ratio: a narrow target can still mean a huge output
        raise Refused(over.reason, title="Too large", limit=limit, current_width=current,
                      needed_mb=-(-over.needed // 2**20), budget_mb=over.budget // 2**20)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await enhancements.request_enhancement(conn, uuid, user_id, current):
            raise Conflict("another request got there first", title="Already enhancing")
        await enqueue(conn, ctx.topology, EnhancePreview(uuid=uuid, user_id=user_id, target_width=target))
        # Announced before the commit makes the job visible, so `pending` always reaches
        # listeners before the worker's `processing`. Best effort: the row is the truth.
        await announce(ctx.publisher, ctx.topology, ProxyStatusChanged(
            uuid=uuid, user_id=user_id, field="enhancement", status=ProxyStatus.PENDING,
            preview_width=current, preview_height=row["preview_height"]))
    ctx.relay.wake()
    return Requested(target, limit, source)
