"""Trace retention: rows older than `PROPHOTO_TRACE_RETENTION_DAYS` go, a small batch at a time.

Small batches keep each DELETE short, so the consumer's inserts interleave;
a failed sweep is logged and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from services.tracing import queries

log = logging.getLogger(__name__)

RETENTION_BATCH = 5000
RETENTION_EVERY_S = 3600.0


async def sweep_old_traces(pool: asyncpg.Pool, retention_days: int,
                           batch: int = RETENTION_BATCH) -> int:
    """Delete rows past retention, a small batch per statement. Rows deleted."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    total = 0
    while True:
        deleted = await queries.delete_traces_older_than(pool, cutoff, batch)
        total += deleted
        if deleted < batch:
            return total
        await asyncio.sleep(0)  # let the consumer's inserts interleave


async def retention_loop(pool: asyncpg.Pool, retention_days: int,
                         every_s: float = RETENTION_EVERY_S,
                         on_deleted: Callable[[int], object] | None = None) -> None:
    while True:
        try:
            deleted = await sweep_old_traces(pool, retention_days)
            if deleted:
                if on_deleted is not None:
                    on_deleted(deleted)
                log.info("retention removed %d traces older than %d days", deleted, retention_days)
        except Exception:
            log.exception("trace retention failed; trying again later")
        await asyncio.sleep(every_s)
