"""Companion files: XMP sidecars (`POST /v1/sidecars` beside the originals of a batch,
`PUT /v1/proxies/{uuid}/sidecar`) and Live Photo movies (`POST /v1/live-videos`,
`PUT /v1/proxies/{uuid}/live-video`)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from services.upload.deps import Ctx
from services.upload.intake import clean_filename
from services.upload.live_video import accept_live_video
from services.upload.sidecars import accept_sidecar
from shared.errors import Invalid, TooLarge
from shared.exif import normalize
from shared.exif.sidecar import MAX_SIDECAR_BYTES
from shared.http.auth import CurrentUser
from shared.http.problems import responses

router = APIRouter(prefix="/v1")


class SidecarAnswer(BaseModel):
    """A stored sidecar: the proxy it belongs to (null: it waits for an original of its name)
    and the fields it will set on that Image, over the file's own."""

    id: int
    original_name: str
    size: int
    sha256: str
    proxy_uuid: UUID | None
    rating: int | None
    label: str | None
    title: str | None
    caption: str | None
    keywords: list[str]
    keyword_paths: list[str]


def sidecar_answer(row: asyncpg.Record) -> SidecarAnswer:
    fields = normalize(dict(row["metadata"] or {}))
    return SidecarAnswer(
        id=row["id"], original_name=row["original_name"], size=row["size"], sha256=row["sha256"],
        proxy_uuid=row["proxy_uuid"], rating=fields["rating"], label=fields["label"], title=fields["title"],
        caption=fields["caption"], keywords=fields["keywords"], keyword_paths=fields["keyword_paths"])


async def _body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_SIDECAR_BYTES:
            raise TooLarge(f"an XMP sidecar may be {MAX_SIDECAR_BYTES} bytes", limit=MAX_SIDECAR_BYTES)
    return bytes(data)


def _raw_body(media_type: str) -> dict[str, Any]:
    """The OpenAPI of a route whose body is the file itself, not a form."""
    return {"requestBody": {"required": True, "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}}}}


def _named(x_filename: str | None, how: str) -> str:
    """The file's name from X-Filename, which must have an extension (`how` says what to send)."""
    name = clean_filename(x_filename)
    if not name or "." not in name:
        raise Invalid(how, title="Missing X-Filename")
    return name


_SIDECAR_BODY = _raw_body("application/rdf+xml")


@router.post("/sidecars", status_code=201, response_model=SidecarAnswer, openapi_extra=_SIDECAR_BODY,
             responses=responses(400, 401, 413, 422),
             summary="Upload an XMP sidecar (raw body, X-Filename): it joins the original of the same "
                     "base name, uploaded before or after it")
async def post_sidecar(request: Request, ctx: Ctx, user: CurrentUser,
                       x_filename: Annotated[str | None, Header()] = None) -> SidecarAnswer:
    name = _named(x_filename, "name the sidecar in X-Filename (IMG_1234.xmp), as its original is named")
    return sidecar_answer(await accept_sidecar(ctx, user, name, await _body(request)))


@router.put("/proxies/{uuid}/sidecar", response_model=SidecarAnswer, openapi_extra=_SIDECAR_BODY,
            responses=responses(400, 401, 404, 409, 413, 422),
            summary="Attach an XMP sidecar to a proxy (replacing an earlier one) before it is ingested")
async def put_sidecar(uuid: UUID, request: Request, ctx: Ctx, user: CurrentUser,
                      x_filename: Annotated[str | None, Header()] = None) -> SidecarAnswer:
    name = clean_filename(x_filename) or f"{uuid}.xmp"
    return sidecar_answer(await accept_sidecar(ctx, user, name, await _body(request), uuid))


class LiveVideoAnswer(BaseModel):
    """A stored Live Photo movie and the photo's proxy it will be kept with."""

    id: int
    original_name: str
    size: int
    sha256: str
    proxy_uuid: UUID
    content_identifier: str | None


def live_video_answer(row: asyncpg.Record) -> LiveVideoAnswer:
    return LiveVideoAnswer(id=row["id"], original_name=row["original_name"], size=row["size"],
                           sha256=row["sha256"], proxy_uuid=row["proxy_uuid"],
                           content_identifier=(row["metadata"] or {}).get("ContentIdentifier"))


_MOVIE_BODY = _raw_body("video/quicktime")


@router.post("/live-videos", status_code=201, response_model=LiveVideoAnswer, openapi_extra=_MOVIE_BODY,
             responses=responses(400, 401, 413, 415, 422),
             summary="Upload a Live Photo's movie (raw body, X-Filename) after its photo: kept beside it")
async def post_live_video(request: Request, ctx: Ctx, user: CurrentUser,
                          x_filename: Annotated[str | None, Header()] = None) -> LiveVideoAnswer:
    name = _named(x_filename, "name the movie in X-Filename (IMG_1234.MOV), as its photo is named")
    return live_video_answer(await accept_live_video(ctx, user, name, request.stream()))


@router.put("/proxies/{uuid}/live-video", response_model=LiveVideoAnswer, openapi_extra=_MOVIE_BODY,
            responses=responses(400, 401, 404, 409, 413, 415),
            summary="Attach a Live Photo's movie to its photo's proxy (replacing an earlier one)")
async def put_live_video(uuid: UUID, request: Request, ctx: Ctx, user: CurrentUser,
                         x_filename: Annotated[str | None, Header()] = None) -> LiveVideoAnswer:
    name = clean_filename(x_filename) or f"{uuid}.mov"
    return live_video_answer(await accept_live_video(ctx, user, name, request.stream(), uuid))
