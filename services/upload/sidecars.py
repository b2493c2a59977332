"""Accepting an XMP sidecar: checked, read by ExifTool, held for (or attached to) its original.

A sidecar sent on its own (`POST /v1/sidecars`) is attached to the user's
not-yet-ingested proxy of the same base name (a RAW first), or waits for
that original: finalize claims it then. `PUT /v1/proxies/{uuid}/sidecar`
attaches one to a named proxy, replacing an earlier one. A malformed sidecar
is refused before anything is stored, so the original never sees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import uuid as uuidlib
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from services.upload.deps import UploadContext
from shared import keys
from shared.db import sidecars
from shared.db.status import INGESTING
from shared.errors import Conflict, NotFound
from shared.exif import ReadMode
from shared.exif.sidecar import SidecarInvalid, base_name, check_sidecar

_NOT_METADATA = ("SourceFile", "Directory", "FileName", "FileModifyDate", "FileAccessDate",
                 "FileInodeChangeDate", "FilePermissions", "FileSize")


async def read_sidecar(ctx: UploadContext, data: bytes) -> dict[str, Any]:
    """ExifTool's reading of the sidecar; `SidecarInvalid` when it cannot make sense of it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sidecar.xmp"
        await asyncio.to_thread(path.write_bytes, data)
        meta = await ctx.exif.read(path, ReadMode.FULL)
    if not str(meta.get("_reader", "")).startswith("exiftool") or meta.get("Error"):
        raise SidecarInvalid(f"ExifTool could not read it: {meta.get('Error') or meta.get('_error')}")
    kept = {k: v for k, v in meta.items() if k not in _NOT_METADATA}
    # jsonb refuses NUL characters
    return dict(json.loads(json.dumps(kept, ensure_ascii=False).replace("\\u0000", "")))


async def accept_sidecar(ctx: UploadContext, user_id: str, name: str, data: bytes,
                         proxy_uuid: UUID | None = None) -> asyncpg.Record:
    """Store a sidecar for `proxy_uuid`, or for the pending proxy named like it (or none yet)."""
    check_sidecar(data)
    base = base_name(name)
    if proxy_uuid is not None:
        proxy = await sidecars.own_proxy(ctx.pool, user_id, proxy_uuid)
        if proxy is None:
            raise NotFound(f"no proxy {proxy_uuid}")
        if proxy["ingest_status"] in INGESTING:
            raise Conflict("the proxy is being ingested: its metadata is fixed", title="Ingest in progress")
        base = base_name(proxy["original_name"])
    else:
        proxy_uuid = await sidecars.pending_proxy_named(ctx.pool, user_id, base)
    meta = await read_sidecar(ctx, data)
    key = keys.sidecar_temp_key(uuidlib.uuid4().hex)
    await ctx.temp_store.put_bytes(key, data, "application/rdf+xml")
    row, replaced = await sidecars.put_sidecar(ctx.pool, {
        "user_id": user_id, "base_name": base, "original_name": name, "temp_key": key,
        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "metadata": meta,
        "proxy_uuid": proxy_uuid})
    if replaced:
        await ctx.temp_store.delete(replaced)
    return row
