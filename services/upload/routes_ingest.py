"""Confirming uploads (ingest), the permanent images, and on-demand enhanced previews.

Every state change is one conditional UPDATE plus its outbox row in the same
transaction: a claim that did not match queues nothing, so repeating a
request is harmless.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator, model_validator

from services.upload.deps import Ctx, UploadContext
from shared import exif
from shared.broker import publish_status
from shared.db import enhancements, images, ingests, proxies
from shared.db.status import IN_FLIGHT, INGESTING, IngestStatus, ProxyStatus
from shared.http.auth import CurrentUser
from shared.http.problems import ProblemError, responses
from shared.imaging.enhance_rules import best_source, enhance_limit
from shared.messages import EnhancePreview, FinalizeIngest, ProxyStatusChanged
from shared.outbox import enqueue
from shared.storage import ObjectNotFound

router = APIRouter(prefix="/v1")

MAX_INGEST_UUIDS = 500
MAX_TAGS = 50
MAX_ASSOCIATION_BYTES = 16 * 1024
#: ids are bigserial: a larger number is a bad request, not a database error
BIGINT_MAX = 2**63 - 1
#: PostgreSQL text cannot hold NUL
NO_NUL = r"^[^\x00]*$"


# ---- ingest -------------------------------------------------------------------------

class IngestRequest(BaseModel):
    uuids: list[UUID] = Field(min_length=1, max_length=MAX_INGEST_UUIDS)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    association: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        out: list[str] = []
        for tag in tags:
            text = exif.clean_text(tag, 100)
            if text and text not in out:
                out.append(text)
        return out

    @field_validator("association")
    @classmethod
    def _small_association(cls, value: dict[str, Any]) -> dict[str, Any]:
        _storable(value)
        if len(json.dumps(value).encode()) > MAX_ASSOCIATION_BYTES:
            raise ValueError(f"association is larger than {MAX_ASSOCIATION_BYTES} bytes of JSON")
        return value


def _storable(value: Any) -> None:
    """Refuse what Python's JSON parser accepts but jsonb does not (it would be a 500):
    NaN/Infinity, NUL characters, and lone surrogates from `\\udXXX` escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("association may not contain NaN or Infinity")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("association may not contain NUL characters")
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise ValueError("association may not contain unpaired surrogates")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, list):
        for item in value:
            _storable(item)


class IngestResult(BaseModel):
    uuid: UUID
    status: Literal["queued", "refused"]
    reason: str | None = None


class IngestAnswer(BaseModel):
    queued: int
    refused: int
    results: list[IngestResult]


def _refusal(row: asyncpg.Record | None, ingested: bool) -> str:
    if row is None:
        return "already ingested" if ingested else "not found"
    if row["ingest_status"] in INGESTING:
        return "already ingesting"
    if row["ingest_status"] == IngestStatus.FAILED:
        return "ingest failed; retry it with POST /v1/proxies/{uuid}/retry"
    if row["preview_status"] in IN_FLIGHT:
        return f"preview {row['preview_status']}"
    return "not ingestible"


@router.post("/ingest", status_code=202, response_model=IngestAnswer, responses=responses(401, 422),
             summary="Confirm proxies: each accepted one becomes a permanent Image")
async def ingest(body: IngestRequest, ctx: Ctx, user: CurrentUser) -> IngestAnswer:
    wanted = list(dict.fromkeys(body.uuids))
    async with ctx.pool.acquire() as conn, conn.transaction():
        queued = await ingests.queue_ingest(conn, user, wanted, body.tags, body.association)
        for uuid in wanted:
            if uuid in queued:
                await enqueue(conn, ctx.topology, ctx.settings.queue_finalize, FinalizeIngest(
                    uuid=uuid, user_id=user, image_tags=body.tags, association=body.association))
    if queued:
        ctx.relay.wake()
    rest = [u for u in wanted if u not in queued]
    rows = await proxies.statuses_for_user(ctx.pool, user, rest) if rest else {}
    ingested = await images.ingested_among(ctx.pool, user, rest) if rest else set()
    results = [
        IngestResult(uuid=u, status="queued") if u in queued
        else IngestResult(uuid=u, status="refused", reason=_refusal(rows.get(u), u in ingested))
        for u in wanted
    ]
    return IngestAnswer(queued=len(queued), refused=len(wanted) - len(queued), results=results)


