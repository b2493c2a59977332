"""SQL the enhance worker runs on `proxy_images`."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def claim_for_enhance(pool: asyncpg.Pool, uuid: UUID) -> asyncpg.Record | None:
    """pending/processing -> processing; None when the proxy is gone, done or being ingested."""
    return await pool.fetchrow(
        """UPDATE proxy_images SET enhancement_status = 'processing', updated_at = now()
           WHERE uuid = $1 AND enhancement_status IN ('pending', 'processing')
             AND preview_status = 'ready' AND ingest_status IS NULL
           RETURNING *""",
        uuid,
    )


async def replace_preview(pool: asyncpg.Pool, uuid: UUID, key: str, width: int, height: int
                          ) -> tuple[bool, str | None]:
    """Point the proxy at the new preview in one UPDATE; returns (done, the old key)."""
    async with pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(
            "SELECT preview_path FROM proxy_images WHERE uuid = $1 FOR UPDATE", uuid)
        done = await conn.fetchval(
            """UPDATE proxy_images SET preview_path = $2, preview_width = $3, preview_height = $4,
                      enhancement_status = 'ready', enhancement_error = NULL, updated_at = now()
               WHERE uuid = $1 AND enhancement_status = 'processing' AND ingest_status IS NULL
               RETURNING true""",
            uuid, key, width, height,
        )
        return bool(done), (old["preview_path"] if old else None)


async def mark_failed(pool: asyncpg.Pool, uuid: UUID, error: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        """UPDATE proxy_images SET enhancement_status = 'failed', enhancement_error = $2,
                  updated_at = now()
           WHERE uuid = $1 AND enhancement_status IN ('pending', 'processing')
           RETURNING uuid, user_id""",
        uuid, error[:1000],
    )
