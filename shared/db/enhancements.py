"""An enhanced preview's walk: requested (pending) -> processing -> ready | failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from shared.db.pool import Executor


async def request_enhancement(db: Executor, uuid: UUID, user_id: str, preview_width: int) -> bool:
    """-> pending, unless one is already pending or processing, the preview changed, or an ingest began.

    The width the caller validated must still be the preview's: a finished
    enhance in between would make the target a shrink or a different upscale.
    """
    claimed = await db.fetchval(
        """UPDATE proxy_images SET enhancement_status = 'pending', enhancement_error = NULL,
                  updated_at = now()
           WHERE uuid = $1 AND user_id = $2 AND preview_status = 'ready' AND ingest_status IS NULL
             AND preview_width = $3
             AND enhancement_status IS DISTINCT FROM 'pending'
             AND enhancement_status IS DISTINCT FROM 'processing'
           RETURNING uuid""", uuid, user_id, preview_width)
    return claimed is not None


async def claim_for_enhance(db: Executor, uuid: UUID) -> asyncpg.Record | None:
    """pending/processing -> processing; None when the proxy is gone, done or being ingested."""
    return await db.fetchrow(
        """UPDATE proxy_images SET enhancement_status = 'processing', updated_at = now()
           WHERE uuid = $1 AND enhancement_status IN ('pending', 'processing')
             AND preview_status = 'ready' AND ingest_status IS NULL
           RETURNING *""",
        uuid,
    )


async def mark_enhancement_ready(pool: asyncpg.Pool, uuid: UUID, key: str, width: int, height: int
                                 ) -> tuple[bool, str | None]:
    """processing -> ready, pointing the proxy at the new preview (its `preview` rendition too);
    returns (done, the old key)."""
    async with pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(
            "SELECT preview_path FROM proxy_images WHERE uuid = $1 FOR UPDATE", uuid)
        done = await conn.fetchval(
            """UPDATE proxy_images SET preview_path = $2, preview_width = $3, preview_height = $4,
                      renditions = renditions || jsonb_build_object('preview', jsonb_build_object(
                          'key', $2::text, 'width', $3::int, 'height', $4::int)),
                      enhancement_status = 'ready', enhancement_error = NULL, updated_at = now()
               WHERE uuid = $1 AND enhancement_status = 'processing' AND ingest_status IS NULL
               RETURNING true""",
            uuid, key, width, height,
        )
        return bool(done), (old["preview_path"] if old else None)


async def mark_enhancement_failed(db: Executor, uuid: UUID, error: str) -> asyncpg.Record | None:
    """pending/processing -> failed with the reason; the current preview stays."""
    return await db.fetchrow(
        """UPDATE proxy_images SET enhancement_status = 'failed', enhancement_error = $2,
                  updated_at = now()
           WHERE uuid = $1 AND enhancement_status IN ('pending', 'processing')
           RETURNING uuid, user_id""",
        uuid, error[:1000],
    )


async def reset_failed_enhancement(db: Executor, uuid: UUID) -> None:
    """failed -> pending, before a parked enhance job is replayed."""
    await db.execute(
        "UPDATE proxy_images SET enhancement_status = 'pending', enhancement_error = NULL,"
        " updated_at = now() WHERE uuid = $1 AND enhancement_status = 'failed'", uuid)


class EnhanceRecords(Protocol):
    """What the enhance job reads and writes of a proxy: `PgEnhanceRecords` on PostgreSQL, and
    `tests/fakes/records.py`'s in-memory fake for unit tests (mypy holds both to this)."""

    async def claim_for_enhance(self, uuid: UUID) -> Mapping[str, Any] | None: ...

    async def mark_enhancement_ready(self, uuid: UUID, key: str, width: int, height: int
                                     ) -> tuple[bool, str | None]: ...

    async def mark_enhancement_failed(self, uuid: UUID, error: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class PgEnhanceRecords:
    """`EnhanceRecords` on the pool: each method is the module function of that name."""

    pool: asyncpg.Pool

    async def claim_for_enhance(self, uuid: UUID) -> Mapping[str, Any] | None:
        return await claim_for_enhance(self.pool, uuid)

    async def mark_enhancement_ready(self, uuid: UUID, key: str, width: int, height: int
                                     ) -> tuple[bool, str | None]:
        return await mark_enhancement_ready(self.pool, uuid, key, width, height)

    async def mark_enhancement_failed(self, uuid: UUID, error: str) -> Mapping[str, Any] | None:
        return await mark_enhancement_failed(self.pool, uuid, error)
