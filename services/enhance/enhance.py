"""The enhance job: a bigger preview, rendered from the best source, swapped in safely.

The new preview goes to a new key and is read back and checked before the
row points at it; the old object is deleted only after that commit. A
failure at any step leaves the old preview in place and in use.

What is retried: a source that cannot be fetched or decoded. The preview was
made from that very object, so its failing now is a storage fault (a partial
write, a hiccup, an object being replaced) that a second look may not see;
two attempts are cheap. What is not: more pixels than allowed, or a target
past the limit (deterministic, another attempt gives the same answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from shared import imaging, keys
from shared.db import enhancements
from shared.db.status import ProxyStatus
from shared.imaging import ImagingError, Limits, refused
from shared.imaging.enhance import Enhanced, render_enhanced
from shared.imaging.enhance_rules import best_source, enhance_limit
from shared.messages import EnhancePreview
from shared.settings import Settings
from shared.storage import ObjectNotFound, ObjectStore
from shared.worker import render_process
from shared.worker.context import JobContext, PermanentError
from shared.worker.render_process import RenderCrashed
from shared.worker.render_protocol import Renderer
from shared.worker.spec import Resources, WorkerSpec

log = logging.getLogger(__name__)
SERVICE = "enhance"


@dataclass
class EnhanceDeps:
    #: the proxy rows (`PgEnhanceRecords`, or the in-memory fake of unit tests)
    records: enhancements.EnhanceRecords
    store: ObjectStore
    limits: Limits
    cpu: asyncio.Semaphore
    #: the child process that decodes (the backstop: its address space is capped)
    renderer: Renderer
    max_width: int = 4096


class SourceMissing(OSError):
    """The object to render from is not in the store (retried: see the module doc)."""


@asynccontextmanager
async def _local(store: ObjectStore, key: str | None, suffix: str) -> AsyncIterator[Path]:
    if not key:
        raise PermanentError("the proxy has no source object to render from")
    async with contextlib.AsyncExitStack() as stack:
        try:
            path = await stack.enter_async_context(store.local_copy(key, suffix))
        except ObjectNotFound:
            raise SourceMissing(f"the source object {key} is missing") from None
        yield path


async def enhance_preview(deps: EnhanceDeps, job: EnhancePreview, ctx: JobContext) -> None:
    proxy = await deps.records.claim_for_enhance(job.uuid)
    if proxy is None:
        return  # gone, being ingested, or already done by an earlier delivery
    await ctx.report.announce(ProxyStatus.PROCESSING)
    current = int(proxy["preview_width"] or 0)
    source, source_width = best_source(proxy["mime"], proxy["metadata"], current)
    use_original = source == "original"
    source_key = proxy["temp_key"] if use_original else proxy["preview_path"]
    ctx.note.method = source  # from here on the harness traces this attempt, whatever happens
    limit = enhance_limit(deps.max_width, source_width)
    written: str | None = None  # our new object, until the row points at it
    try:
        if not current < job.target_width <= limit:
            # the API checked this; a replayed or hand-made message may not have been
            raise PermanentError(f"target width {job.target_width} is outside ({current}, {limit}]")
        async with _local(deps.store, source_key, proxy["ext"] if use_original else "jpg") as path:
            async with deps.cpu:  # held until the render is over, or its process is gone (timeout)
                result, errors = await _render(deps, path, job.target_width, use_original)
        ctx.note.method = result.method
        key = keys.enhanced_key(job.uuid, result.width)
        if key != proxy["preview_path"]:  # never the object in use (widths differ; belt and braces)
            written = key
        await deps.store.put_bytes(key, result.jpeg, "image/jpeg")
        try:  # verify what the store holds, not what we sent
            stored = await deps.store.get_bytes(key)
        except (ObjectNotFound, FileNotFoundError):
            stored = b""
        if stored != result.jpeg:
            raise OSError(f"the enhanced preview {key} did not store intact")
        done, old = await deps.records.mark_enhancement_ready(job.uuid, key, result.width, result.height)
        if done or key == old:
            written = None
        if not done:  # ingested or deleted meanwhile: our object is nobody's
            await _forget(deps, written)
            ctx.note.reason = "proxy changed meanwhile"
            return
    except Exception as exc:
        await _forget(deps, written)
        if isinstance(exc, ImagingError) and refused(exc):
            raise PermanentError(exc.reason) from exc  # decided from the header: a retry gives the same
        raise
    if old and old != key:
        try:  # committed: a leftover object costs space, never correctness
            await deps.store.delete(old)
        except Exception as exc:
            log.warning("old preview %s of %s not deleted: %s", old, job.uuid, exc)
    ctx.note.reason, ctx.note.size = "; ".join(errors) or None, len(result.jpeg)
    await ctx.report.announce(ProxyStatus.READY, width=result.width, height=result.height)


async def _render(deps: EnhanceDeps, path: Path, target: int, use_original: bool
                  ) -> tuple[Enhanced, list[str]]:
    try:
        rendered = await deps.renderer.call(render_enhanced, path, target, use_original, deps.limits)
    except RenderCrashed as exc:  # the input took the render process down: it would again
        raise PermanentError(exc.reason) from exc
    except (ImagingError, asyncio.CancelledError):
        raise
    except Exception as exc:  # only imaging runs there: an error of the decoders themselves
        raise ImagingError(f"{type(exc).__name__}: {exc}"[:300]) from exc
    return rendered


async def _forget(deps: EnhanceDeps, key: str | None) -> None:
    """Remove a new preview the row does not point at (best effort: it is only space)."""
    if key is None:
        return
    try:
        await deps.store.delete(key)
    except Exception as exc:
        log.warning("unused enhanced preview %s not deleted: %s", key, exc)


async def record_failure(deps: EnhanceDeps, job: EnhancePreview | None, reason: str) -> bool:
    if job is None:
        return False
    return await deps.records.mark_enhancement_failed(job.uuid, reason) is not None


async def open_deps(resources: Resources) -> EnhanceDeps:
    imaging.configure_vips(resources.settings.vips_concurrency)
    renderer = render_process.for_settings(resources.settings)  # decodes happen there, never here
    resources.extras["renderer"] = renderer
    # ready to render before the first delivery: an enhance is interactive, it must not wait for start-up
    await asyncio.to_thread(renderer.start)
    return EnhanceDeps(
        records=enhancements.PgEnhanceRecords(resources.pool), store=resources.temp_store,
        limits=Limits.from_settings(resources.settings),
        cpu=asyncio.Semaphore(1), renderer=renderer, max_width=resources.settings.enhance_max_width,
    )


def worker(settings: Settings) -> WorkerSpec[EnhancePreview, EnhanceDeps]:
    return WorkerSpec(service=SERVICE, queue=settings.queue_enhance, model=EnhancePreview,
                      deps=open_deps, work=enhance_preview, on_failed=record_failure,
                      status_field="enhancement", attempt_trace="enhance")
