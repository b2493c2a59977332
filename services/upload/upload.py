"""The fast upload: spool, detect, read metadata, record the proxy and its job.

Order matters for "nothing lost, nothing left behind":
1. the body is spooled and hashed; a rejected upload deletes its spool;
2. metadata and the EXIF thumbnail are read from the local spool file;
3. the objects go to the temp store under server-chosen keys;
4. the proxy row and the outbox row commit in one transaction: from then on
   the preview job cannot be lost, even if the broker is down;
5. if the insert loses a race with the same bytes, our objects are removed.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.upload.deps import UploadContext, shards_of
from services.upload.intake import Spool
from shared import exif, keys
from shared.broker.outbox import enqueue
from shared.db import images, proxies
from shared.errors import Conflict, Invalid, Unsupported
from shared.exif.sidecar import looks_like_xmp
from shared.filetype import SUPPORTED_DESCRIPTION, detect, jpeg_dimensions
from shared.lanes import preview_job, upload_lane
from shared.messages import TraceEvent

log = logging.getLogger(__name__)

EXIF_THUMB_MAX = 256 * 1024
INLINE_THUMB_MAX = 48 * 1024


@dataclass
class UploadResult:
    """A new proxy, the user's proxy with the same bytes, or (`kept`, with `proxy` None)
    the user's kept Image with the same bytes."""

    created: bool
    proxy: asyncpg.Record | None
    thumbnail_inline: str | None = None
    kept: asyncpg.Record | None = None


def _is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


async def known_duplicate(ctx: UploadContext, user_id: str, claimed_sha256: str,
                          keep_copy: bool = False) -> UploadResult | None:
    """The user's proxy or kept Image with the hash the client claims, looked up before the
    body is read."""
    return await _duplicate(ctx, user_id, claimed_sha256, keep_copy)


async def _duplicate(ctx: UploadContext, user_id: str, sha256: str, keep_copy: bool) -> UploadResult | None:
    """A proxy with these bytes first (still under review), else a kept Image, unless the
    caller asked to keep a second copy of a kept photo."""
    existing = await proxies.find_duplicate(ctx.pool, user_id, sha256)
    if existing is not None:
        return UploadResult(False, existing)
    kept = None if keep_copy else await images.kept_with_sha(ctx.pool, user_id, sha256)
    return UploadResult(False, None, kept=kept) if kept is not None else None


async def accept(
    ctx: UploadContext, user_id: str, spool: Spool, original_name: str, claimed_sha256: str | None,
    keep_copy: bool = False, bulk: bool = False,
) -> UploadResult:
    """Turn a complete spool into a proxy. The spool is always consumed or removed.

    Looks for a duplicate once: here, or before the body when the client
    claimed its hash (the insert's ON CONFLICT catches a concurrent twin).
    The preview job goes to the bulk lane with `bulk`, or past the user's
    uploads-per-minute threshold (`shared/lanes.py`).
    """
    try:
        return await _accept(ctx, user_id, spool, original_name, claimed_sha256, keep_copy, bulk)
    finally:
        spool.path.unlink(missing_ok=True)


async def _accept(
    ctx: UploadContext, user_id: str, spool: Spool, original_name: str, claimed_sha256: str | None,
    keep_copy: bool, bulk: bool,
) -> UploadResult:
    if spool.size == 0:
        raise Invalid("the body has no bytes", title="Empty upload")
    if claimed_sha256 and claimed_sha256.lower() != spool.sha256:
        raise Invalid("X-Content-SHA256 does not match the bytes received", title="Checksum mismatch",
                      sha256=spool.sha256)
    ftype = detect(bytes(spool.head))
    if ftype is None and bytes(spool.head[4:12]) in _MOVIE_BRANDS:
        raise Unsupported("this is a movie, not a photo: a Live Photo's movie goes to POST /v1/live-videos "
                          "(after its photo) or PUT /v1/proxies/{uuid}/live-video")
    if ftype is None and looks_like_xmp(bytes(spool.head)):
        raise Unsupported("this is an XMP sidecar, not a photo: send it to POST /v1/sidecars (it joins "
                          "the original of the same name) or PUT /v1/proxies/{uuid}/sidecar")
    if ftype is None:
        raise Unsupported(f"the bytes are not a supported photo format. {SUPPORTED_DESCRIPTION}")

    if not claimed_sha256:  # with a claimed hash the caller has looked already (`known_duplicate`)
        duplicate = await _duplicate(ctx, user_id, spool.sha256, keep_copy)
        if duplicate is not None:
            return duplicate

    uuid = uuidlib.uuid4()
    started = time.perf_counter()
    meta = await _read_metadata(ctx, spool.path)
    read_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    thumb = _thumbnail_at_offset(spool, meta) if ftype.format == "jpeg" else None
    thumb = thumb or await _exif_thumbnail(ctx, spool.path, meta)
    thumb_ms = (time.perf_counter() - started) * 1000

    key = keys.original_key(uuid, ftype.ext)
    thumb_key = keys.exif_thumb_key(uuid) if thumb else None
    if thumb_key and thumb:
        await ctx.temp_store.put_bytes(thumb_key, thumb, "image/jpeg")
    try:
        await ctx.temp_store.put_file(key, spool.path, ftype.mime, move=True)
        now = datetime.now(UTC)
        async with ctx.pool.acquire() as conn, conn.transaction():
            row = await proxies.insert_proxy(conn, {
                "uuid": uuid, "user_id": user_id, "original_name": original_name,
                "ext": ftype.ext, "mime": ftype.mime, "format": ftype.format,
                "size": spool.size, "sha256": spool.sha256, "temp_key": key,
                "exif_thumb_key": thumb_key, "metadata": meta, "uploaded_at": now,
                "expires_at": now + timedelta(days=ctx.settings.proxy_expiry_days),
            })
            if row is not None:
                lane = await upload_lane(conn, ctx.settings, user_id, bulk)
                shard = await shards_of(ctx).choose(conn, lane, user_id)
                await enqueue(conn, ctx.topology, preview_job(uuid, user_id, lane, now, shard=shard))
                for event in _intake_traces(uuid, user_id, meta, read_ms, thumb, thumb_ms):
                    await enqueue(conn, ctx.topology, event)
    except BaseException:
        await _remove(ctx, key, thumb_key)
        raise
    if row is None:  # lost a race with the same bytes from the same user
        await _remove(ctx, key, thumb_key)
        existing = await proxies.find_duplicate(ctx.pool, user_id, spool.sha256)
        if existing is None:
            raise Conflict("a concurrent upload of the same bytes was removed")
        return UploadResult(False, existing)
    ctx.relay.wake()
    ctx.quotas.created(user_id)
    inline = None
    if thumb and len(thumb) <= INLINE_THUMB_MAX:
        inline = "data:image/jpeg;base64," + base64.b64encode(thumb).decode()
    return UploadResult(True, row, inline)


