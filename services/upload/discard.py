"""Deleting a proxy its owner no longer wants."""

from __future__ import annotations

from uuid import UUID

from services.upload.deps import UploadContext
from shared.db import proxies
from shared.db.renditions import rendition_keys
from shared.errors import Conflict, NotFound


async def discard(ctx: UploadContext, user_id: str, uuid: UUID) -> None:
    """Delete a proxy and its temporary objects, unless an ingest is under way."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await proxies.delete_proxy_for_user(conn, user_id, uuid)
        if row is None:
            if await proxies.get_proxy_for_user(ctx.pool, user_id, uuid) is None:
                raise NotFound(f"no proxy {uuid}")
            raise Conflict("the proxy is being ingested", title="Ingest in progress")
    for key in (row["temp_key"], row["exif_thumb_key"], *rendition_keys(row)):
        if key:
            await ctx.temp_store.delete(key)
