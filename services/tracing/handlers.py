"""The JSON API: traces, stats, queue status. Thin: parse, call one function.

A user token sees that user's trace rows only (another user's uuid returns
nothing); an operator token sees everyone's, and alone may read queue status.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query, Request

from services.tracing import queries
from services.tracing.queue_status import QueueMonitor
from shared.http.auth import Caller, Operator, Principal
from shared.http.problems import ProblemError, responses
from shared.settings import Settings

router = APIRouter(prefix="/v1")
DEFAULT_STATS_WINDOW = timedelta(hours=24)


@dataclass
class TracingContext:
    settings: Settings
    pool: asyncpg.Pool
    monitor: QueueMonitor


def get_ctx(request: Request) -> TracingContext:
    ctx: TracingContext = request.app.state.ctx
    return ctx


async def _ctx(request: Request) -> TracingContext:  # a coroutine: FastAPI needs no worker thread
    return get_ctx(request)


Ctx = Annotated[TracingContext, Depends(_ctx)]


def trace_json(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["uuid"] = str(row["uuid"])
    out["created_at"] = row["created_at"].isoformat()
    return out


def visible_to(caller: Principal) -> str | None:
    """The user whose rows `caller` may see; None means every user's."""
    return None if caller.operator else caller.user_id


def aware(value: datetime | None) -> datetime | None:
    """A query's time, UTC when it names no zone; 400 outside the range a query can hold."""
    if value is None:
        return None
    try:
        return queries.in_range(value)
    except ValueError as exc:
        raise ProblemError(400, "Time out of range", f"{value.isoformat()}: {exc}") from exc


async def trace_filter(
    uuid: UUID | None = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    method: Annotated[str | None, Query(max_length=128)] = None,
    success: bool | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> queries.TraceFilter:
    return queries.TraceFilter(uuid=uuid, trace_type=type or None, method=method or None,
                               success=success, since=aware(from_), until=aware(to))


Filter = Annotated[queries.TraceFilter, Depends(trace_filter)]


async def list_traces(ctx: TracingContext, flt: queries.TraceFilter, limit: int,
                      cursor: str | None) -> dict[str, Any]:
    try:
        rows, next_cursor = await queries.page_of_traces(ctx.pool, flt, limit, cursor)
    except queries.BadCursor as exc:
        raise ProblemError(400, "Invalid cursor", "use the next_cursor of a previous page") from exc
    return {"items": [trace_json(r) for r in rows], "next_cursor": next_cursor}


@router.get("/traces", responses=responses(400, 401, 422),
            summary="Trace rows, newest first, keyset-paginated")
async def traces(
    ctx: Ctx, caller: Caller, flt: Filter,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    return await list_traces(ctx, replace(flt, user_id=visible_to(caller)), limit, cursor)


async def stats_for(ctx: TracingContext, since: datetime | None,
                    until: datetime | None, user_id: str | None = None) -> dict[str, Any]:
    until = aware(until) or datetime.now(UTC)
    since = aware(since) or until - DEFAULT_STATS_WINDOW
    stats = await queries.stats_between(ctx.pool, since, until, user_id)
    return {"from": since.isoformat(), "to": until.isoformat(), **stats}


@router.get("/traces/stats", responses=responses(401, 422),
            summary="Totals, by type, and p50/p95 duration per method (default: last 24 h)")
async def traces_stats(
    ctx: Ctx, caller: Caller,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> dict[str, Any]:
    return await stats_for(ctx, from_, to, visible_to(caller))


@router.get("/traces/{uuid}", responses=responses(401, 422),
            summary="Every attempt for one photo, oldest first")
async def timeline(ctx: Ctx, caller: Caller, uuid: UUID) -> dict[str, Any]:
    rows = await queries.timeline_of(ctx.pool, uuid, user_id=visible_to(caller))
    return {"uuid": str(uuid), "items": [trace_json(r) for r in rows]}


@router.get("/queue-status", responses=responses(401, 403),
            summary="Per work queue: broker depths, pending/failed jobs, worker status (operators)")
async def queue_status(ctx: Ctx, _: Operator) -> dict[str, Any]:
    return await ctx.monitor.snapshot()
