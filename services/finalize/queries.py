"""SQL the finalize worker runs on `proxy_images`, `directory_sequences` and `images`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def load_proxy(pool: asyncpg.Pool, uuid: UUID) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", uuid)


async def image_for_proxy(pool: asyncpg.Pool | asyncpg.Connection, uuid: UUID) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT id, path, disk FROM images WHERE proxy_uuid = $1", uuid)


async def start_processing(pool: asyncpg.Pool, uuid: UUID) -> None:
    await pool.execute(
        "UPDATE proxy_images SET ingest_status = 'processing', updated_at = now()"
        " WHERE uuid = $1 AND ingest_status = 'queued'", uuid,
    )


async def allocate_key(
    pool: asyncpg.Pool, uuid: UUID, user_id: str, disk: str, directory: str,
    key_for: Any, object_exists: Any = None,
) -> tuple[int, str]:
    """The proxy's (sequence, final key): allocated once, reused by every later attempt.

    The proxy row is locked first, so two deliveries of one job agree. An
    advisory lock on the directory serializes allocations there across users
    (the counter is per user, the directory may be shared when the pattern has
    no `{user}`); a number whose key is already used is skipped, so no object
    is ever overwritten.
    """
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT sequence, final_key FROM proxy_images WHERE uuid = $1 FOR UPDATE", uuid
        )
        if row is None:
            raise LookupError(f"proxy {uuid} is gone")
        if row["sequence"] is not None and row["final_key"]:
            return row["sequence"], row["final_key"]
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{disk}\n{directory}")
        while True:
            seq: int = await conn.fetchval(
                """INSERT INTO directory_sequences (user_id, directory, last_seq) VALUES ($1, $2, 1)
                   ON CONFLICT (user_id, directory)
                   DO UPDATE SET last_seq = directory_sequences.last_seq + 1
                   RETURNING last_seq""",
                user_id, directory,
            )
            key: str = key_for(seq)
            taken = await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM images WHERE disk = $1 AND path = $2)
                       OR EXISTS (SELECT 1 FROM proxy_images WHERE final_key = $2 AND uuid <> $3)""",
                disk, key, uuid,
            )
            if not taken and object_exists is not None:
                taken = await object_exists(key)  # an object no row knows of is never overwritten
            if not taken:
                break
        await conn.execute(
            "UPDATE proxy_images SET sequence = $2, final_key = $3, updated_at = now() WHERE uuid = $1",
            uuid, seq, key,
        )
        return seq, key


async def insert_image(pool: asyncpg.Pool, uuid: UUID, values: dict[str, Any]) -> int:
    """Insert the Image once per proxy and link it; returns its id either way."""
    async with pool.acquire() as conn, conn.transaction():
        image_id = await conn.fetchval(
            """INSERT INTO images (proxy_uuid, user_id, disk, path, original_name, metadata, tags,
                                   association, sha256, size, taken_at, camera_make, camera_model)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9, $10, $11, $12, $13)
               ON CONFLICT (proxy_uuid) DO NOTHING RETURNING id""",
            uuid, values["user_id"], values["disk"], values["path"], values["original_name"],
            values["metadata"], values["tags"], values["association"],
            values["sha256"], values["size"], values["taken_at"], values["camera_make"],
            values["camera_model"],
        )
        if image_id is None:
            image_id = await conn.fetchval("SELECT id FROM images WHERE proxy_uuid = $1", uuid)
        await conn.execute(
            "UPDATE proxy_images SET image_id = $2, updated_at = now() WHERE uuid = $1", uuid, image_id
        )
        return int(image_id)


async def delete_proxy(pool: asyncpg.Pool, uuid: UUID) -> None:
    await pool.execute("DELETE FROM proxy_images WHERE uuid = $1", uuid)


async def mark_failed(pool: asyncpg.Pool, uuid: UUID, error: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        """UPDATE proxy_images SET ingest_status = 'failed', metadata_error = $2, updated_at = now()
           WHERE uuid = $1 AND ingest_status IN ('queued', 'processing')
           RETURNING uuid, user_id""",
        uuid, error[:1000],
    )
