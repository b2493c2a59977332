"""Upload and proxy routes: thin, they parse and call one function."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.upload.deps import Ctx, UploadContext
from services.upload.intake import Spool, clean_filename, read_multipart, read_raw, spool_path
from services.upload.routes_ingest import requeue_failed_ingest
from services.upload.upload import accept, summary
from shared import parking
from shared.db import enhancements, ingests, previews, proxies
from shared.db.status import IngestStatus, ProxyStatus
from shared.http.auth import Caller, CurrentUser
from shared.http.problems import ProblemError, responses
from shared.messages import GeneratePreview
from shared.outbox import enqueue

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")


class Thumbnail(BaseModel):
    url: str
    inline: str | None = None


class UploadAnswer(BaseModel):
    uuid: UUID
    status: str
    duplicate: bool
    original_name: str
    size: int
    sha256: str
    format: str
    thumbnail: Thumbnail
    metadata: dict[str, Any]


class ProxyView(BaseModel):
    uuid: UUID
    original_name: str
    format: str
    mime: str
    size: int
    sha256: str
    preview_status: str
    preview_error: str | None
    preview_width: int | None
    preview_height: int | None
    preview_method: str | None
    preview_degraded: str | None
    enhancement_status: str | None
    ingest_status: str | None
    metadata_error: str | None
    preview_url: str | None
    thumbnail_url: str
    metadata: dict[str, Any]
    uploaded_at: datetime


class ProxyPage(BaseModel):
    items: list[ProxyView]
    next_cursor: str | None


def proxy_view(row: asyncpg.Record) -> ProxyView:
    uuid = row["uuid"]
    return ProxyView(
        uuid=uuid, original_name=row["original_name"], format=row["format"], mime=row["mime"],
        size=row["size"], sha256=row["sha256"], preview_status=row["preview_status"],
        preview_error=row["preview_error"], preview_width=row["preview_width"],
        preview_height=row["preview_height"], preview_method=row["preview_method"],
        preview_degraded=row["preview_degraded"], enhancement_status=row["enhancement_status"],
        ingest_status=row["ingest_status"], metadata_error=row["metadata_error"],
        preview_url=f"/v1/proxies/{uuid}/preview" if row["preview_status"] == ProxyStatus.READY else None,
        thumbnail_url=f"/v1/proxies/{uuid}/thumbnail", metadata=summary(row["metadata"] or {}),
        uploaded_at=row["uploaded_at"],
    )


def _answer(row: asyncpg.Record, duplicate: bool, inline: str | None) -> UploadAnswer:
    return UploadAnswer(
        uuid=row["uuid"], status=row["preview_status"], duplicate=duplicate,
        original_name=row["original_name"], size=row["size"], sha256=row["sha256"],
        format=row["format"],
        thumbnail=Thumbnail(url=f"/v1/proxies/{row['uuid']}/thumbnail", inline=inline),
        metadata=summary(row["metadata"] or {}),
    )


def _spool_dir(ctx: UploadContext) -> Any:
    staging = getattr(ctx.temp_store, "staging_file", None)
    if staging is not None:
        return staging()
    return spool_path(ctx.extras["spool_dir"])


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadAnswer,
    responses={200: {"model": UploadAnswer, "description": "Duplicate of an earlier upload"},
               **responses(400, 401, 411, 413, 415, 422)},
    summary="Upload an original: multipart `file`, or the raw body with X-Filename",
)
async def upload(
    request: Request,
    response: Response,
    ctx: Ctx,
    user: CurrentUser,
    content_type: Annotated[str | None, Header()] = None,
    content_length: Annotated[int | None, Header()] = None,
    x_filename: Annotated[str | None, Header()] = None,
    x_content_sha256: Annotated[str | None, Header()] = None,
) -> UploadAnswer:
    started = time.perf_counter()
    outcome = "rejected"
    try:
        answer = await _upload(
            request, ctx, user, content_type, content_length, x_filename, x_content_sha256
        )
        outcome = "duplicate" if answer.duplicate else "created"
        if answer.duplicate:
            response.status_code = 200
        else:
            ctx.metrics.bytes.inc(answer.size)
        return answer
    finally:
        ctx.metrics.uploads.labels(outcome).inc()
        ctx.metrics.latency.labels(outcome).observe(time.perf_counter() - started)


async def _upload(
    request: Request, ctx: UploadContext, user: str, content_type: str | None,
    content_length: int | None, x_filename: str | None, claimed_sha: str | None,
) -> UploadAnswer:
    limit = ctx.settings.max_upload_bytes
    if content_length is not None and content_length > limit + 64 * 1024:
        raise ProblemError(413, "Upload too large", f"the limit is {limit} bytes", limit=limit)
    if claimed_sha is not None:
        claimed_sha = claimed_sha.strip().lower()
        if len(claimed_sha) != 64 or any(c not in "0123456789abcdef" for c in claimed_sha):
            raise ProblemError(400, "Invalid X-Content-SHA256", "expected 64 hex characters")
        existing = await proxies.find_duplicate(ctx.pool, user, claimed_sha)
        if existing is not None:  # answer before reading the body
            return _answer(existing, True, None)
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not ctype:
        raise ProblemError(
            415, "Missing Content-Type",
            "send multipart/form-data with a 'file' field, or the raw bytes with X-Filename",
        )
    spool = Spool(_spool_dir(ctx), limit)
    try:
        if ctype == "multipart/form-data":
            filename = await read_multipart(request.stream(), content_type or "", spool)
        elif ctype in ("application/x-www-form-urlencoded", "text/plain", "application/json"):
            raise ProblemError(
                415, "Wrong content type",
                f"{ctype} is not an upload: use multipart/form-data or the raw image bytes",
            )
        else:
            filename = _decode_filename(x_filename)
            await read_raw(request.stream(), spool)
        spool.finish()
    except BaseException:
        spool.discard()
        raise
    result = await accept(ctx, user, spool, clean_filename(filename), claimed_sha)
    return _answer(result.proxy, not result.created, result.thumbnail_inline)


def _decode_filename(raw: str | None) -> str | None:
    """X-Filename may be plain ASCII or RFC 8187 style `UTF-8''percent-encoded`."""
    if raw is None:
        return None
    if raw.lower().startswith("utf-8''"):
        from urllib.parse import unquote

        return unquote(raw[7:], errors="replace")
    return raw


@router.get("/proxies/{uuid}", response_model=ProxyView, responses=responses(401, 404))
async def get_proxy(uuid: UUID, ctx: Ctx, user: CurrentUser) -> ProxyView:
    row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise ProblemError(404, "Not found", f"no proxy {uuid}")
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
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ProxyPage:
    after = _decode_cursor(cursor) if cursor else None
    rows = await proxies.list_proxies_for_user(ctx.pool, user, status, limit, after)
    next_cursor = _encode_cursor(rows[-1]) if len(rows) == limit else None
    return ProxyPage(items=[proxy_view(r) for r in rows], next_cursor=next_cursor)


@router.delete("/proxies/{uuid}", status_code=204, responses=responses(401, 404, 409))
async def delete_proxy(uuid: UUID, ctx: Ctx, user: CurrentUser) -> Response:
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await proxies.delete_proxy_for_user(conn, user, uuid)
        if row is None:
            exists = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
            if exists is None:
                raise ProblemError(404, "Not found", f"no proxy {uuid}")
            raise ProblemError(409, "Ingest in progress", "the proxy is being ingested")
    for key in (row["temp_key"], row["exif_thumb_key"], row["preview_path"], row["thumbnail_path"]):
        if key:
            await ctx.temp_store.delete(key)
    return Response(status_code=204)


class RetryAnswer(BaseModel):
    uuid: UUID
    requeued: str
    removed_parked: int


@router.post("/proxies/{uuid}/retry", status_code=202, response_model=RetryAnswer,
             responses=responses(401, 404, 409))
async def retry(uuid: UUID, ctx: Ctx, user: CurrentUser) -> RetryAnswer:
    row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise ProblemError(404, "Not found", f"no proxy {uuid}")
    # a proxy with a failed preview may still be confirmed; once it is, only its ingest is retried
    if row["preview_status"] == ProxyStatus.FAILED and row["ingest_status"] is None:
        removed = await parking.remove(ctx.settings, ctx.settings.queue_preview, str(uuid))
        async with ctx.pool.acquire() as conn, conn.transaction():
            reset = await previews.reset_failed_preview(conn, uuid, user)
            if reset is None:
                raise ProblemError(409, "Not failed", "the preview is no longer failed")
            await enqueue(conn, ctx.topology, ctx.settings.queue_preview,
                          GeneratePreview(uuid=uuid, user_id=user, uploaded_at=row["uploaded_at"]))
        ctx.relay.wake()
        return RetryAnswer(uuid=uuid, requeued="preview", removed_parked=removed)
    if row["ingest_status"] == IngestStatus.FAILED:
        removed = await parking.remove(ctx.settings, ctx.settings.queue_finalize, str(uuid))
        if not await requeue_failed_ingest(ctx, user, uuid):
            raise ProblemError(409, "Not failed", "the ingest is no longer failed")
        return RetryAnswer(uuid=uuid, requeued="ingest", removed_parked=removed)
    raise ProblemError(409, "Nothing to retry", "neither the preview nor the ingest has failed")


class ParkedItem(BaseModel):
    queue: str
    uuid: str | None
    reason: str | None
    error: str | None
    parked_at: str | None
    attempt: int


class ParkedPage(BaseModel):
    items: list[ParkedItem]


class ReplayRequest(BaseModel):
    uuids: list[UUID] | None = None
    queue: str | None = None


class ReplayAnswer(BaseModel):
    replayed: int


def _queue_name(ctx: UploadContext, queue: str | None) -> list[str]:
    names = {"preview": ctx.settings.queue_preview, "finalize": ctx.settings.queue_finalize,
             "ingest": ctx.settings.queue_finalize, "enhance": ctx.settings.queue_enhance}
    if queue is None:
        return [ctx.settings.queue_preview, ctx.settings.queue_finalize, ctx.settings.queue_enhance]
    if queue in names:
        return [names[queue]]
    if queue in names.values():
        return [queue]
    raise ProblemError(422, "Unknown queue", f"use one of {sorted(names)}")


@router.get("/failed", response_model=ParkedPage, responses=responses(401, 422))
async def list_failed(ctx: Ctx, caller: Caller, queue: str | None = None) -> ParkedPage:
    """A user's own parked jobs; an operator's view is everyone's."""
    items: list[ParkedItem] = []
    for name in _queue_name(ctx, queue):
        for parked in await parking.peek(ctx.settings, name):
            if caller.operator or parked.user_id == caller.user_id:
                items.append(ParkedItem(queue=name, uuid=parked.uuid, reason=parked.reason,
                                        error=parked.error, parked_at=parked.parked_at,
                                        attempt=parked.attempt))
    return ParkedPage(items=items)


@router.post("/failed/replay", response_model=ReplayAnswer, responses=responses(401, 422))
async def replay_failed(body: ReplayRequest, ctx: Ctx, caller: Caller) -> JSONResponse:
    wanted = {str(u) for u in body.uuids} if body.uuids else None
    owner = None if caller.operator else caller.user_id  # an operator replays anyone's jobs
    total = 0
    for name in _queue_name(ctx, body.queue):
        total += await parking.replay(ctx.settings, name, user_id=owner, uuids=wanted,
                                      before=_reset_rows(ctx, name))
    ctx.relay.wake()
    return JSONResponse({"replayed": total})


def _reset_rows(ctx: UploadContext, queue: str) -> Any:
    """Before a parked job goes back, put its proxy back in the state the job expects."""
    async def reset(uuid: str) -> None:
        if queue == ctx.settings.queue_preview:
            await previews.reset_failed_preview(ctx.pool, UUID(uuid))
        elif queue == ctx.settings.queue_finalize:
            await ingests.requeue_failed_ingest(ctx.pool, UUID(uuid))
        elif queue == ctx.settings.queue_enhance:
            await enhancements.reset_failed_enhancement(ctx.pool, UUID(uuid))
    return reset
