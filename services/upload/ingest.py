"""Confirming proxies: each one with a settled preview gets a finalize job, the others a reason.

Every state change is one conditional UPDATE plus its outbox row in the same
transaction: a claim that did not match queues nothing, so repeating a
request is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from services.upload.deps import UploadContext
from shared.broker.outbox import enqueue
from shared.db import images, ingests, proxies
from shared.db.status import IN_FLIGHT, INGESTING, IngestStatus
from shared.messages import FinalizeIngest


@dataclass
class Confirmed:
    uuid: UUID
    queued: bool
    reason: str | None = None


async def confirm(ctx: UploadContext, user_id: str, uuids: list[UUID], tags: list[str],
                  association: dict[str, Any]) -> list[Confirmed]:
    """Queue the ingest of each proxy that can go; say why for each that cannot (order kept)."""
    wanted = list(dict.fromkeys(uuids))
    async with ctx.pool.acquire() as conn, conn.transaction():
        queued = await ingests.queue_ingest(conn, user_id, wanted, tags, association)
        for uuid in wanted:
            if uuid in queued:
                await enqueue(conn, ctx.topology, FinalizeIngest(
                    uuid=uuid, user_id=user_id, image_tags=tags, association=association))
    if queued:
        ctx.relay.wake()
    rest = [u for u in wanted if u not in queued]
    rows = await proxies.statuses_for_user(ctx.pool, user_id, rest) if rest else {}
    ingested = await images.ingested_among(ctx.pool, user_id, rest) if rest else set()
    return [Confirmed(u, True) if u in queued else Confirmed(u, False, _refusal(rows.get(u), u in ingested))
            for u in wanted]


def _refusal(row: asyncpg.Record | None, ingested: bool) -> str:
    if row is None:
        return "already ingested" if ingested else "not found"
    if row["ingest_status"] in INGESTING:
        return "already ingesting"
    if row["ingest_status"] == IngestStatus.FAILED:
        return "ingest failed; retry it with POST /v1/proxies/{uuid}/retry"
    if row["preview_status"] in IN_FLIGHT:
        return f"preview {row['preview_status']}"
    return "not ingestible"