#: ISO-BMFF brands of movies (QuickTime, MP4), told apart from HEIC/AVIF photos
_MOVIE_BRANDS = {b"ftypqt  ", b"ftypisom", b"ftypmp41", b"ftypmp42", b"ftypM4V "}


def _found(meta: dict[str, Any]) -> list[str] | None:
    try:
        return exif.found_fields(exif.normalize(meta))
    except Exception:  # a trace detail: never a reason to fail the upload
        return None


def _intake_traces(uuid: uuidlib.UUID, user_id: str, meta: dict[str, Any], read_ms: float,
                   thumb: bytes | None, thumb_ms: float) -> list[TraceEvent]:
    """The upload's steps as the debug page shows them: the fast metadata read (fields
    read as the result size) and the embedded thumbnail, when the file declares one.
    They go through the outbox with the preview job: no trace for a row that never was."""
    error = meta.get("_error")
    events = [TraceEvent(
        uuid=uuid, user_id=user_id, trace_type="metadata_extraction",
        method=str(meta.get("_reader", "exiftool")),
        success=error is None, reason=error, duration_ms=round(read_ms, 3),
        result_size=None if error else len(meta), service="upload",
        fields=None if error else _found(meta))]
    if thumb:
        width, height = jpeg_dimensions(thumb) or (None, None)
        events.append(TraceEvent(
            uuid=uuid, user_id=user_id, trace_type="thumbnail_generation",
            method="upload-exif-thumbnail", success=True, duration_ms=round(thumb_ms, 3),
            result_size=len(thumb), width=width, height=height, service="upload"))
    return events


async def _read_metadata(ctx: UploadContext, path: Path) -> dict[str, Any]:
    try:
        meta = await ctx.exif.read(path, ctx.settings.exiftool_upload_mode)
    except Exception as exc:  # metadata is a nicety at this stage, never a reason to refuse
        log.warning("fast metadata read failed: %s", exc)
        return {"_error": str(exc)[:200]}
    meta = {k: v for k, v in meta.items() if k not in ("SourceFile", "Directory", "FileName")}
    safe: dict[str, Any] = _jsonb_safe(meta)
    return safe


def _jsonb_safe(value: Any) -> Any:
    """PostgreSQL's jsonb refuses NUL characters, which hostile EXIF may carry."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _jsonb_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonb_safe(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _thumbnail_at_offset(spool: Spool, meta: dict[str, Any]) -> bytes | None:
    """The EXIF thumbnail sliced from the spooled bytes where ExifTool's read says it is.

    For a JPEG the fast read already reports `ThumbnailOffset` (from the file's start)
    and `ThumbnailLength`; cutting those bytes out saves a second ExifTool
    call per upload. Usually they lie in the first 64 KiB, kept in memory;
    otherwise one bounded read. Anything that is not a JPEG of that length
    is left to ExifTool's own extraction.
    """
    offset, length = meta.get("ThumbnailOffset"), meta.get("ThumbnailLength")
    if not isinstance(offset, int) or not isinstance(length, int):
        return None
    if offset < 0 or not 0 < length <= EXIF_THUMB_MAX or offset + length > spool.size:
        return None
    if offset + length <= len(spool.head):
        data = bytes(spool.head[offset:offset + length])
    else:
        with open(spool.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
    return data if len(data) == length and _is_jpeg(data) else None


async def _exif_thumbnail(ctx: UploadContext, path: Path, meta: dict[str, Any]) -> bytes | None:
    try:  # only when the metadata lists one that fits: its declared length is checked first
        data = await ctx.exif.extract_declared(path, meta, "ThumbnailImage", EXIF_THUMB_MAX)
    except Exception as exc:
        log.info("no EXIF thumbnail: %s", exc)
        return None
    return data if data and _is_jpeg(data) else None


async def _remove(ctx: UploadContext, *keys: str | None) -> None:
    for k in keys:
        if k:
            try:
                await ctx.temp_store.delete(k)
            except Exception:
                log.exception("could not remove %s", k)


def summary(meta: dict[str, Any]) -> dict[str, Any]:
    try:
        return exif.summarize(meta)
    except Exception:
        return {}
