"""The photographer's cull on a proxy: the pick/reject flag and the 0-5 star rating.

Both live on `proxy_images` (`flag`, `rating`; CHECKs in migrations/0060) until the
proxy is ingested; finalize then carries the rating into the Image.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg

from shared.db.pool import Executor
from shared.db.proxies import PROXY_COLUMNS


class Flag(StrEnum):
    """`proxy_images.flag`: NULL is unflagged."""

    PICK = "pick"
    REJECT = "reject"


#: the settable columns, each with its SQL cast (a PATCH sets only the fields it names)
CULL_FIELDS = {"flag": "text", "rating": "smallint"}


async def set_cull(db: Executor, user_id: str, uuid: UUID, changes: dict[str, Any]) -> asyncpg.Record | None:
    """Set the named cull fields of the user's proxy, unless its ingest is under way
    (queued or processing: finalize may have read the row already). None when the
    proxy is not the user's or is being ingested; `cull_blocker` tells which."""
    sets = [f"{name} = ${i}::{CULL_FIELDS[name]}" for i, name in enumerate(changes, start=3)]
    return await db.fetchrow(
        f"""UPDATE proxy_images SET {', '.join([*sets, 'updated_at = now()'])}
            WHERE uuid = $1 AND user_id = $2 AND (ingest_status IS NULL OR ingest_status = 'failed')
            RETURNING {PROXY_COLUMNS}""",
        uuid, user_id, *changes.values(),
    )


async def cull_blocker(db: Executor, user_id: str, uuid: UUID) -> str | None:
    """Why `set_cull` changed nothing: the ingest status, or None when there is no such proxy."""
    status: str | None = await db.fetchval(
        "SELECT ingest_status FROM proxy_images WHERE uuid = $1 AND user_id = $2", uuid, user_id)
    return status
