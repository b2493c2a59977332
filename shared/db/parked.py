"""SQL on `parked_jobs`: the read model of the parking queues (shared/worker/parked.py keeps it).

A row stands for one message in `<queue>.failed`, keyed by its park id. Whoever
parks writes the row after the broker confirmed the copy; listings and counts
read only rows; replay and remove delete a row once its message is gone. Every
scan of a parking queue (replay, remove, rebuild) holds `scan_lock` for that
queue, so scans never hide messages from each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from shared.db.pool import Executor

#: the advisory-lock namespace of parking-queue scans ("park")
LOCK_SPACE = 0x7061726B
COLUMNS = "park_id, queue, uuid, user_id, tags, reason, error, attempt, parked_at"


@dataclass(frozen=True)
class Parked:
    """One parked message as operators and users see it."""

    park_id: str
    queue: str
    uuid: str | None
    user_id: str | None
    reason: str | None
    error: str | None
    parked_at: datetime
    attempt: int = 1
    #: the job's tags (its `tags` header; for older copies without one, from its payload)
    tags: tuple[str, ...] = field(default=())


def _parked(row: asyncpg.Record) -> Parked:
    return Parked(park_id=row["park_id"], queue=row["queue"], uuid=row["uuid"],
                  user_id=row["user_id"], reason=row["reason"], error=row["error"],
                  parked_at=row["parked_at"], attempt=row["attempt"], tags=tuple(row["tags"]))


async def record(db: Executor, job: Parked) -> None:
    """absent -> parked; repeating it (a rebuild after the park's own write) is harmless."""
    await db.execute(
        f"""INSERT INTO parked_jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (park_id) DO NOTHING""",
        job.park_id, job.queue, job.uuid, job.user_id, list(job.tags), job.reason, job.error,
        job.attempt, job.parked_at)


async def find(db: Executor, queues: Sequence[str], *, user_id: str | None = None,
               tag: str | None = None, uuids: Sequence[str] | None = None,
               limit: int = 1000) -> list[Parked]:
    """Parked jobs of `queues`, newest first; only `user_id`'s, with `tag`, of `uuids` when given."""
    rows = await db.fetch(
        f"""SELECT {COLUMNS} FROM parked_jobs
            WHERE queue = ANY($1::text[]) AND ($2::text IS NULL OR user_id = $2)
              AND ($3::text IS NULL OR tags @> ARRAY[$3::text])
              AND ($4::text[] IS NULL OR uuid = ANY($4::text[]))
            ORDER BY parked_at DESC, park_id LIMIT $5""",
        list(queues), user_id, tag, None if uuids is None else list(uuids), limit)
    return [_parked(r) for r in rows]


async def counts(db: Executor, queues: Sequence[str]) -> dict[str, int]:
    """How many jobs each of `queues` has parked (0 for none)."""
    rows = await db.fetch("""SELECT queue, count(*) AS n FROM parked_jobs
                             WHERE queue = ANY($1::text[]) GROUP BY queue""", list(queues))
    found = {r["queue"]: int(r["n"]) for r in rows}
    return {q: found.get(q, 0) for q in queues}


async def recorded(db: Executor, queue: str) -> dict[str, datetime]:
    """Every park id recorded for `queue`, with when its row was written (for a rebuild)."""
    rows = await db.fetch("SELECT park_id, recorded_at FROM parked_jobs WHERE queue = $1", queue)
    return {r["park_id"]: r["recorded_at"] for r in rows}


async def forget(db: Executor, park_ids: Sequence[str]) -> None:
    """parked -> gone (replayed, removed, or its message no longer in the queue)."""
    if park_ids:
        await db.execute("DELETE FROM parked_jobs WHERE park_id = ANY($1::text[])", list(park_ids))


@contextlib.asynccontextmanager
async def scan_lock(pool: asyncpg.Pool, queue: str) -> AsyncIterator[None]:
    """Hold the one right to scan `queue`'s parking queue, across every process.

    A session lock on a connection of its own: a process that dies gives it
    back with its connection.
    """
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", LOCK_SPACE, queue)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", LOCK_SPACE, queue)