async def requeue_failed_ingest(ctx: UploadContext, user_id: str, uuid: UUID) -> bool:
    """failed -> queued with a fresh finalize job; False when the ingest is not failed.

    The caller removes the parked message first when it can; if one survives,
    replaying it is harmless: the worker finishes or skips a done proxy.
    """
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await ingests.requeue_failed_ingest(conn, uuid, user_id)
        if row is None:
            return False
        await enqueue(conn, ctx.topology, ctx.settings.queue_finalize, FinalizeIngest(
            uuid=uuid, user_id=user_id, image_tags=list(row["ingest_tags"] or []),
            association=dict(row["ingest_association"] or {})))
    ctx.relay.wake()
    return True


# ---- images -------------------------------------------------------------------------

class ImageView(BaseModel):
    id: int
    proxy_uuid: UUID
    path: str
    original_name: str
    sha256: str
    size: int
    taken_at: datetime | None
    camera_make: str | None
    camera_model: str | None
    camera: str | None
    tags: list[str]
    association: dict[str, Any]
    metadata: dict[str, Any]
    original_url: str
    created_at: datetime


class ImagePage(BaseModel):
    items: list[ImageView]
    next_cursor: int | None


def _image_view(row: asyncpg.Record) -> ImageView:
    meta = dict(row["metadata"] or {})
    return ImageView(
        id=row["id"], proxy_uuid=row["proxy_uuid"], path=row["path"], original_name=row["original_name"],
        sha256=row["sha256"], size=row["size"], taken_at=row["taken_at"], camera_make=row["camera_make"],
        camera_model=row["camera_model"], camera=meta.get("camera"), tags=list(row["tags"] or []),
        association=dict(row["association"] or {}), metadata=meta,
        original_url=f"/v1/images/{row['id']}/original", created_at=row["created_at"],
    )


@router.get("/images", response_model=ImagePage, responses=responses(401, 422),
            summary="Your images, newest first; `cursor` is the previous page's next_cursor")
async def list_images(
    ctx: Ctx, user: CurrentUser,
    taken_from: Annotated[datetime | None, Query(description="inclusive; no offset means UTC")] = None,
    taken_to: Annotated[datetime | None, Query(description="exclusive; no offset means UTC")] = None,
    camera: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    tag: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
) -> ImagePage:
    taken_from, taken_to = _utc(taken_from, "taken_from"), _utc(taken_to, "taken_to")
    rows = await images.list_images_for_user(ctx.pool, user, taken_from, taken_to, camera, tag, cursor,
                                             limit + 1)
    page = rows[:limit]  # one row more than asked tells whether another page exists
    return ImagePage(items=[_image_view(r) for r in page],
                     next_cursor=page[-1]["id"] if len(rows) > limit else None)


