"""The permanent images: page through them, read one, download its original."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse, StreamingResponse

from services.upload.deps import Ctx, UploadContext
from services.upload.views import ImagePage, ImageView, image_view
from shared.db import images
from shared.errors import NotFound
from shared.http.auth import CurrentUser
from shared.http.problems import ProblemError, responses
from shared.storage import ObjectNotFound

router = APIRouter(prefix="/v1")

#: ids are bigserial: a larger number is a bad request, not a database error
BIGINT_MAX = 2**63 - 1
#: PostgreSQL text cannot hold NUL
NO_NUL = r"^[^\x00]*$"


@router.get("/images", response_model=ImagePage, responses=responses(401, 422),
            summary="Your images, newest first; `cursor` is the previous page's next_cursor")
async def list_images(
    ctx: Ctx, user: CurrentUser,
    taken_from: Annotated[datetime | None, Query(description="inclusive; no offset means UTC")] = None,
    taken_to: Annotated[datetime | None, Query(description="exclusive; no offset means UTC")] = None,
    camera: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    tag: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    day: Annotated[date | None, Query(description="taken on this UTC day (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
) -> ImagePage:
    taken_from, taken_to = _utc(taken_from, "taken_from"), _utc(taken_to, "taken_to")
    if day is not None:  # narrows any range given beside it
        start = datetime.combine(day, time(), UTC)
        taken_from = max(taken_from or start, start)
        taken_to = min(taken_to or start + timedelta(days=1), start + timedelta(days=1))
    rows = await images.list_images_for_user(ctx.pool, user, taken_from, taken_to, camera, tag, cursor,
                                             limit + 1)
    page = rows[:limit]  # one row more than asked tells whether another page exists
    return ImagePage(items=[image_view(r) for r in page],
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
        raise NotFound(f"no image {image_id}")
    return row


@router.get("/images/{image_id}", response_model=ImageView, responses=responses(401, 404))
async def get_image(image_id: ImageId, ctx: Ctx, user: CurrentUser) -> ImageView:
    return image_view(await _image_for(ctx, user, image_id))


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
