"""tus 1.0 under `/v1/tus/`: core, creation, creation-with-upload, termination,
expiration and checksum (sha256, sha1, md5). The work is in `uploads.py`;
these routes only read and write the protocol's headers. A request that speaks
the IETF draft instead (`Upload-Draft-Interop-Version`, no `Tus-Resumable`) is
handed to `ietf_draft.py` on the same resources.
"""

from __future__ import annotations

import base64
import binascii
from email.utils import format_datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.upload.deps import Ctx, UploadContext
from services.upload.resumable import ietf_draft
from services.upload.resumable.finish import Outcome
from services.upload.resumable.receive import CHECKSUMS, Checksum
from services.upload.resumable.request_body import request_body
from services.upload.resumable.uploads import Resumable
from services.upload.views import ProxyView, UploadAnswer, kept_answer, proxy_view, upload_answer
from shared.http.auth import CurrentUser
from shared.http.problems import ProblemError, responses

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
OFFSET_TYPE = "application/offset+octet-stream"
PREFIX = "/v1/tus"

router = APIRouter(prefix=PREFIX, tags=["resumable uploads (tus)"])


def tus(ctx: UploadContext) -> Resumable:
    resumable: Resumable = ctx.extras["tus"]
    return resumable


class TusHeaders:
    """Every answer under /v1/tus carries `Tus-Resumable` (problems included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"tus-resumable", TUS_VERSION.encode()))
                headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


def _version(tus_resumable: str | None) -> None:
    if tus_resumable != TUS_VERSION:
        raise ProblemError(412, "Unsupported tus version",
                           f"send Tus-Resumable: {TUS_VERSION}", supported=TUS_VERSION)


def decimal(raw: str, name: str) -> int:
    """A header's non-negative decimal integer: ASCII digits only (`str.isdigit` also takes
    `²` and other scripts' digits, which `int` then refuses), at most 18 of them."""
    value = raw.strip()
    if not (value.isascii() and value.isdigit()):
        raise ProblemError(400, f"Invalid {name}", f"{name} is a non-negative decimal integer")
    if len(value) > 18:
        raise ProblemError(413, f"{name} too large", f"{name} has more than 18 digits")
    return int(value)


