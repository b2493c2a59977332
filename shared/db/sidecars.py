"""The `sidecars` table: companion files waiting for (or attached to) a proxy, until finalize keeps
them: XMP sidecars (`kind` xmp) and Live Photo movies (`kind` live-video), one of each per proxy."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.db.pool import Executor

#: the proxy's file name without its extension, lower-cased, as `shared.exif.sidecar.base_name`
_PROXY_BASE = "lower(regexp_replace(p.original_name, '\\.[^.]*$', ''))"


#: which proxy of a base name a companion of each kind belongs to first: a RAW for an XMP
#: sidecar, the HEIC (then a JPEG) for a Live Photo movie
_PREFERENCE = {"xmp": "(p.mime LIKE 'image/x-%') DESC",
               "live-video": "(p.mime = 'image/heic') DESC, (p.mime = 'image/jpeg') DESC"}


async def pending_proxy_named(db: Executor, user_id: str, base: str, kind: str = "xmp") -> UUID | None:
    """The user's not-yet-ingested proxy of that base name, the kind's preferred format first,
    newest first."""
    uuid: UUID | None = await db.fetchval(
        f"""SELECT p.uuid FROM proxy_images p
            WHERE p.user_id = $1 AND {_PROXY_BASE} = $2
              AND (p.ingest_status IS NULL OR p.ingest_status = 'failed')
              AND ($3 <> 'live-video' OR p.mime IN ('image/heic', 'image/jpeg'))
            ORDER BY {_PREFERENCE[kind]}, p.created_at DESC LIMIT 1""",
        user_id, base, kind)
    return uuid


async def own_proxy(db: Executor, user_id: str, uuid: UUID) -> asyncpg.Record | None:
    """The proxy, if it is the user's; with whether its ingest has started (no sidecar then)."""
    return await db.fetchrow(
        "SELECT uuid, original_name, ingest_status FROM proxy_images WHERE uuid = $1 AND user_id = $2",
        uuid, user_id)


async def put_sidecar(pool: asyncpg.Pool, values: dict[str, Any]) -> tuple[asyncpg.Record, str | None]:
    """Store a sidecar; one attached to a proxy replaces that proxy's earlier one.

    Returns the row and the temp key of the replaced sidecar (to delete), if any.
    """
    kind = values.get("kind", "xmp")
    async with pool.acquire() as conn, conn.transaction():
        replaced = None
        if values["proxy_uuid"] is not None:
            replaced = await conn.fetchval(
                "DELETE FROM sidecars WHERE proxy_uuid = $1 AND kind = $2 RETURNING temp_key",
                values["proxy_uuid"], kind)
        row = await conn.fetchrow(
            """INSERT INTO sidecars (user_id, base_name, original_name, temp_key, sha256, size, metadata,
                                     proxy_uuid, kind)
               VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9) RETURNING *""",
            values["user_id"], values["base_name"], values["original_name"], values["temp_key"],
            values["sha256"], values["size"], values["metadata"], values["proxy_uuid"], kind)
        return row, replaced


async def claim_for_proxy(pool: asyncpg.Pool, user_id: str, uuid: UUID, base: str,
                          kind: str = "xmp") -> asyncpg.Record | None:
    """The proxy's companion of `kind`: the one attached to it, else the oldest waiting one of its
    base name, which is attached to it now (so a second original of that name does not take it too)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM sidecars WHERE proxy_uuid = $1 AND kind = $2", uuid, kind)
        if row is not None:
            return row
        return await conn.fetchrow(
            """UPDATE sidecars SET proxy_uuid = $3
               WHERE id = (SELECT id FROM sidecars WHERE user_id = $1 AND base_name = $2 AND kind = $4
                             AND proxy_uuid IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING *""",
            user_id, base, uuid, kind)


async def attached_to(db: Executor, uuid: UUID) -> list[asyncpg.Record]:
    """Every companion attached to the proxy."""
    rows: list[asyncpg.Record] = await db.fetch("SELECT * FROM sidecars WHERE proxy_uuid = $1", uuid)
    return rows


async def delete_sidecar(db: Executor, sidecar_id: int) -> None:
    await db.execute("DELETE FROM sidecars WHERE id = $1", sidecar_id)
