"""The `outbox` table: jobs recorded in their producer's transaction, until the broker confirms them.

The relay (shared/broker/outbox.py) claims due rows oldest first (fewest attempts
first), marks them published or failed (with a per-row time of the next
try), and prunes published rows after their retention; monitors read the
backlog (count and the oldest row's age) from here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class OutboxRow:
    id: int
    exchange: str
    routing_key: str
    message_id: str | None
    headers: dict[str, Any]
    body: bytes
    attempts: int


@dataclass(frozen=True)
class Backlog:
    """The unpublished rows: how many, how old the oldest, and what went wrong last."""

    pending: int
    oldest_age_s: float
    #: rows tried at least once and refused
    failing: int
    last_error: str | None


async def insert(conn: asyncpg.Connection, exchange: str, routing_key: str, message_id: str | None,
                 headers: dict[str, Any], body: bytes) -> int:
    row_id: int = await conn.fetchval(
        "INSERT INTO outbox (exchange, routing_key, message_id, headers, body)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        exchange, routing_key, message_id, headers, body,
    )
    return row_id


async def claim_due(conn: asyncpg.Connection, batch: int, exchange: str | None) -> list[OutboxRow]:
    """Lock up to `batch` due rows (call inside a transaction); other relays skip them."""
    rows = await conn.fetch(
        "SELECT id, exchange, routing_key, message_id, headers, body, attempts FROM outbox"
        " WHERE published_at IS NULL AND ($2::text IS NULL OR exchange = $2)"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
        " ORDER BY attempts, id LIMIT $1 FOR UPDATE SKIP LOCKED",
        batch, exchange,
    )
    out = []
    for r in rows:
        headers = r["headers"]
        if isinstance(headers, str):
            headers = json.loads(headers)
        out.append(OutboxRow(r["id"], r["exchange"], r["routing_key"], r["message_id"],
                             headers or {}, bytes(r["body"]), r["attempts"]))
    return out


async def mark_failed(conn: asyncpg.Connection, row_id: int, error: str, retry_in_s: float) -> None:
    await conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
        " next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
        row_id, error[:500], retry_in_s,
    )


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute(
        "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)


async def prune_published(pool: asyncpg.Pool, retention_s: float, batch: int) -> int:
    """Delete up to `batch` rows published more than `retention_s` ago; returns how many went."""
    status: str = await pool.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at IS NOT NULL"
        " AND published_at < now() - make_interval(secs => $1) LIMIT $2)",
        retention_s, batch,
    )
    return int(status.rsplit(" ", 1)[-1])


async def backlog(pool: asyncpg.Pool, exchange: str | None) -> Backlog:
    """The unpublished rows of `exchange` (None: every exchange's)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS pending, count(*) FILTER (WHERE attempts > 0) AS failing,"
        " COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest,"
        " (SELECT last_error FROM outbox WHERE published_at IS NULL AND attempts > 0"
        "  AND ($1::text IS NULL OR exchange = $1) ORDER BY id DESC LIMIT 1) AS last_error"
        " FROM outbox WHERE published_at IS NULL AND ($1::text IS NULL OR exchange = $1)",
        exchange,
    )
    assert row is not None
    return Backlog(row["pending"], max(0.0, row["oldest"]), row["failing"], row["last_error"])
