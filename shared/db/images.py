"""The permanent `images` table: written once per proxy by finalize, read by its owner."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db.pool import Executor


async def image_for_proxy(db: Executor, uuid: UUID) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT id, path, disk FROM images WHERE proxy_uuid = $1", uuid)


#: the normalized metadata fields that are columns of their own (migration 0020)
METADATA_COLUMNS = (
    "taken_at_local", "taken_at_offset_minutes", "taken_at_zone", "taken_at_zone_source", "rating",
    "label", "title", "caption", "creator", "copyright", "credit", "location", "keywords",
    "keyword_paths", "lens", "declared_colour_space", "bit_depth", "hdr_gain_map", "image_unique_id",
    "content_identifier",
)
_JSON_COLUMNS = ("location",)
#: what the preview's render found of the original's colour and HDR (migration 0010), from the proxy
RENDER_COLUMNS = ("colour_space", "colour_profile", "hdr_format", "hdr_headroom")


def metadata_columns(normalized: dict[str, Any]) -> dict[str, Any]:
    """The column values of a normalized record (`shared.exif.normalize`), `taken_at` the UTC instant."""
    out = {c: normalized.get(c) for c in METADATA_COLUMNS}
    local, instant = normalized.get("taken_at_local"), normalized.get("taken_at")
    out["taken_at_local"] = datetime.fromisoformat(local) if local else None
    when = datetime.fromisoformat(instant) if instant else None
    out["taken_at"] = when.astimezone(UTC) if when else None
    offset = when.utcoffset() if when else None
    out["taken_at_offset_minutes"] = int(offset.total_seconds() // 60) if offset is not None else None
    out["keywords"] = list(normalized.get("keywords") or [])
    out["keyword_paths"] = list(normalized.get("keyword_paths") or [])
    out["camera_make"], out["camera_model"] = normalized.get("camera_make"), normalized.get("camera_model")
    return out


def _placeholder(column: str, n: int) -> str:
    return f"${n}::jsonb" if column in _JSON_COLUMNS else f"${n}"


async def insert_image(pool: asyncpg.Pool, uuid: UUID, values: dict[str, Any]) -> int:
    """Insert the Image once per proxy and link the proxy to it; returns its id either way.

    `values` has the base columns and every one of `METADATA_COLUMNS`.
    """
    base = ("user_id", "disk", "path", "original_name", "metadata", "tags", "association", "sha256",
            "size", "taken_at", "camera_make", "camera_model", "renditions", "preview_path", "thumbnail_path",
            "sidecar_path", "live_video_path", "pair_kind", *RENDER_COLUMNS)
    columns = (*base, *METADATA_COLUMNS)
    casts = {"metadata": "jsonb", "association": "jsonb", "renditions": "jsonb"}
    params = ", ".join(f"${i + 2}::{casts[c]}" if c in casts else _placeholder(c, i + 2)
                       for i, c in enumerate(columns))
    async with pool.acquire() as conn, conn.transaction():
        image_id = await conn.fetchval(
            f"""INSERT INTO images (proxy_uuid, {", ".join(columns)}, metadata_read_at)
                VALUES ($1, {params}, now())
                ON CONFLICT (proxy_uuid) DO NOTHING RETURNING id""",
            uuid, *(values.get(c) for c in columns),
        )
        if image_id is None:
            image_id = await conn.fetchval("SELECT id FROM images WHERE proxy_uuid = $1", uuid)
        await conn.execute(
            "UPDATE proxy_images SET image_id = $2, updated_at = now() WHERE uuid = $1", uuid, image_id
        )
        return int(image_id)


async def image_to_reindex(db: Executor, image_id: int, user_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM images WHERE id = $1 AND user_id = $2", image_id, user_id)


async def reindex_batch(db: Executor, user_id: str | None, after_id: int, limit: int) -> list[asyncpg.Record]:
    """The next Images (every user's, or one user's) after `after_id`, by id."""
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT id, proxy_uuid, user_id FROM images
           WHERE id > $1 AND ($2::text IS NULL OR user_id = $2) ORDER BY id LIMIT $3""",
        after_id, user_id, limit)
    return rows


async def update_metadata(db: Executor, image_id: int, values: dict[str, Any]) -> None:
    """A re-read of the original (reindex): the metadata, its columns, tags and the capture instant."""
    columns = ("metadata", "tags", "taken_at", "camera_make", "camera_model", *METADATA_COLUMNS)
    json_columns = ("metadata", *_JSON_COLUMNS)
    sets = ", ".join(f"{c} = ${i + 2}" + ("::jsonb" if c in json_columns else "")
                     for i, c in enumerate(columns))
    await db.execute(f"UPDATE images SET {sets}, metadata_read_at = now(), updated_at = now() WHERE id = $1",
                     image_id, *(values[c] for c in columns))


async def ingested_among(db: Executor, user_id: str, uuids: list[UUID]) -> set[UUID]:
    """Those of `uuids` that are already the user's Images."""
    rows = await db.fetch(
        "SELECT proxy_uuid FROM images WHERE user_id = $1 AND proxy_uuid = ANY($2::uuid[])",
        user_id, uuids)
    return {r["proxy_uuid"] for r in rows}


async def get_image_for_user(db: Executor, user_id: str, image_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM images WHERE id = $1 AND user_id = $2", image_id, user_id)


async def list_images_for_user(
    db: Executor, user_id: str, taken_from: datetime | None, taken_to: datetime | None,
    camera: str | None, tag: str | None, before_id: int | None, limit: int,
) -> list[asyncpg.Record]:
    """Newest first, filtered; the camera matches its name or its slug (spaces as dashes)."""
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT * FROM images
           WHERE user_id = $1
             AND ($2::timestamptz IS NULL OR taken_at >= $2)
             AND ($3::timestamptz IS NULL OR taken_at < $3)
             AND ($4::text IS NULL OR lower(metadata->>'camera') = lower($4)
                  OR lower(replace(metadata->>'camera', ' ', '-')) = lower($4))
             AND ($5::text IS NULL OR $5 = ANY(tags))
             AND ($6::bigint IS NULL OR id < $6)
           ORDER BY id DESC LIMIT $7""",
        user_id, taken_from, taken_to, camera, tag, before_id, limit,
    )
    return rows


#: what an upload's answer names of the kept Image it repeats
KEPT_COLUMNS = "id, path, proxy_uuid, original_name, size, sha256, metadata->>'format' AS format"


async def kept_with_sha(db: Executor, user_id: str, sha256: str) -> asyncpg.Record | None:
    """The user's oldest Image with these bytes (a re-upload of a kept photo names it)."""
    return await db.fetchrow(
        f"SELECT {KEPT_COLUMNS} FROM images WHERE user_id = $1 AND sha256 = $2 ORDER BY id LIMIT 1",
        user_id, sha256)


async def kept_for_proxy(db: Executor, user_id: str, uuid: UUID) -> asyncpg.Record | None:
    """The user's Image made from proxy `uuid` (a finished upload's answer, asked again)."""
    return await db.fetchrow(f"SELECT {KEPT_COLUMNS} FROM images WHERE user_id = $1 AND proxy_uuid = $2",
                             user_id, uuid)


async def delete_image_for_user(db: Executor, user_id: str, image_id: int) -> asyncpg.Record | None:
    """The Image's row goes (its objects were removed first); None when it was not there."""
    return await db.fetchrow("DELETE FROM images WHERE id = $1 AND user_id = $2 RETURNING id",
                             image_id, user_id)
