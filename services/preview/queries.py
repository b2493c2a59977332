"""SQL the preview worker runs on `proxy_images`."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def claim_for_preview(pool: asyncpg.Pool, uuid: UUID) -> asyncpg.Record | None:
    """pending/processing -> processing; None when the proxy is gone, ready or failed."""
    return await pool.fetchrow(
        """UPDATE proxy_images SET preview_status = 'processing',
                  preview_attempts = preview_attempts + 1, updated_at = now()
           WHERE uuid = $1 AND preview_status IN ('pending', 'processing')
           RETURNING uuid, user_id, temp_key, exif_thumb_key, format, uploaded_at, preview_status""",
        uuid,
    )


async def mark_ready(
    pool: asyncpg.Pool, uuid: UUID, preview_key: str, thumb_key: str, width: int, height: int,
    method: str, degraded: str | None,
) -> asyncpg.Record | None:
    """processing -> ready, once; a redelivered job finds nothing left to change."""
    return await pool.fetchrow(
        """UPDATE proxy_images SET preview_status = 'ready', preview_path = $2, thumbnail_path = $3,
                  preview_width = $4, preview_height = $5, preview_method = $6,
                  preview_degraded = $7, preview_error = NULL, updated_at = now()
           WHERE uuid = $1 AND preview_status = 'processing'
           RETURNING uuid, user_id, uploaded_at""",
        uuid, preview_key, thumb_key, width, height, method, degraded,
    )


async def set_degraded_thumbnail(pool: asyncpg.Pool, uuid: UUID, thumb_key: str, note: str) -> None:
    await pool.execute(
        "UPDATE proxy_images SET thumbnail_path = $2, preview_degraded = $3, updated_at = now()"
        " WHERE uuid = $1", uuid, thumb_key, note,
    )


async def mark_failed(pool: asyncpg.Pool, uuid: UUID, error: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        """UPDATE proxy_images SET preview_status = 'failed', preview_error = $2, updated_at = now()
           WHERE uuid = $1 AND preview_status IN ('pending', 'processing')
           RETURNING uuid, user_id""",
        uuid, error[:1000],
    )
