"""What the preview lanes ask of `proxy_images`: a user's recent uploads, photos asked for first.

The lanes themselves live in RabbitMQ; these are the two facts a producer
reads before it chooses a lane, and the one-time mark that makes a repeated
"show me this one first" queue nothing.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from shared.db.pool import Executor


async def uploads_in_last_minute(db: Executor, user_id: str, at_most: int) -> int:
    """The user's uploads of the last 60 s, counted up to `at_most` (the count stops there)."""
    count: int = await db.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM proxy_images
                                 WHERE user_id = $1 AND uploaded_at > now() - interval '60 seconds'
                                 LIMIT $2) recent""",
        user_id, at_most,
    )
    return count


async def mark_prioritized(db: Executor, user_id: str, uuid: UUID, max_pending: int
                           ) -> asyncpg.Record | None:
    """pending, not yet asked for -> asked for (once); None when nothing changed.

    Nothing changes either when the user already has `max_pending` photos asked
    for and not yet rendered (`prioritized_pending` tells that case apart).
    """
    return await db.fetchrow(
        """UPDATE proxy_images SET preview_prioritized_at = now(), updated_at = now()
           WHERE uuid = $1 AND user_id = $2 AND preview_status = 'pending'
             AND preview_prioritized_at IS NULL
             AND (SELECT count(*) FROM proxy_images
                  WHERE user_id = $2 AND preview_prioritized_at IS NOT NULL
                    AND preview_status IN ('pending', 'processing')) < $3
           RETURNING uuid, user_id, uploaded_at""",
        uuid, user_id, max_pending,
    )


async def prioritized_pending(db: Executor, user_id: str) -> int:
    """The user's photos asked for first and not rendered yet."""
    count: int = await db.fetchval(
        """SELECT count(*) FROM proxy_images WHERE user_id = $1 AND preview_prioritized_at IS NOT NULL
             AND preview_status IN ('pending', 'processing')""", user_id)
    return count


async def preview_state(db: Executor, user_id: str, uuid: UUID) -> asyncpg.Record | None:
    """The owner's proxy's preview status and whether it was asked for first; None if not theirs."""
    return await db.fetchrow(
        "SELECT preview_status, preview_prioritized_at FROM proxy_images WHERE uuid = $1 AND user_id = $2",
        uuid, user_id)


async def assigned_shard(db: Executor, lane: str, user_id: str) -> int | None:
    """The shard the user's jobs of `lane` go to, if one was chosen."""
    shard: int | None = await db.fetchval(
        "SELECT shard FROM lane_shards WHERE lane = $1 AND user_id = $2", lane, user_id)
    return shard


async def shared_with_others(db: Executor, lane: str, user_id: str, shard: int, within_s: float) -> bool:
    """Whether another user sent jobs to `shard` of `lane` in the last `within_s` seconds."""
    found: bool = await db.fetchval(
        """SELECT EXISTS (SELECT 1 FROM lane_shards WHERE lane = $1 AND shard = $3 AND user_id <> $2
                          AND used_at > now() - make_interval(secs => $4))""",
        lane, user_id, shard, within_s)
    return found


async def use_shard(db: Executor, lane: str, user_id: str, shard: int) -> None:
    """Record (or refresh) the user's shard; rows unused for a day go (a few at a time)."""
    await db.execute(
        """INSERT INTO lane_shards (lane, user_id, shard) VALUES ($1, $2, $3)
           ON CONFLICT (lane, user_id) DO UPDATE SET shard = EXCLUDED.shard, used_at = now()""",
        lane, user_id, shard)
    await db.execute(
        """DELETE FROM lane_shards WHERE ctid IN (SELECT ctid FROM lane_shards
                                                   WHERE used_at < now() - interval '1 day' LIMIT 20)""")
