"""The IETF "Resumable Uploads for HTTP" draft (draft-ietf-httpbis-resumable-upload, interop
versions 6 to 8) on the tus resources, without the 104.

A request that carries `Upload-Draft-Interop-Version` (and no `Tus-Resumable`)
under `/v1/tus/` is answered here; the work is the same `Resumable` as tus.
What is served and what is not, and why, is in docs/resumable.md. In short:
upload creation (`POST /v1/tus/` with `Upload-Complete`, the representation
as the body), offset retrieval (`HEAD`), append (`PATCH` with
`application/partial-upload`) and cancellation (`DELETE`); never the
`104 (Upload Resumption Supported)` interim response, which an ASGI
application cannot send, so a client learns the upload's URL from the final
201 of a creation with `Upload-Complete: ?0` ("careful" creation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import asyncpg
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from python_multipart.multipart import parse_options_header

from services.upload.deps import UploadContext
from services.upload.resumable.finish import Outcome
from services.upload.resumable.request_body import request_body
from services.upload.resumable.uploads import Resumable
from services.upload.views import kept_answer, upload_answer
from shared.db.status import TusState
from shared.errors import DomainError
from shared.http.problems import PROBLEM_JSON, ProblemError, problem_of

#: interop versions with `Upload-Complete` and `application/partial-upload` (drafts -04 to -12)
INTEROP_VERSIONS = ("6", "7", "8")
PARTIAL_UPLOAD = "application/partial-upload"
PROBLEM_TYPES = "https://iana.org/assignments/http-problem-types#"
DRAFT_HEADER = "upload-draft-interop-version"


def is_draft(request: Request) -> bool:
    return DRAFT_HEADER in request.headers and "tus-resumable" not in request.headers


def _version(request: Request) -> str:
    version = request.headers[DRAFT_HEADER].strip()
    if version not in INTEROP_VERSIONS:
        raise ProblemError(400, "Unsupported draft interop version",
                           f"Upload-Draft-Interop-Version {version!r} is not served; "
                           f"use one of {', '.join(INTEROP_VERSIONS)}", supported=list(INTEROP_VERSIONS))
    return version


def _boolean(raw: str | None, name: str) -> bool | None:
    """A Structured Field Boolean (`?1`/`?0`, parameters ignored); None when absent."""
    if raw is None:
        return None
    value = raw.split(";")[0].strip()
    if value not in ("?0", "?1"):
        raise ProblemError(400, f"Invalid {name}", f"{name} is a structured-field boolean: ?1 or ?0")
    return value == "?1"


def _integer(raw: str | None, name: str) -> int | None:
    """A non-negative Structured Field Integer (at most 15 digits); None when absent."""
    if raw is None:
        return None
    value = raw.split(";")[0].strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 15:
        raise ProblemError(400, f"Invalid {name}", f"{name} is a non-negative integer")
    return int(value)


def _inconsistent(detail: str) -> ProblemError:
    return ProblemError(400, "Inconsistent upload length", detail,
                        type=PROBLEM_TYPES + "inconsistent-upload-length")


def _filename(request: Request) -> dict[str, str]:
    raw = request.headers.get("content-disposition")
    if not raw:
        return {}
    _, params = parse_options_header(raw)
    star = params.get(b"filename*", b"").decode("latin-1")
    if star.lower().startswith("utf-8''"):
        return {"filename": unquote(star[7:], errors="replace")}
    plain = params.get(b"filename", b"").decode("utf-8", "replace")
    return {"filename": plain} if plain else {}


def limits(ctx: UploadContext, row: asyncpg.Record | None = None) -> str:
    limits = f"max-size={ctx.settings.max_upload_bytes}, min-size=1"
    if row is not None:
        left = int((row["expires_at"] - datetime.now(UTC)).total_seconds())
        limits += f", max-age={max(left, 0)}"
    return limits


def _state(row: asyncpg.Record, version: str, ctx: UploadContext) -> dict[str, str]:
    return {
        "Upload-Draft-Interop-Version": version,
        "Upload-Offset": str(row["offset"]),
        "Upload-Length": str(row["length"]),
        "Upload-Complete": "?0" if row["state"] == TusState.RECEIVING else "?1",
        "Upload-Limit": limits(ctx, row),
    }



def _answer(outcome: Outcome, headers: dict[str, str], status: int = 200) -> Response:
    """The final answer: what `POST /v1/uploads` answers for the file, or the upload's state."""
    if outcome.kept is not None:
        answer = kept_answer(outcome.kept)
        return JSONResponse(answer.model_dump(mode="json"), status_code=200,
                            headers=headers | {"Upload-Complete": "?1"})
    if outcome.proxy is None:
        return Response(status_code=204 if status == 200 else status, headers=headers)
    inline = outcome.result.thumbnail_inline if outcome.result else None
    answer = upload_answer(outcome.proxy, outcome.duplicate, inline)
    headers = headers | {"Upload-Complete": "?1",
                         "Link": f'</v1/proxies/{outcome.proxy["uuid"]}>; rel="proxy"'}
    code = 200 if outcome.duplicate else 201
    return JSONResponse(answer.model_dump(mode="json"), status_code=code, headers=headers)


