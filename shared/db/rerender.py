"""`rerender_runs`: an operator's re-render of every proxy's preview (or one user's), resumable.

A run queues a batch per transaction: it locks its row (SKIP LOCKED, so one
process drives a run at a time), reads the next proxies after `position` in
uuid order, and moves `position` past them in the same transaction, once
their jobs are confirmed by the broker. A run cut short resumes from
`position`; a batch sent twice is claimed once per proxy.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from shared.db.pool import Executor

#: previews that exist (or failed) and so can be rendered again; pending ones are on their way
_SCOPE = "preview_status IN ('ready', 'failed') AND ($1::text IS NULL OR user_id = $1)"
RUN_COLUMNS = "id, requested_by, user_id, status, started_at, position, total, queued, finished_at"


async def create_run(db: Executor, requested_by: str, user_id: str | None) -> asyncpg.Record:
    """A new run over the previews there are now (`total`), queueing from the start."""
    row: asyncpg.Record = await db.fetchrow(
        f"""INSERT INTO rerender_runs (requested_by, user_id, total)
            VALUES ($2, $1, (SELECT count(*) FROM proxy_images WHERE {_SCOPE}))
            RETURNING {RUN_COLUMNS}""",
        user_id, requested_by)
    return row


async def lock_queueing_run(conn: asyncpg.Connection, run_id: int) -> asyncpg.Record | None:
    """The run, locked for this transaction; None when it is done or another process holds it."""
    return await conn.fetchrow(
        f"SELECT {RUN_COLUMNS} FROM rerender_runs WHERE id = $1 AND status = 'queueing'"
        " FOR UPDATE SKIP LOCKED", run_id)


async def next_batch(db: Executor, user_id: str | None, after: UUID | None, limit: int
                     ) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        f"""SELECT uuid, user_id, uploaded_at FROM proxy_images
            WHERE {_SCOPE} AND ($2::uuid IS NULL OR uuid > $2)
            ORDER BY uuid LIMIT $3""",
        user_id, after, limit)
    return rows


async def advance(conn: asyncpg.Connection, run_id: int, position: UUID, count: int) -> None:
    await conn.execute(
        "UPDATE rerender_runs SET position = $2, queued = queued + $3 WHERE id = $1",
        run_id, position, count)


async def finish(conn: asyncpg.Connection, run_id: int) -> None:
    """queueing -> queued: every preview of the run is on the bulk lane."""
    await conn.execute(
        "UPDATE rerender_runs SET status = 'queued', finished_at = now() WHERE id = $1", run_id)


async def queueing_runs(db: Executor) -> list[int]:
    """Runs not fully queued yet (a restart resumes them)."""
    return [r["id"] for r in await db.fetch(
        "SELECT id FROM rerender_runs WHERE status = 'queueing' ORDER BY id")]


async def run_progress(db: Executor, run_id: int) -> asyncpg.Record | None:
    """The run with `rendered`: its previews rendered again since it started."""
    return await db.fetchrow(
        f"""SELECT {RUN_COLUMNS}, (SELECT count(*) FROM proxy_images p
                                  WHERE (r.user_id IS NULL OR p.user_id = r.user_id)
                                    AND p.created_at < r.started_at
                                    AND p.preview_rendered_at >= r.started_at) AS rendered
            FROM rerender_runs r WHERE id = $1""", run_id)


async def recent_runs(db: Executor, limit: int = 20) -> list[int]:
    return [r["id"] for r in await db.fetch(
        "SELECT id FROM rerender_runs ORDER BY id DESC LIMIT $1", limit)]

