"""The preview's walk: pending -> processing -> ready | failed, and failed -> pending on a retry.

Several copies of one proxy's job can be queued (the upload's, and a copy
the owner asked for first); each carries its own claim token, and only the
copy whose token the row holds renders. A re-render claims a ready or failed
row without changing its status, so the preview in place is served meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from shared.db.pool import Executor
from shared.db.proxies import PROXY_COLUMNS, load_proxy
from shared.db.renditions import Recorded, Renditions, columns_for


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


#: a proxy row as the job reads it (an asyncpg Record, or a dict in the fake)
Row = Mapping[str, Any]


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
    db: Executor, uuid: UUID, made: Renditions, method: str, degraded: str | None,
    colour: ColourFacts | None = None, claim: UUID | None = None,
) -> asyncpg.Record | None:
    """processing (or a re-render's claimed ready/failed) -> ready, once, recording every
    rendition `made` (the preview's size is the proxy's `preview_width` and `preview_height`).
    Renditions recorded before and not made now (a spec since taken out of the list) stay
    recorded, so the clean-up paths still find their objects.

    A redelivered job finds nothing left to change.
    """
    c = colour or ColourFacts()
    values = columns_for(made)
    preview = made["preview"]
    return await db.fetchrow(
        """UPDATE proxy_images SET preview_status = 'ready', renditions = renditions || $2::jsonb,
                  preview_path = $3,
                  thumbnail_path = $4, preview_width = $5, preview_height = $6, preview_method = $7,
                  preview_degraded = $8, preview_error = NULL, colour_space = $9, colour_evidence = $10,
                  colour_profile = $11, preview_gamut = $12, hdr_format = $13, hdr_headroom = $14,
                  preview_rendered_at = now(), updated_at = now()
           WHERE uuid = $1 AND (preview_status = 'processing'
                 OR (preview_status IN ('ready', 'failed') AND preview_claim = $15))
           RETURNING uuid, user_id, uploaded_at""",
        uuid, values["renditions"], values["preview_path"], values["thumbnail_path"], preview.get("width"),
        preview.get("height"), method, degraded, c.space, c.evidence, c.profile, c.gamut, c.hdr_format,
        c.hdr_headroom, claim,
    )


async def set_degraded_thumbnail(db: Executor, uuid: UUID, thumbnail: Recorded, note: str) -> None:
    """No preview could be made, but a thumbnail from the EXIF thumbnail could."""
    await db.execute(
        """UPDATE proxy_images SET renditions = renditions || jsonb_build_object('thumbnail', $2::jsonb),
                  thumbnail_path = $2::jsonb->>'key', preview_degraded = $3, updated_at = now()
            WHERE uuid = $1""", uuid, thumbnail, note,
    )


async def mark_preview_failed(db: Executor, uuid: UUID, error: str) -> asyncpg.Record | None:
    """pending/processing -> failed with the reason; None when it was not in flight."""
    return await db.fetchrow(
        """UPDATE proxy_images SET preview_status = 'failed', preview_error = $2, updated_at = now()
           WHERE uuid = $1 AND preview_status IN ('pending', 'processing')
           RETURNING uuid, user_id, exif_thumb_key, thumbnail_path, renditions""",
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


class PreviewRecords(Protocol):
    """What the preview job reads and writes of a proxy: `PgPreviewRecords` on PostgreSQL, and
    `tests/fakes/records.py`'s in-memory fake for unit tests (mypy holds both to this)."""

    async def claim_for_preview(self, uuid: UUID, claim: UUID | None,
                                rerender_before: datetime | None) -> Row | None: ...

    async def mark_preview_ready(self, uuid: UUID, made: Renditions, method: str, degraded: str | None,
                                 colour: ColourFacts, claim: UUID | None) -> Row | None: ...

    async def set_degraded_thumbnail(self, uuid: UUID, thumbnail: Recorded, note: str) -> None: ...

    async def mark_preview_failed(self, uuid: UUID, error: str) -> Row | None: ...

    async def load_proxy(self, uuid: UUID) -> Row | None: ...


@dataclass(frozen=True)
class PgPreviewRecords:
    """`PreviewRecords` on the pool: each method is the module function of that name."""

    pool: asyncpg.Pool

    async def claim_for_preview(self, uuid: UUID, claim: UUID | None,
                                rerender_before: datetime | None) -> Row | None:
        return await claim_for_preview(self.pool, uuid, claim, rerender_before)

    async def mark_preview_ready(self, uuid: UUID, made: Renditions, method: str, degraded: str | None,
                                 colour: ColourFacts, claim: UUID | None) -> Row | None:
        return await mark_preview_ready(self.pool, uuid, made, method, degraded, colour, claim)

    async def set_degraded_thumbnail(self, uuid: UUID, thumbnail: Recorded, note: str) -> None:
        await set_degraded_thumbnail(self.pool, uuid, thumbnail, note)

    async def mark_preview_failed(self, uuid: UUID, error: str) -> Row | None:
        return await mark_preview_failed(self.pool, uuid, error)

    async def load_proxy(self, uuid: UUID) -> Row | None:
        return await load_proxy(self.pool, uuid)
