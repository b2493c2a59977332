"""A Live Photo's movie (`IMG_1234.MOV` beside `IMG_1234.HEIC`): kept as its photo's companion.

No video processing is done: the movie is checked to be a QuickTime/MP4 file
by ExifTool, stored, and moved beside its photo's original when the photo
becomes an Image. A movie alone is refused: it must name a proxy
(`PUT /v1/proxies/{uuid}/live-video`) or follow a not-yet-ingested HEIC or
JPEG of the same base name (`POST /v1/live-videos`). When the photo's
ContentIdentifier is known (finalize's full read) and differs from the
movie's, the movie is not kept with it.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid as uuidlib
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import asyncpg

from services.upload.deps import UploadContext
from shared import keys
from shared.db import sidecars
from shared.db.status import INGESTING
from shared.errors import Conflict, NotFound, Refused, TooLarge, Unsupported
from shared.exif import ReadMode
from shared.exif.sidecar import base_name

KIND = "live-video"
_MOVIE_TYPES = {"MOV": "video/quicktime", "MP4": "video/mp4"}


async def _spool(stream: AsyncIterator[bytes], path: Path, limit: int) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as fh:  # noqa: ASYNC230 - small writes of a bounded body
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the limit is {limit} bytes", limit=limit)
            digest.update(chunk)
            fh.write(chunk)
    return size, digest.hexdigest()


async def _proxy_for(ctx: UploadContext, user_id: str, name: str,
                     proxy_uuid: UUID | None) -> tuple[UUID, str]:
    if proxy_uuid is None:
        found = await sidecars.pending_proxy_named(ctx.pool, user_id, base_name(name), KIND)
        if found is None:
            raise Refused(f"a Live Photo movie is kept only with its photo: upload the HEIC or JPEG "
                          f"named like {name} first, or PUT it on that photo's proxy",
                          title="Movie without its photo")
        return found, base_name(name)
    proxy = await sidecars.own_proxy(ctx.pool, user_id, proxy_uuid)
    if proxy is None:
        raise NotFound(f"no proxy {proxy_uuid}")
    if proxy["ingest_status"] in INGESTING:
        raise Conflict("the proxy is being ingested: its files are fixed", title="Ingest in progress")
    return proxy_uuid, base_name(proxy["original_name"])


async def accept_live_video(ctx: UploadContext, user_id: str, name: str, stream: AsyncIterator[bytes],
                            proxy_uuid: UUID | None = None) -> asyncpg.Record:
    """Store a Live Photo's movie for its photo's proxy; refused when there is no photo for it."""
    target, base = await _proxy_for(ctx, user_id, name, proxy_uuid)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "movie"
        size, sha = await _spool(stream, path, ctx.settings.max_upload_bytes)
        meta = await ctx.exif.read(path, ReadMode.FAST2)
        file_type = str(meta.get("FileType") or "")
        if file_type not in _MOVIE_TYPES:
            raise Unsupported("a Live Photo movie is a QuickTime or MP4 file; "
                              f"this is {file_type or 'unknown'}")
        key = keys.companion_temp_key(uuidlib.uuid4().hex, file_type.lower())
        await ctx.temp_store.put_file(key, path, _MOVIE_TYPES[file_type])
    kept = {k: meta[k] for k in ("ContentIdentifier", "FileType", "Duration", "CreationDate") if k in meta}
    row, replaced = await sidecars.put_sidecar(ctx.pool, {
        "user_id": user_id, "base_name": base, "original_name": name, "temp_key": key, "sha256": sha,
        "size": size, "metadata": kept, "proxy_uuid": target, "kind": KIND})
    if replaced:
        await ctx.temp_store.delete(replaced)
    return row
