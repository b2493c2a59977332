"""The preview's walk: pending -> processing -> ready | failed, and failed -> pending on a retry.

Several copies of one proxy's job can be queued (the upload's, and a copy
the owner asked for first); each carries its own claim token, and only the
copy whose token the row holds renders. A re-render claims a ready or failed
row without changing its status, so the preview in place is served meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.db.pool import Executor
from shared.db.proxies import PROXY_COLUMNS


async def claim_for_preview(db: Executor, uuid: UUID, claim: UUID | None = None,
                            rerender_before: datetime | None = None) -> asyncpg.Record | None:
    """pending -> processing for copy `claim`; None when there is nothing for this copy to do.

    processing stays processing for the copy that holds it (a redelivery or a
    retry of the same copy); another copy finds it taken. A job from before
    claims (`claim` None) takes pending or processing, as it always did. With
    `rerender_before`, a ready or failed preview rendered before that instant
    is claimed too, its status unchanged.
    """
    return await db.fetchrow(
        """UPDATE proxy_images SET
                  preview_status = CASE WHEN preview_status IN ('ready', 'failed')
                                        THEN preview_status ELSE 'processing' END,
                  preview_claim = coalesce($2, preview_claim),
                  preview_attempts = preview_attempts + 1, updated_at = now()
           WHERE uuid = $1 AND (
                 preview_status = 'pending'
              OR (preview_status = 'processing'
                  AND ($2::uuid IS NULL OR preview_claim IS NULL OR preview_claim = $2))
              OR ($3::timestamptz IS NOT NULL AND preview_status IN ('ready', 'failed')
                  AND coalesce(preview_rendered_at, '-infinity') < $3))
           RETURNING uuid, user_id, temp_key, exif_thumb_key, format, uploaded_at, preview_status""",
        uuid, claim, rerender_before,
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
    method: str, degraded: str | None, colour: ColourFacts | None = None, claim: UUID | None = None,
) -> asyncpg.Record | None:
    """processing (or a re-render's claimed ready/failed) -> ready, once.

    A redelivered job finds nothing left to change.
    """
    c = colour or ColourFacts()
    return await db.fetchrow(
        """UPDATE proxy_images SET preview_status = 'ready', preview_path = $2, thumbnail_path = $3,
                  preview_width = $4, preview_height = $5, preview_method = $6,
                  preview_degraded = $7, preview_error = NULL, colour_space = $8, colour_evidence = $9,
                  colour_profile = $10, preview_gamut = $11, hdr_format = $12, hdr_headroom = $13,
                  preview_rendered_at = now(), updated_at = now()
           WHERE uuid = $1 AND (preview_status = 'processing'
                 OR (preview_status IN ('ready', 'failed') AND preview_claim = $14))
           RETURNING uuid, user_id, uploaded_at""",
        uuid, preview_key, thumb_key, width, height, method, degraded, c.space, c.evidence,
        c.profile, c.gamut, c.hdr_format, c.hdr_headroom, claim,
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
           RETURNING uuid, user_id, exif_thumb_key, thumbnail_path""",
        uuid, error[:1000],
    )


async def reset_failed_preview(db: Executor, uuid: UUID, user_id: str | None = None
                               ) -> asyncpg.Record | None:
    """failed -> pending with a fresh attempt count, before a retry or a replay sends the job again
    (and it may be asked for first again).

    `user_id` limits it to the owner's proxy (the API's retry); a replay of a
    parked job, already filtered by owner, passes None.
    """
    return await db.fetchrow(
        f"""UPDATE proxy_images SET preview_status = 'pending', preview_error = NULL,
                   preview_attempts = 0, preview_prioritized_at = NULL, updated_at = now()
            WHERE uuid = $1 AND ($2::text IS NULL OR user_id = $2) AND preview_status = 'failed'
            RETURNING {PROXY_COLUMNS}""",
        uuid, user_id,
    )


async def colour_of(db: Executor, uuid: UUID) -> asyncpg.Record | None:
    """The colour and HDR the render found for a photo: its proxy's, or once confirmed its Image's."""
    return await db.fetchrow(
        """SELECT colour_space, colour_evidence, colour_profile, preview_gamut, hdr_format, hdr_headroom
             FROM proxy_images WHERE uuid = $1
           UNION ALL
           SELECT colour_space, NULL, colour_profile, NULL, hdr_format, hdr_headroom
             FROM images WHERE proxy_uuid = $1
           LIMIT 1""",
        uuid,
    )
