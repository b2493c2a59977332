"""The preview's walk: pending -> processing -> ready | failed, and failed -> pending on a retry."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from shared.db.pool import Executor
from shared.db.proxies import PROXY_COLUMNS


async def claim_for_preview(db: Executor, uuid: UUID) -> asyncpg.Record | None:
    """pending/processing -> processing; None when the proxy is gone, ready or failed."""
    return await db.fetchrow(
        """UPDATE proxy_images SET preview_status = 'processing',
                  preview_attempts = preview_attempts + 1, updated_at = now()
           WHERE uuid = $1 AND preview_status IN ('pending', 'processing')
           RETURNING uuid, user_id, temp_key, exif_thumb_key, format, uploaded_at, preview_status""",
        uuid,
    )


@dataclass(frozen=True)
class ColourFacts:
    """What a render found of the original's colour and HDR (columns of migration 0010)."""

    space: str | None = None
    evidence: str | None = None
    profile: str | None = None
    gamut: str | None = None
    hdr_format: str | None = None
    hdr_headroom: float | None = None


async def mark_preview_ready(
    db: Executor, uuid: UUID, preview_key: str, thumb_key: str, width: int, height: int,
    method: str, degraded: str | None, colour: ColourFacts | None = None,
) -> asyncpg.Record | None:
    """processing -> ready, once; a redelivered job finds nothing left to change."""
    c = colour or ColourFacts()
    return await db.fetchrow(
        """UPDATE proxy_images SET preview_status = 'ready', preview_path = $2, thumbnail_path = $3,
                  preview_width = $4, preview_height = $5, preview_method = $6,
                  preview_degraded = $7, preview_error = NULL, colour_space = $8, colour_evidence = $9,
                  colour_profile = $10, preview_gamut = $11, hdr_format = $12, hdr_headroom = $13,
                  updated_at = now()
           WHERE uuid = $1 AND preview_status = 'processing'
           RETURNING uuid, user_id, uploaded_at""",
        uuid, preview_key, thumb_key, width, height, method, degraded, c.space, c.evidence,
        c.profile, c.gamut, c.hdr_format, c.hdr_headroom,
    )


async def set_degraded_thumbnail(db: Executor, uuid: UUID, thumb_key: str, note: str) -> None:
    """No preview could be made, but a thumbnail from the EXIF thumbnail could."""
    await db.execute(
        "UPDATE proxy_images SET thumbnail_path = $2, preview_degraded = $3, updated_at = now()"
        " WHERE uuid = $1", uuid, thumb_key, note,
    )


async def mark_preview_failed(db: Executor, uuid: UUID, error: str) -> asyncpg.Record | None:
    """pending/processing -> failed with the reason; None when it was not in flight."""
    return await db.fetchrow(
        """UPDATE proxy_images SET preview_status = 'failed', preview_error = $2, updated_at = now()
           WHERE uuid = $1 AND preview_status IN ('pending', 'processing')
           RETURNING uuid, user_id""",
        uuid, error[:1000],
    )


async def reset_failed_preview(db: Executor, uuid: UUID, user_id: str | None = None
                               ) -> asyncpg.Record | None:
    """failed -> pending with a fresh attempt count, before a retry or a replay sends the job again.

    `user_id` limits it to the owner's proxy (the API's retry); a replay of a
    parked job, already filtered by owner, passes None.
    """
    return await db.fetchrow(
        f"""UPDATE proxy_images SET preview_status = 'pending', preview_error = NULL,
                   preview_attempts = 0, updated_at = now()
            WHERE uuid = $1 AND ($2::text IS NULL OR user_id = $2) AND preview_status = 'failed'
            RETURNING {PROXY_COLUMNS}""",
        uuid, user_id,
    )