async def _problem_after(resumable: Resumable, user: str, upload_id: UUID, version: str,
                         exc: DomainError | ProblemError) -> Response:
    """A problem answer that says whether the upload is complete: a refused *file* (415...)
    comes with `Upload-Complete: ?1`, a refused *request* with the upload's own state."""
    if isinstance(exc, DomainError):
        body: dict[str, Any] = problem_of(exc)
    else:
        body = {"title": exc.title, "status": exc.status, "detail": exc.detail} | exc.extra
    body.setdefault("type", "about:blank")
    headers = {"Upload-Draft-Interop-Version": version}
    try:
        row = await resumable.row(user, upload_id)
        headers |= _state(row, version, resumable.ctx)
    except DomainError:  # gone or expired meanwhile: the problem alone
        pass
    return JSONResponse({k: v for k, v in body.items() if v is not None}, status_code=body["status"],
                        media_type=PROBLEM_JSON, headers=headers)


async def create(request: Request, resumable: Resumable, user: str, prefix: str) -> Response:
    """Upload creation: the body is (the start of) the representation itself."""
    version = _version(request)
    complete = _boolean(request.headers.get("upload-complete"), "Upload-Complete")
    if complete is None:
        raise ProblemError(400, "Missing Upload-Complete", "an upload creation sends Upload-Complete")
    declared = _integer(request.headers.get("upload-length"), "Upload-Length")
    content_length = _integer(request.headers.get("content-length"), "Content-Length")
    length = declared
    if complete and content_length is not None:
        if declared is not None and declared != content_length:
            raise _inconsistent(f"Upload-Length {declared} but the complete content is {content_length}")
        length = content_length
    if length is None:
        raise ProblemError(400, "Upload length required",
                           "send Upload-Length (or Content-Length with Upload-Complete: ?1): "
                           "limits are checked before the first byte (Upload-Limit min-size=1)")
    row = await resumable.create(user, length, _filename(request))
    location = {"Location": f"{prefix}/{row['id']}"}
    return await _append(request, resumable, user, row["id"], 0, complete, version, location)


async def offset(request: Request, resumable: Resumable, user: str, upload_id: UUID) -> Response:
    version = _version(request)
    row = await resumable.current(user, upload_id)
    # `Cache-Control: no-store` comes with every answer under /v1/tus (`tus.TusHeaders`)
    return Response(status_code=204, headers=_state(row, version, resumable.ctx))


async def append(request: Request, resumable: Resumable, user: str, upload_id: UUID) -> Response:
    version = _version(request)
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != PARTIAL_UPLOAD:
        raise ProblemError(415, "Wrong content type", f"an append's body is {PARTIAL_UPLOAD}")
    at = _integer(request.headers.get("upload-offset"), "Upload-Offset")
    if at is None:
        raise ProblemError(400, "Missing Upload-Offset", "an append sends Upload-Offset")
    complete = _boolean(request.headers.get("upload-complete"), "Upload-Complete")
    if complete is None:
        raise ProblemError(400, "Missing Upload-Complete", "an append sends Upload-Complete")
    row = await resumable.row(user, upload_id)
    declared = _integer(request.headers.get("upload-length"), "Upload-Length")
    content_length = _integer(request.headers.get("content-length"), "Content-Length")
    if declared is not None and declared != row["length"]:
        raise _inconsistent(f"Upload-Length {declared}, but the upload was created with {row['length']}")
    if complete and content_length is not None and at + content_length != row["length"]:
        raise _inconsistent(
            f"offset {at} + {content_length} bytes does not end the upload at {row['length']}")
    if row["state"] != TusState.RECEIVING:
        if content_length:
            raise _inconsistent("the upload is complete: no byte can be appended")
        raise ProblemError(400, "Upload is completed", "the upload is already complete",
                           type=PROBLEM_TYPES + "completed-upload")
    if row["offset"] != at:  # answered with the upload's state: `Upload-Offset` is where to resume
        return await _problem_after(resumable, user, upload_id, version, ProblemError(
            409, "Mismatching upload offset", f"Upload-Offset is {at}, the upload is at {row['offset']}",
            type=PROBLEM_TYPES + "mismatching-upload-offset",
            **{"expected-offset": row["offset"], "provided-offset": at}))
    return await _append(request, resumable, user, upload_id, at, complete, version, {})


async def cancel(request: Request, resumable: Resumable, user: str, upload_id: UUID) -> Response:
    _version(request)
    await resumable.terminate(user, upload_id)
    return Response(status_code=204)


async def _append(request: Request, resumable: Resumable, user: str, upload_id: UUID, at: int,
                  complete: bool, version: str, extra: dict[str, str]) -> Response:
    body = request_body(request)
    try:
        outcome = await resumable.append(user, upload_id, at, body, None, complete=complete)
    except DomainError as exc:
        response = await _problem_after(resumable, user, upload_id, version, exc)
        response.headers.update(extra)
        return response
    row = outcome.row
    if complete and outcome.proxy is None and not body.cut:
        raise _inconsistent(f"the request said Upload-Complete: ?1 but the upload is at "
                            f"{row['offset']} of {row['length']} bytes")
    headers = _state(row, version, resumable.ctx) | extra
    return _answer(outcome, headers, 201 if extra else 200)
