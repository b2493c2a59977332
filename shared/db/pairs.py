"""Pairing Images: a RAW and the camera JPEG (or HEIC) of the same frame name each other."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.db.pool import Executor

_RAW = "(metadata->>'mime' LIKE 'image/x-%')"
_BASE = "lower(regexp_replace(original_name, '\\.[^.]*$', ''))"


async def pairing_facts(db: Executor, image_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"""SELECT id, user_id, path, preview_path, thumbnail_path, renditions, image_unique_id,
                   taken_at_local, paired_image_id, {_BASE} AS base, {_RAW} AS is_raw,
                   metadata->'preview_size' AS preview_size
            FROM images WHERE id = $1""", image_id)


async def partner_of(db: Executor, me: asyncpg.Record) -> asyncpg.Record | None:
    """The user's unpaired Image of the other kind (RAW vs not) of the same frame: the same
    ImageUniqueID, or the same base name and capture time to the second."""
    row: asyncpg.Record | None = await db.fetchrow(
        f"""SELECT id, path, preview_path, thumbnail_path, renditions, {_RAW} AS is_raw,
                   metadata->'preview_size' AS preview_size
            FROM images
            WHERE user_id = $1 AND id <> $2 AND paired_image_id IS NULL AND {_RAW} <> $3
              AND (metadata->>'mime' LIKE 'image/x-%' OR metadata->>'mime' IN ('image/jpeg', 'image/heic'))
              AND (($4::text IS NOT NULL AND image_unique_id = $4)
                   OR ({_BASE} = $5 AND $6::timestamp IS NOT NULL
                       AND date_trunc('second', taken_at_local) = date_trunc('second', $6::timestamp)))
            ORDER BY id LIMIT 1""",
        me["user_id"], me["id"], me["is_raw"], me["image_unique_id"], me["base"], me["taken_at_local"])
    return row


class _Raced(Exception):
    pass


async def link(pool: asyncpg.Pool, a: int, b: int, kind: str) -> bool:
    """Name each other, unless either was paired meanwhile (then nothing changes); whether linked."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            done = await conn.execute(
                """UPDATE images SET paired_image_id = CASE id WHEN $1 THEN $2 ELSE $1 END, pair_kind = $3,
                          updated_at = now()
                   WHERE id IN ($1, $2) AND paired_image_id IS NULL""", a, b, kind)
            if done != "UPDATE 2":
                raise _Raced  # rolls the one row back
    except _Raced:
        return False
    return True


async def set_renditions(db: Executor, image_id: int, values: dict[str, Any]) -> None:
    """The renditions the Image shows (`renditions`, `preview_path`, `thumbnail_path`), and where
    they came from (`preview_source`)."""
    await db.execute(
        """UPDATE images SET renditions = $2::jsonb, preview_path = $3, thumbnail_path = $4,
                  metadata = metadata || jsonb_build_object('preview_source', $5::text), updated_at = now()
           WHERE id = $1""",
        image_id, values["renditions"], values["preview_path"], values["thumbnail_path"],
        values["preview_source"])