def parse_metadata(raw: str | None, limit: int) -> dict[str, str]:
    """`key base64,key2 base64,flag` -> dict; values decoded as UTF-8, without NUL (the database
    cannot store it); at most `limit` bytes of header."""
    if raw is not None and len(raw) > limit:
        raise ProblemError(413, "Upload-Metadata too large",
                           f"Upload-Metadata may be at most {limit} bytes", limit=limit)
    result: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in (raw or "").split(","))):
        key, _, value = item.partition(" ")
        try:
            result[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ProblemError(400, "Invalid Upload-Metadata",
                               f"the value of {key!r} is not base64 of UTF-8 text") from exc
        if "\x00" in key or "\x00" in result[key]:
            raise ProblemError(400, "Invalid Upload-Metadata", f"the value of {key!r} contains NUL")
    return result


def _checksum(raw: str | None) -> Checksum | None:
    if raw is None:
        return None
    algorithm, _, value = raw.strip().partition(" ")
    if algorithm.lower() not in CHECKSUMS:
        raise ProblemError(400, "Unsupported checksum algorithm",
                           f"use one of {', '.join(CHECKSUMS)}")
    try:
        return Checksum(algorithm.lower(), base64.b64decode(value.strip(), validate=True))
    except binascii.Error as exc:
        raise ProblemError(400, "Invalid Upload-Checksum", "the checksum is not base64") from exc


def _offset_headers(row: asyncpg.Record) -> dict[str, str]:
    return {
        "Upload-Offset": str(row["offset"]),
        "Upload-Length": str(row["length"]),
        "Upload-Expires": format_datetime(row["expires_at"], usegmt=True),
    }



def _body_type(content_type: str | None) -> None:
    if (content_type or "").split(";")[0].strip().lower() != OFFSET_TYPE:
        raise ProblemError(415, "Wrong content type", f"a PATCH body is {OFFSET_TYPE}")


def _done(outcome: Outcome, status: int, extra: dict[str, str]) -> Response:
    headers = _offset_headers(outcome.row) | extra
    if outcome.kept is not None:
        answer = kept_answer(outcome.kept)
        return JSONResponse(answer.model_dump(mode="json"), status_code=200, headers=headers)
    if outcome.proxy is None:
        return Response(status_code=204 if status == 200 else status, headers=headers)
    inline = outcome.result.thumbnail_inline if outcome.result else None
    answer = upload_answer(outcome.proxy, outcome.duplicate, inline)
    headers["Link"] = f'</v1/proxies/{outcome.proxy["uuid"]}>; rel="proxy"'
    return JSONResponse(answer.model_dump(mode="json"), status_code=status, headers=headers)


@router.options("/", status_code=204, summary="tus discovery: version, extensions, limits")
async def options(ctx: Ctx) -> Response:
    return Response(status_code=204, headers={
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(ctx.settings.max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        # the IETF draft's discovery: appends take application/partial-upload, and the limits
        "Accept-Patch": ietf_draft.PARTIAL_UPLOAD,
        "Upload-Limit": ietf_draft.limits(ctx),
    })


@router.post("", status_code=201, include_in_schema=False)
@router.post("/", status_code=201, responses={
    201: {"description": "Created; `Location` names the upload. With a body that completes the "
                         "file, the answer is the accepted upload", "model": UploadAnswer},
    **responses(400, 401, 412, 413, 415, 429)},
    summary="Create a resumable upload (tus creation, creation-with-upload)")
async def create(
    request: Request, ctx: Ctx, user: CurrentUser,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_length: Annotated[str | None, Header()] = None,
    upload_defer_length: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
    content_length: Annotated[int | None, Header()] = None,
) -> Response:
    if ietf_draft.is_draft(request):
        return await ietf_draft.create(request, tus(ctx), user, PREFIX)
    _version(tus_resumable)
    if upload_length is None:
        detail = ("Upload-Defer-Length is not supported: send Upload-Length"
                  if upload_defer_length is not None else "send Upload-Length (a non-negative integer)")
        raise ProblemError(400, "Missing Upload-Length", detail)
    length = decimal(upload_length, "Upload-Length")
    with_body = bool(content_length) or content_type is not None
    if with_body:
        _body_type(content_type)
    metadata = parse_metadata(upload_metadata, ctx.settings.tus_max_metadata_bytes)
    row = await tus(ctx).create(user, length, metadata)
    location = {"Location": f"{PREFIX}/{row['id']}"}
    if not with_body and row["length"] > 0:
        return Response(status_code=201, headers=_offset_headers(row) | location)
    body = request_body(request)
    outcome = await tus(ctx).append(user, row["id"], 0, body, _checksum(upload_checksum))
    return _done(outcome, 201, location)


@router.head("/{upload_id}", responses=responses(401, 404, 410, 412),
             summary="The upload's offset (where to resume)")
async def head(upload_id: UUID, request: Request, ctx: Ctx, user: CurrentUser,
               tus_resumable: Annotated[str | None, Header()] = None) -> Response:
    if ietf_draft.is_draft(request):
        return await ietf_draft.offset(request, tus(ctx), user, upload_id)
    _version(tus_resumable)
    row = await tus(ctx).current(user, upload_id)
    headers = _offset_headers(row)
    if row["metadata"]:
        headers["Upload-Metadata"] = ",".join(
            f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in row["metadata"].items())
    return Response(status_code=200, headers=headers)


@router.patch("/{upload_id}", responses={
    200: {"description": "The last bytes: the accepted upload, as `POST /v1/uploads` answers",
          "model": UploadAnswer},
    204: {"description": "Bytes recorded; `Upload-Offset` is the new offset"},
    **responses(400, 401, 404, 409, 410, 412, 413, 415, 423, 460)},
    summary="Append bytes at Upload-Offset")
async def patch(
    upload_id: UUID, request: Request, ctx: Ctx, user: CurrentUser,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_offset: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    if ietf_draft.is_draft(request):
        return await ietf_draft.append(request, tus(ctx), user, upload_id)
    _version(tus_resumable)
    _body_type(content_type)
    if upload_offset is None:
        raise ProblemError(400, "Missing Upload-Offset", "send Upload-Offset (a non-negative integer)")
    offset = decimal(upload_offset, "Upload-Offset")
    body = request_body(request)
    outcome = await tus(ctx).append(user, upload_id, offset, body, _checksum(upload_checksum))
    return _done(outcome, 200, {})


@router.delete("/{upload_id}", status_code=204, responses=responses(401, 404, 412, 423),
               summary="Terminate an upload and remove its bytes")
async def delete(upload_id: UUID, request: Request, ctx: Ctx, user: CurrentUser,
                 tus_resumable: Annotated[str | None, Header()] = None) -> Response:
    if ietf_draft.is_draft(request):
        return await ietf_draft.cancel(request, tus(ctx), user, upload_id)
    _version(tus_resumable)
    await tus(ctx).terminate(user, upload_id)
    return Response(status_code=204)


@router.get("/{upload_id}/proxy", response_model=ProxyView, responses=responses(401, 404, 409, 410, 415),
            summary="The proxy a completed upload became (or the problem that refused it)")
async def proxy(upload_id: UUID, ctx: Ctx, user: CurrentUser) -> ProxyView:
    outcome = await tus(ctx).proxy(user, upload_id)
    assert outcome.proxy is not None
    return proxy_view(outcome.proxy)
