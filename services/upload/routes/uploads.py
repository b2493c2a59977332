"""POST /v1/uploads: parse the request, spool the body, hand it to `upload.accept`."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from services.upload.deps import Ctx, UploadContext
from services.upload.intake import Spool, clean_filename, read_multipart, read_raw, spool_path
from services.upload.upload import UploadResult, accept, known_duplicate
from services.upload.views import UploadAnswer, kept_answer, upload_answer
from shared.http.auth import CurrentUser
from shared.http.problems import ProblemError, responses

router = APIRouter(prefix="/v1")


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
    keep_copy: Annotated[bool, Query(description="store it even when the same bytes are a kept Image "
                                                 "(otherwise the answer is 200 naming that Image)")] = False,
    bulk: Annotated[bool, Query(description="preview on the bulk lane (a large batch or an import): "
                                "it waits behind interactive work; without it, a user's uploads "
                                "beyond the per-minute threshold go there anyway")] = False,
) -> UploadAnswer:
    started = time.perf_counter()
    outcome = "rejected"
    try:
        answer = await _upload(
            request, ctx, user, content_type, content_length, x_filename, x_content_sha256, keep_copy,
            bulk,
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
    content_length: int | None, x_filename: str | None, claimed_sha: str | None, keep_copy: bool,
    bulk: bool,
) -> UploadAnswer:
    limit = ctx.settings.max_upload_bytes
    if content_length is not None and content_length > limit + 64 * 1024:
        raise ProblemError(413, "Upload too large", f"the limit is {limit} bytes", limit=limit)
    await ctx.quotas.before_upload(user, content_length or 0)
    if claimed_sha is not None:
        claimed_sha = claimed_sha.strip().lower()
        if len(claimed_sha) != 64 or any(c not in "0123456789abcdef" for c in claimed_sha):
            raise ProblemError(400, "Invalid X-Content-SHA256", "expected 64 hex characters")
        existing = await known_duplicate(ctx, user, claimed_sha, keep_copy)
        if existing is not None:  # answer before reading the body
            return answer_for(existing)
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
        await spool.finish()
    except BaseException:
        spool.discard()
        raise
    return answer_for(await accept(ctx, user, spool, clean_filename(filename), claimed_sha, keep_copy,
                                   bulk))


def answer_for(result: UploadResult) -> UploadAnswer:
    if result.kept is not None:
        return kept_answer(result.kept)
    assert result.proxy is not None
    return upload_answer(result.proxy, not result.created, result.thumbnail_inline)


def _decode_filename(raw: str | None) -> str | None:
    """X-Filename may be plain ASCII or RFC 8187 style `UTF-8''percent-encoded`."""
    if raw is None:
        return None
    if raw.lower().startswith("utf-8''"):
        from urllib.parse import unquote

        return unquote(raw[7:], errors="replace")
    return raw
