"""SQL on `ingest_traces`, named for the job that runs it."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.messages import TraceEvent

COLUMNS = (
    "id, uuid, user_id, trace_type, method, success, reason, duration_ms, result_size, width, height,"
    " attempt, service, created_at, fields"
)


class BadCursor(ValueError):
    """The cursor was not one this service handed out."""


#: the times a filter or a cursor may name: inside both PostgreSQL's and Python's ranges in any
#: zone (year 1 at +01:00 is before year 1 in UTC, which neither can hold)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def in_range(stamp: datetime) -> datetime:
    """`stamp` (UTC when it names no zone), or ValueError when it is outside EARLIEST..LATEST."""
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    try:
        utc = stamp.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range") from exc
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"the time must be between {EARLIEST.year} and {LATEST.year}")
    return stamp


def encode_cursor(created_at: datetime, row_id: int) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, row_id = json.loads(raw)
        return in_range(datetime.fromisoformat(stamp)), int(row_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursor("invalid cursor") from exc


async def store_trace_batch(conn: asyncpg.Connection, events: list[tuple[str, TraceEvent]]) -> int:
    """Insert (event_key, event) pairs in one statement; redeliveries are ignored. Rows added."""
    if not events:
        return 0
    cols: list[list[Any]] = [[] for _ in range(15)]
    for key, e in events:
        values = (key, e.uuid, e.user_id, e.trace_type, e.method, e.success, e.reason,
                  e.duration_ms, e.result_size, e.width, e.height, e.attempt, e.service, e.created_at,
                  None if e.fields is None else json.dumps(e.fields))
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    status: str = await conn.execute(
        """
        INSERT INTO ingest_traces (event_key, uuid, user_id, trace_type, method, success, reason,
                                   duration_ms, result_size, width, height, attempt, service,
                                   created_at, fields)
        SELECT k, u, us, tt, m, ok, r, d, rs, w, h, a, s, c, f::jsonb
        FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                    $6::boolean[], $7::text[], $8::float8[], $9::int8[], $10::int4[],
                    $11::int4[], $12::int4[], $13::text[], $14::timestamptz[], $15::text[])
             AS t(k, u, us, tt, m, ok, r, d, rs, w, h, a, s, c, f)
        ON CONFLICT (event_key) DO NOTHING
        """,
        *cols,
    )
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class TraceFilter:
    uuid: UUID | None = None
    trace_type: str | None = None
    method: str | None = None
    success: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    user_id: str | None = None  # set for a user's own view; None = every user (operators)

    def where(self, first_param: int = 1) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, op, value in (
            ("uuid", "=", self.uuid), ("trace_type", "=", self.trace_type),
            ("method", "=", self.method), ("success", "=", self.success),
            ("created_at", ">=", self.since), ("created_at", "<", self.until),
            ("user_id", "=", self.user_id),
        ):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} {op} ${first_param + len(args) - 1}")
        return (" AND ".join(clauses) or "TRUE"), args


async def page_of_traces(
    pool: asyncpg.Pool, flt: TraceFilter, limit: int, cursor: str | None
) -> tuple[list[asyncpg.Record], str | None]:
    """Newest first; keyset on (created_at, id) so pages never skip or repeat rows."""
    where, args = flt.where()
    if cursor is not None:
        stamp, row_id = decode_cursor(cursor)
        args += [stamp, row_id]
        where += f" AND (created_at, id) < (${len(args) - 1}, ${len(args)})"
    args.append(limit + 1)
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM ingest_traces WHERE {where}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )
    if len(rows) <= limit:
        return list(rows), None
    last = rows[limit - 1]
    return list(rows[:limit]), encode_cursor(last["created_at"], last["id"])


async def timeline_of(pool: asyncpg.Pool, uuid: UUID, limit: int = 1000,
                      user_id: str | None = None) -> list[asyncpg.Record]:
    """Every attempt for one photo across services, oldest first (only `user_id`'s if given)."""
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM ingest_traces WHERE uuid = $1"
        " AND ($3::text IS NULL OR user_id = $3) ORDER BY created_at, id LIMIT $2",
        uuid, limit, user_id,
    )
    return list(rows)


async def stats_between(pool: asyncpg.Pool, since: datetime, until: datetime,
                        user_id: str | None = None) -> dict[str, Any]:
    """Totals in [since, until), of one user's rows if `user_id` is given."""
    totals = await pool.fetchrow(
        """SELECT count(*) AS total, count(*) FILTER (WHERE success) AS passed,
                  count(*) FILTER (WHERE NOT success) AS failed
           FROM ingest_traces WHERE created_at >= $1 AND created_at < $2
                 AND ($3::text IS NULL OR user_id = $3)""",
        since, until, user_id,
    )
    by_type = await pool.fetch(
        """SELECT trace_type, count(*) AS total, count(*) FILTER (WHERE success) AS passed,
                  count(*) FILTER (WHERE NOT success) AS failed
           FROM ingest_traces WHERE created_at >= $1 AND created_at < $2
             AND ($3::text IS NULL OR user_id = $3)
           GROUP BY trace_type ORDER BY trace_type""",
        since, until, user_id,
    )
    by_method = await pool.fetch(
        """SELECT trace_type, method, count(*) AS total,
                  count(*) FILTER (WHERE success) AS passed,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms
           FROM ingest_traces WHERE created_at >= $1 AND created_at < $2
             AND ($3::text IS NULL OR user_id = $3)
           GROUP BY trace_type, method ORDER BY trace_type, method""",
        since, until, user_id,
    )
    assert totals is not None
    return {
        "total": totals["total"], "passed": totals["passed"], "failed": totals["failed"],
        "by_type": [dict(r) for r in by_type],
        "by_method": [dict(r) for r in by_method],
    }


async def delete_traces_older_than(pool: asyncpg.Pool, cutoff: datetime, batch: int) -> int:
    """One small batch, so retention never holds long locks. Rows deleted."""
    status: str = await pool.execute(
        """DELETE FROM ingest_traces WHERE id IN (
               SELECT id FROM ingest_traces WHERE created_at < $1 LIMIT $2)""",
        cutoff, batch,
    )
    return int(status.rsplit(" ", 1)[-1])