def _utc(value: datetime | None, name: str) -> datetime | None:
    """A bound without an offset means UTC (asyncpg would read it in the server's local zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ProblemError(422, "Invalid date", f"{name} is out of range") from exc


ImageId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


async def _image_for(ctx: UploadContext, user: str, image_id: int) -> asyncpg.Record:
    row = await images.get_image_for_user(ctx.pool, user, image_id)
    if row is None:
        raise ProblemError(404, "Not found", f"no image {image_id}")
    return row


@router.get("/images/{image_id}", response_model=ImageView, responses=responses(401, 404))
async def get_image(image_id: ImageId, ctx: Ctx, user: CurrentUser) -> ImageView:
    return _image_view(await _image_for(ctx, user, image_id))


@router.get("/images/{image_id}/original", responses={307: {"description": "Presigned URL"},
                                                       **responses(401, 404)},
            response_class=StreamingResponse, summary="The original bytes (or a presigned redirect)")
async def get_original(image_id: ImageId, ctx: Ctx, user: CurrentUser) -> Any:
    row = await _image_for(ctx, user, image_id)
    url = await ctx.final_store.presigned_get(row["path"], ctx.settings.s3_presign_seconds)
    if url is not None:
        if not await ctx.final_store.exists(row["path"]):  # our 404, not a signed URL to S3's
            raise ProblemError(404, "Original missing", "the stored original is not there")
        return RedirectResponse(url, status_code=307)
    chunks = ctx.final_store.iter_chunks(row["path"])
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = b""
    except ObjectNotFound as exc:
        raise ProblemError(404, "Original missing", "the stored original is not there") from exc

    async def body() -> Any:
        yield first
        async for chunk in chunks:
            yield chunk

    mime = (row["metadata"] or {}).get("mime") or "application/octet-stream"
    return StreamingResponse(body(), media_type=mime, headers={
        "Content-Length": str(row["size"]),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row['original_name'])}",
        "ETag": f'"{row["sha256"]}"',
    })


# ---- enhance ------------------------------------------------------------------------

log = logging.getLogger(__name__)


class EnhanceRequest(BaseModel):
    target_width: int | None = Field(default=None, ge=1)
    factor: float | None = Field(default=None, gt=1.0, le=16.0)

    @model_validator(mode="after")
    def _one_of(self) -> EnhanceRequest:
        if self.target_width is not None and self.factor is not None:
            raise ValueError("give target_width or factor, not both")
        return self


class EnhanceAnswer(BaseModel):
    uuid: UUID
    enhancement_status: str
    target_width: int
    limit: int
    source: Literal["original", "preview"]


@router.post("/proxies/{uuid}/enhance", status_code=202, response_model=EnhanceAnswer,
             responses=responses(401, 404, 409, 422),
             summary="Make a bigger, sharper preview (default 1.25x the current width)")
async def enhance(uuid: UUID, ctx: Ctx, user: CurrentUser,
                  body: EnhanceRequest | None = None) -> EnhanceAnswer:
    """202 queued; 404 not yours; 409 no ready preview, being ingested, or already enhancing;
    422 (with `limit` and `current_width`) too wide for the configured maximum or the source,
    or not wider than the current preview."""
    body = body or EnhanceRequest()
    row = await proxies.load_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise ProblemError(404, "Not found", f"no proxy {uuid}")
    if row["preview_status"] != ProxyStatus.READY or not row["preview_width"]:
        raise ProblemError(409, "Preview not ready", f"the preview is {row['preview_status']}",
                           preview_status=row["preview_status"])
    if row["ingest_status"] is not None:
        raise ProblemError(409, "Being ingested", "the proxy is confirmed; its preview is going away")
    if row["enhancement_status"] in IN_FLIGHT:
        raise ProblemError(409, "Already enhancing", f"enhancement is {row['enhancement_status']}",
                           enhancement_status=row["enhancement_status"])
    current = int(row["preview_width"])
    factor = body.factor or ctx.settings.enhance_default_factor
    target = body.target_width or round(current * factor)
    source, source_width = best_source(row["mime"], row["metadata"], current)
    limit = enhance_limit(ctx.settings.enhance_max_width, source_width)
    if target > limit:
        raise ProblemError(422, "Too wide", f"the widest preview this photo can get is {limit} px",
                           limit=limit, current_width=current)
    if target <= current:
        raise ProblemError(422, "Not wider", f"the preview is already {current} px wide",
                           limit=limit, current_width=current)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await enhancements.request_enhancement(conn, uuid, user, current):
            raise ProblemError(409, "Already enhancing", "another request got there first")
        await enqueue(conn, ctx.topology, ctx.settings.queue_enhance,
                      EnhancePreview(uuid=uuid, user_id=user, target_width=target))
        # Announced before the commit makes the job visible, so `pending` always reaches
        # listeners before the worker's `processing`. Best effort: the row is the truth.
        try:
            await publish_status(ctx.publisher, ctx.topology, ProxyStatusChanged(
                uuid=uuid, user_id=user, field="enhancement", status=ProxyStatus.PENDING,
                preview_width=current, preview_height=row["preview_height"]))
        except Exception:
            log.warning("enhancement pending event for %s not published", uuid, exc_info=True)
    ctx.relay.wake()
    return EnhanceAnswer(uuid=uuid, enhancement_status=ProxyStatus.PENDING, target_width=target, limit=limit,
                         source=source)
