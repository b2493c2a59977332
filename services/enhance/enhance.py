"""The enhance job: a bigger preview, rendered from the best source, swapped in safely.

The new preview goes to a new key and is verified before the row points at
it; the old object is deleted only after that commit. A failure at any step
leaves the old preview in place and in use.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.enhance import queries
from services.enhance.render import enhance as render
from services.upload.routes_ingest import original_width
from shared.broker import Publisher, publish_status, publish_trace
from shared.imaging import ImagingError, Limits
from shared.jobs import JobContext, PermanentError
from shared.messages import EnhancePreview, ProxyStatusChanged, TraceEvent
from shared.storage import ObjectNotFound, ObjectStore
from shared.topology import Topology

log = logging.getLogger(__name__)
SERVICE = "enhance"


@dataclass
class EnhanceDeps:
    pool: asyncpg.Pool
    store: ObjectStore
    publisher: Publisher
    topology: Topology
    limits: Limits
    cpu: asyncio.Semaphore


def enhanced_key(uuid: object, width: int) -> str:
    return f"ingest-temp/previews/{uuid}-{width}w.jpg"


def from_original(proxy: asyncpg.Record) -> bool:
    """The original is the better source when it is wider than the current preview (RAWs excepted)."""
    if proxy["mime"].startswith("image/x-"):
        return False
    width = original_width(proxy["metadata"] or {})
    return bool(width and width > (proxy["preview_width"] or 0))


@asynccontextmanager
async def _local(store: ObjectStore, key: str, suffix: str) -> AsyncIterator[Path]:
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise PermanentError(f"the source object {key} is missing")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="prophoto-enhance-") as tmp:
        local = Path(tmp) / f"source.{suffix}"
        try:
            await store.download(key, local)
        except ObjectNotFound:
            raise PermanentError(f"the source object {key} is missing") from None
        yield local


async def enhance_preview(deps: EnhanceDeps, job: EnhancePreview, ctx: JobContext) -> None:
    proxy = await queries.claim_for_enhance(deps.pool, job.uuid)
    if proxy is None:
        return  # gone, being ingested, or already done by an earlier delivery
    await _announce(deps, job, "processing")
    started = time.perf_counter()
    use_original = from_original(proxy)
    source_key = proxy["temp_key"] if use_original else proxy["preview_path"]
    method = "original" if use_original else "preview"
    try:
        async with _local(deps.store, source_key, proxy["ext"] if use_original else "jpg") as path:
            async with deps.cpu:
                result, errors = await asyncio.to_thread(render, path, job.target_width, use_original,
                                                         deps.limits)
        method = result.method
        key = enhanced_key(job.uuid, result.width)
        info = await deps.store.put_bytes(key, result.jpeg, "image/jpeg")
        stored = await deps.store.stat(key)
        if stored is None or stored.size != info.size or info.size == 0:
            raise OSError(f"the enhanced preview {key} did not store intact")
        done, old = await queries.replace_preview(deps.pool, job.uuid, key, result.width, result.height)
        if not done:  # ingested or deleted meanwhile: our object is nobody's
            if key != old:
                await deps.store.delete(key)
            await _trace(deps, job, ctx, True, "proxy changed meanwhile", started, None, method)
            return
        if old and old != key:
            await deps.store.delete(old)
    except ImagingError as exc:
        await _trace(deps, job, ctx, False, exc.reason, started, None, method)
        raise PermanentError(exc.reason) from exc
    except Exception as exc:
        await _trace(deps, job, ctx, False, f"{type(exc).__name__}: {exc}"[:500], started, None, method)
        raise
    await _trace(deps, job, ctx, True, "; ".join(errors) or None, started, len(result.jpeg), method)
    await _announce(deps, job, "ready", width=result.width, height=result.height)


async def record_failure(deps: EnhanceDeps, job: EnhancePreview | None, reason: str) -> None:
    if job is None:
        return
    if await queries.mark_failed(deps.pool, job.uuid, reason) is not None:
        await _announce(deps, job, "failed", error=reason[:500])


async def _announce(deps: EnhanceDeps, job: EnhancePreview, status: str, width: int | None = None,
                    height: int | None = None, error: str | None = None) -> None:
    try:
        await publish_status(deps.publisher, deps.topology, ProxyStatusChanged(
            uuid=job.uuid, user_id=job.user_id, field="enhancement", status=status, error=error,
            preview_width=width, preview_height=height,
        ))
    except Exception as exc:
        log.warning("status event for %s not published: %s", job.uuid, exc)


async def _trace(deps: EnhanceDeps, job: EnhancePreview, ctx: JobContext, success: bool,
                 reason: str | None, started: float, size: int | None, method: str) -> None:
    try:
        await publish_trace(deps.publisher, deps.topology, TraceEvent(
            uuid=job.uuid, user_id=job.user_id, trace_type="enhance", method=method, success=success,
            reason=reason, duration_ms=(time.perf_counter() - started) * 1000, result_size=size,
            attempt=ctx.attempt, service=SERVICE,
        ))
    except Exception as exc:
        log.warning("trace for %s not published: %s", job.uuid, exc)
