"""A proxy's birth at upload, the reads its owner makes, and its deletion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db.pool import Executor

#: what the API shows of a proxy (everything but the ingest bookkeeping)
PROXY_COLUMNS = """
    uuid, user_id, original_name, ext, mime, format, size, sha256, temp_key, exif_thumb_key,
    metadata, preview_status, preview_path, thumbnail_path, renditions, preview_width, preview_height,
    preview_method, preview_degraded, preview_error, enhancement_status, enhancement_error,
    ingest_status, metadata_error, image_id, uploaded_at, created_at, updated_at, flag, rating,
    colour_space, colour_evidence, colour_profile, preview_gamut, hdr_format, hdr_headroom, expires_at
"""


async def find_duplicate(db: Executor, user_id: str, sha256: str) -> asyncpg.Record | None:
    """The user's proxy with these bytes, if any (uploads are deduplicated per user)."""
    return await db.fetchrow(
        f"SELECT {PROXY_COLUMNS} FROM proxy_images WHERE user_id = $1 AND sha256 = $2",
        user_id, sha256,
    )


async def insert_proxy(db: Executor, values: dict[str, Any]) -> asyncpg.Record | None:
    """Insert a new proxy; None when the same user uploaded the same bytes concurrently."""
    return await db.fetchrow(
        f"""INSERT INTO proxy_images (uuid, user_id, original_name, ext, mime, format, size, sha256,
                temp_key, exif_thumb_key, metadata, uploaded_at, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (user_id, sha256) DO NOTHING
            RETURNING {PROXY_COLUMNS}""",
        values["uuid"], values["user_id"], values["original_name"], values["ext"],
        values["mime"], values["format"], values["size"], values["sha256"], values["temp_key"],
        values["exif_thumb_key"], values["metadata"], values["uploaded_at"], values.get("expires_at"),
    )


async def get_proxy_for_user(db: Executor, user_id: str, uuid: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {PROXY_COLUMNS} FROM proxy_images WHERE uuid = $1 AND user_id = $2", uuid, user_id
    )


async def load_proxy(db: Executor, uuid: UUID) -> asyncpg.Record | None:
    """Every column, for the workers (finalize needs the ingest bookkeeping too)."""
    return await db.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", uuid)


async def load_proxy_for_user(db: Executor, user_id: str, uuid: UUID) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1 AND user_id = $2", uuid, user_id)


@dataclass(frozen=True)
class ProxyFilter:
    """What a listing keeps: a preview status, a flag ("none" for unflagged), a least rating."""

    status: str | None = None
    flag: str | None = None
    min_rating: int | None = None


async def list_proxies_for_user(
    db: Executor, user_id: str, keep: ProxyFilter, limit: int, after: tuple[datetime, UUID] | None,
) -> list[asyncpg.Record]:
    """Newest first; `after` is the (created_at, uuid) of the previous page's last row."""
    args: list[Any] = [user_id, limit]
    where = ["user_id = $1"]
    if keep.status:
        args.append(keep.status)
        where.append(f"preview_status = ${len(args)}")
    if keep.flag == "none":
        where.append("flag IS NULL")
    elif keep.flag:
        args.append(keep.flag)
        where.append(f"flag = ${len(args)}")
    if keep.min_rating is not None:
        args.append(keep.min_rating)
        where.append(f"rating >= ${len(args)}")
    if after is not None:
        args.extend(after)
        where.append(f"(created_at, uuid) < (${len(args) - 1}, ${len(args)})")
    rows: list[asyncpg.Record] = await db.fetch(
        f"SELECT {PROXY_COLUMNS} FROM proxy_images WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, uuid DESC LIMIT $2",
        *args,
    )
    return rows


async def statuses_for_user(db: Executor, user_id: str, uuids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """uuid -> (ingest_status, preview_status) for those of `uuids` the user still has."""
    rows = await db.fetch(
        "SELECT uuid, ingest_status, preview_status FROM proxy_images"
        " WHERE user_id = $1 AND uuid = ANY($2::uuid[])", user_id, uuids)
    return {r["uuid"]: r for r in rows}


async def delete_proxy_for_user(db: Executor, user_id: str, uuid: UUID) -> asyncpg.Record | None:
    """Delete unless an ingest is under way; returns the deleted row."""
    return await db.fetchrow(
        f"""DELETE FROM proxy_images WHERE uuid = $1 AND user_id = $2
              AND (ingest_status IS NULL OR ingest_status = 'failed')
            RETURNING {PROXY_COLUMNS}""",
        uuid, user_id,
    )


async def delete_ingested(db: Executor, uuid: UUID) -> None:
    """The proxy became an Image: its row goes (finalize removed its temporary objects first)."""
    await db.execute("DELETE FROM proxy_images WHERE uuid = $1", uuid)


async def count_unconfirmed(db: Executor, user_id: str) -> int:
    """The user's proxies not yet confirmed for ingest (the unconfirmed-proxies quota)."""
    return int(await db.fetchval(
        "SELECT count(*) FROM proxy_images WHERE user_id = $1 AND ingest_status IS NULL", user_id))


async def expire_unconfirmed(db: Executor, limit: int) -> list[asyncpg.Record]:
    """Unconfirmed proxies past their expiry -> gone (up to `limit`); returns the deleted rows,
    whose objects the caller then removes."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""DELETE FROM proxy_images WHERE uuid IN (
                SELECT uuid FROM proxy_images WHERE ingest_status IS NULL AND expires_at <= now()
                 ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING {PROXY_COLUMNS}""", limit)
    return rows


async def known_uuids(db: Executor, uuids: list[UUID]) -> set[UUID]:
    """Those of `uuids` that still have a proxy row."""
    rows = await db.fetch("SELECT uuid FROM proxy_images WHERE uuid = ANY($1::uuid[])", uuids)
    return {r["uuid"] for r in rows}
