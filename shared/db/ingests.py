"""An ingest's walk: confirmed (queued) -> processing -> an Image | failed, and failed -> queued."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from shared.db.pool import Executor


async def queue_ingest(db: Executor, user_id: str, uuids: list[UUID], tags: list[str],
                       association: dict[str, Any]) -> set[UUID]:
    """-> queued for those of the user's proxies with a settled preview and no ingest yet."""
    rows = await db.fetch(
        """UPDATE proxy_images SET ingest_status = 'queued', ingest_tags = $3,
                  ingest_association = $4, metadata_error = NULL, updated_at = now()
           WHERE user_id = $1 AND uuid = ANY($2::uuid[]) AND ingest_status IS NULL
             AND preview_status IN ('ready', 'failed')
           RETURNING uuid""",
        user_id, uuids, tags, association,
    )
    return {r["uuid"] for r in rows}


async def requeue_failed_ingest(db: Executor, uuid: UUID, user_id: str | None = None
                                ) -> asyncpg.Record | None:
    """failed -> queued; returns the confirmed tags and association, None when not failed.

    `user_id` limits it to the owner's proxy (the API's retry); a replay of a
    parked job, already filtered by owner, passes None.
    """
    return await db.fetchrow(
        """UPDATE proxy_images SET ingest_status = 'queued', metadata_error = NULL, updated_at = now()
           WHERE uuid = $1 AND ($2::text IS NULL OR user_id = $2) AND ingest_status = 'failed'
           RETURNING ingest_tags, ingest_association""",
        uuid, user_id,
    )


async def start_ingest(db: Executor, uuid: UUID) -> None:
    """queued -> processing (a redelivery finds it processing already and goes on)."""
    await db.execute(
        "UPDATE proxy_images SET ingest_status = 'processing', updated_at = now()"
        " WHERE uuid = $1 AND ingest_status = 'queued'", uuid,
    )


async def mark_ingest_failed(db: Executor, uuid: UUID, error: str) -> asyncpg.Record | None:
    """queued/processing -> failed with the reason; the proxy keeps its files."""
    return await db.fetchrow(
        """UPDATE proxy_images SET ingest_status = 'failed', metadata_error = $2, updated_at = now()
           WHERE uuid = $1 AND ingest_status IN ('queued', 'processing')
           RETURNING uuid, user_id""",
        uuid, error[:1000],
    )


async def allocate_key(
    pool: asyncpg.Pool, uuid: UUID, user_id: str, disk: str, directory: str,
    key_for: Callable[[int], str], object_exists: Callable[[str], Awaitable[bool]] | None = None,
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
            return int(row["sequence"]), str(row["final_key"])
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{disk}\n{directory}")
        while True:
            seq: int = await conn.fetchval(
                """INSERT INTO directory_sequences (user_id, directory, last_seq) VALUES ($1, $2, 1)
                   ON CONFLICT (user_id, directory)
                   DO UPDATE SET last_seq = directory_sequences.last_seq + 1
                   RETURNING last_seq""",
                user_id, directory,
            )
            key = key_for(seq)
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
