"""A user's proxies: read, page through, delete, retry."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from services.upload.deps import Ctx
from services.upload.discard import discard
from services.upload.prioritize import prioritize as prioritize_work
from services.upload.retry import retry as retry_work
from services.upload.views import ProxyPage, ProxyView, proxy_view
from shared.db import proxies
from shared.errors import NotFound
from shared.http.auth import CurrentUser
from shared.http.problems import ProblemError, responses

router = APIRouter(prefix="/v1")


@router.get("/proxies/{uuid}", response_model=ProxyView, responses=responses(401, 404))
async def get_proxy(uuid: UUID, ctx: Ctx, user: CurrentUser) -> ProxyView:
    row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise NotFound(f"no proxy {uuid}")
    return proxy_view(row)


def _encode_cursor(row: asyncpg.Record) -> str:
    raw = json.dumps([row["created_at"].isoformat(), str(row["uuid"])]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, uuid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), UUID(uuid)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ProblemError(400, "Invalid cursor", "use next_cursor from a previous page") from exc


@router.get("/proxies", response_model=ProxyPage, responses=responses(400, 401, 422))
async def list_proxies(
    ctx: Ctx,
    user: CurrentUser,
    status: Annotated[str | None, Query(pattern="^(pending|processing|ready|failed)$")] = None,
    flag: Annotated[str | None, Query(pattern="^(pick|reject|none)$",
                                      description="`none`: neither picked nor rejected")] = None,
    min_rating: Annotated[int | None, Query(ge=0, le=5, description="rated at least this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ProxyPage:
    """The proxies not yet ingested (unconfirmed, or confirmed and on their way), newest first."""
    after = _decode_cursor(cursor) if cursor else None
    keep = proxies.ProxyFilter(status=status, flag=flag, min_rating=min_rating)
    rows = await proxies.list_proxies_for_user(ctx.pool, user, keep, limit, after)
    next_cursor = _encode_cursor(rows[-1]) if len(rows) == limit else None
    return ProxyPage(items=[proxy_view(r) for r in rows], next_cursor=next_cursor)


@router.delete("/proxies/{uuid}", status_code=204, responses=responses(401, 404, 409))
async def delete_proxy(uuid: UUID, ctx: Ctx, user: CurrentUser) -> Response:
    await discard(ctx, user, uuid)
    return Response(status_code=204)


class PrioritizeAnswer(BaseModel):
    uuid: UUID
    #: true when a copy of the preview job went to the front of the interactive lane now
    queued: bool
    preview_status: str


@router.post("/proxies/{uuid}/prioritize", status_code=202, response_model=PrioritizeAnswer,
             responses={200: {"model": PrioritizeAnswer,
                              "description": "Nothing to move: asked for already, rendering, ready or "
                                             "failed"},
                        **responses(401, 404, 422)},
             summary="Render this pending photo's preview first (the photos on screen); no body")
async def prioritize(uuid: UUID, response: Response, ctx: Ctx, user: CurrentUser) -> PrioritizeAnswer:
    done = await prioritize_work(ctx, user, uuid)
    if not done.queued:
        response.status_code = 200
    return PrioritizeAnswer(uuid=uuid, queued=done.queued, preview_status=done.preview_status)


class RetryAnswer(BaseModel):
    uuid: UUID
    requeued: str
    removed_parked: int


@router.post("/proxies/{uuid}/retry", status_code=202, response_model=RetryAnswer,
             responses=responses(401, 404, 409))
async def retry(uuid: UUID, ctx: Ctx, user: CurrentUser) -> RetryAnswer:
    done = await retry_work(ctx, user, uuid)
    return RetryAnswer(uuid=uuid, requeued=done.requeued, removed_parked=done.removed_parked)
