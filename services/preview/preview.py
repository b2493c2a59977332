"""The preview job: one proxy in, its renditions out (`shared.imaging.renditions`: the preview,
the thumbnail and any other listed), each written to its key and recorded on the proxy.

Idempotent: the output keys are derived from the uuid, and the transition
to `ready` happens once (`processing -> ready`); a redelivered job rewrites the
same objects and finds nothing left to change. The work knows nothing of
RabbitMQ: it gets its dependencies, and its traces and status events go
through `ctx.report` (the harness publishes them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.preview import render
from services.preview.render import Outcome
from shared import imaging, keys
from shared.db import previews
from shared.db.renditions import Recorded, Renditions
from shared.db.status import ProxyStatus
from shared.filetype import HEAD_BYTES, FileType, detect, jpeg_dimensions
from shared.messages import GeneratePreview
from shared.metrics import PreviewMetrics
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.worker import render_process
from shared.worker.context import JobContext, PermanentError
from shared.worker.render_process import RenderCrashed
from shared.worker.render_protocol import Renderer
from shared.worker.spec import Resources, WorkerSpec

log = logging.getLogger(__name__)
SERVICE = "preview"


@dataclass
class PreviewDeps:
    #: the proxy rows (`PgPreviewRecords`, or the in-memory fake of unit tests)
    records: previews.PreviewRecords
    store: ObjectStore
    limits: imaging.Limits
    metrics: PreviewMetrics
    #: one imaging job at a time per process keeps memory bounded whatever the prefetch
    cpu: asyncio.Semaphore
    #: the child process that decodes (the backstop: its address space is capped)
    renderer: Renderer
    exif_binary: str = "exiftool"
    exif_timeout: float = 30.0


async def generate_preview(deps: PreviewDeps, job: GeneratePreview, ctx: JobContext) -> None:
    row = await deps.records.claim_for_preview(job.uuid, job.claim, job.rerender_before)
    if row is None:
        log.info("preview %s: nothing to do (gone, done, or another copy of the job has it)", job.uuid)
        return
    # the processing event goes out while the render runs: the broker round trips of a job
    # overlap its render instead of adding to it (one worker renders one image at a time);
    # a re-render keeps the status it found (the preview in place is served meanwhile)
    rendering = row["preview_status"] == ProxyStatus.PROCESSING
    announced = asyncio.create_task(
        ctx.report.announce(ProxyStatus.PROCESSING) if rendering else asyncio.sleep(0))
    try:
        async with deps.store.local_copy(row["temp_key"]) as path:  # storage errors are transient
            head = await asyncio.to_thread(_head, path)
            ftype = detect(head)
            if ftype is None:
                raise PermanentError("unsupported or corrupt data: the bytes are not a known image format")
            async with deps.cpu:  # held until the render is over, or its process is gone (timeout)
                outcome = await _render(deps, path, ftype)
                # while the original is here (its colour space is needed); a failed re-render
                # keeps the thumbnail and preview it had
                if outcome.rendered is None and row["preview_status"] != ProxyStatus.READY:
                    await _degraded_thumbnail(deps, job, ctx, row["exif_thumb_key"], path)
    finally:
        await announced  # before any later status event, so the stream sees them in order
    traced = asyncio.create_task(_trace_attempts(deps, ctx, outcome.attempts))
    try:
        made = await _store(deps, job, outcome)
    finally:
        await traced
    if made is None or outcome.rendered is None:
        assert outcome.error is not None
        raise PermanentError(outcome.error.reason)
    rendered = outcome.rendered
    done = await deps.records.mark_preview_ready(job.uuid, made, rendered.method, rendered.degraded,
                                                 colour_facts(rendered), job.claim)
    if done is None:  # the proxy was deleted or finished meanwhile
        await _forget_if_deleted(deps, job)
        return
    uploaded = done["uploaded_at"] or job.uploaded_at
    if uploaded is not None and job.rerender_before is None:
        deps.metrics.upload_to_ready.observe(max(0.0, (datetime.now(UTC) - uploaded).total_seconds()))
    await ctx.report.announce(ProxyStatus.READY, width=rendered.width, height=rendered.height)


async def _store(deps: PreviewDeps, job: GeneratePreview, outcome: Outcome) -> Renditions | None:
    """Every rendition written and checked (None when there is nothing to write)."""
    rendered = outcome.rendered
    if rendered is None:
        return None
    specs = {spec.name: spec for spec in deps.limits.renditions}
    made: Renditions = {name: {"key": keys.rendition_key(job.uuid, name), "width": w, "height": h}
                        for name, (w, h) in rendered.sizes.items()}
    await asyncio.gather(*(deps.store.put_bytes(made[name]["key"], data, specs[name].media_type)
                           for name, data in rendered.renditions.items()))
    for name, info in zip(made, await asyncio.gather(*(deps.store.stat(r["key"]) for r in made.values())),
                          strict=True):
        if info is None or info.size == 0:
            raise OSError(f"{made[name]['key']} is missing or empty after writing")  # transient: retried
    return made


async def _forget_if_deleted(deps: PreviewDeps, job: GeneratePreview) -> None:
    """A DELETE (or an ingest) while this job rendered removed the row and the objects it knew
    of; what this job wrote afterwards is nobody's: remove it. A row still there (another
    delivery marked it ready first) keeps them: they are the ones it points at."""
    if await deps.records.load_proxy(job.uuid) is None:
        await asyncio.gather(*(deps.store.delete(keys.rendition_key(job.uuid, spec.name))
                               for spec in deps.limits.renditions))
        log.info("preview %s: the proxy went during the render; its renditions removed", job.uuid)


async def _render(deps: PreviewDeps, path: Path, ftype: FileType) -> Outcome:
    try:
        outcome = await deps.renderer.call(
            render.render, path, ftype.is_raw, deps.limits, deps.exif_binary, deps.exif_timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # only imaging runs there: whatever failed, this input made it fail
        reason = exc.reason if isinstance(exc, RenderCrashed) else f"{type(exc).__name__}: {exc}"[:300]
        attempt = imaging.Attempt("preview_extraction", "render-process", False, reason, 0.0)
        return Outcome(None, imaging.ImagingError(reason), [attempt])
    return outcome


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def colour_facts(rendered: imaging.Rendered) -> previews.ColourFacts:
    """The proxy's colour and HDR columns from what the render found."""
    c, h = rendered.colour, rendered.hdr
    return previews.ColourFacts(c.source if c else None, c.evidence if c else None, c.profile if c else None,
                                c.output if c else None, h.kind if h else None, h.headroom if h else None)


async def _degraded_thumbnail(deps: PreviewDeps, job: GeneratePreview, ctx: JobContext | None,
                              exif_key: str | None, original: Path | None) -> None:
    """Both preview paths failed: a thumbnail from the upload's EXIF thumbnail, if there is one,
    in the original's colour space (read from the original's header when the thumbnail has none)."""
    if not exif_key:
        return
    started = time.perf_counter()
    try:
        data = await deps.store.get_bytes(exif_key)
        thumb = await deps.renderer.call(imaging.thumbnail_from_jpeg, data, deps.limits, original)
        key, size = keys.rendition_key(job.uuid, deps.limits.thumbnail.name), jpeg_dimensions(thumb)
        await deps.store.put_bytes(key, thumb, deps.limits.thumbnail.media_type)
        recorded: Recorded = {"key": key, **({"width": size[0], "height": size[1]} if size else {})}
        await deps.records.set_degraded_thumbnail(job.uuid, recorded,
                                                  "thumbnail from the EXIF thumbnail; no preview")
        if ctx is not None:
            await ctx.report.trace("thumbnail_generation", "exif-thumbnail", True,
                                   "degraded: no preview could be made",
                                   (time.perf_counter() - started) * 1000, len(thumb), size)
    except Exception as exc:
        log.warning("preview %s: no thumbnail from the EXIF thumbnail either: %s", job.uuid, exc)
        if ctx is not None:
            await ctx.report.trace("thumbnail_generation", "exif-thumbnail", False, str(exc)[:300],
                                   (time.perf_counter() - started) * 1000)


async def _trace_attempts(deps: PreviewDeps, ctx: JobContext, attempts: list[imaging.Attempt]) -> None:
    for a in attempts:
        deps.metrics.method.labels(a.step, a.method, "success" if a.success else "failure").inc()
        deps.metrics.method_duration.labels(a.step, a.method).observe(a.duration_ms / 1000)
        dims = (a.width, a.height) if a.width is not None and a.height is not None else None
        await ctx.report.trace(a.step, a.method, a.success, a.reason,  # type: ignore[arg-type]
                               a.duration_ms, a.result_size, dims)


async def record_failure(deps: PreviewDeps, job: GeneratePreview | None, reason: str) -> bool:
    """The job is parked: the proxy says so (and the harness tells the user's screen). A job parked
    after crashes or timeouts made no thumbnail yet: the EXIF thumbnail's is made now, without
    opening the original again (it is what crashed or stalled)."""
    if job is None:
        return False
    row = await deps.records.mark_preview_failed(job.uuid, reason)
    if row is not None and row["thumbnail_path"] is None and row["exif_thumb_key"]:
        await _degraded_thumbnail(deps, job, None, row["exif_thumb_key"], None)
    return row is not None


async def open_deps(resources: Resources) -> PreviewDeps:
    settings = resources.settings
    # one libvips thread per worker by default; refuses to run if the untrusted-loader block does not hold
    imaging.configure_vips(settings.vips_concurrency)
    renderer = render_process.for_settings(settings)  # decodes happen there, never here
    resources.extras["renderer"] = renderer
    # ready to render before the first delivery: a job must not wait for the child's start-up
    await asyncio.to_thread(renderer.start)
    return PreviewDeps(
        records=previews.PgPreviewRecords(resources.pool), store=resources.temp_store,
        limits=imaging.Limits.from_settings(settings),
        metrics=PreviewMetrics(resources.registry), cpu=asyncio.Semaphore(1), renderer=renderer,
        exif_binary=settings.exiftool_binary, exif_timeout=settings.exiftool_timeout,
    )


def worker(settings: Settings) -> WorkerSpec[GeneratePreview, PreviewDeps]:
    return WorkerSpec(service=SERVICE, queue=settings.queue_preview, model=GeneratePreview,
                      deps=open_deps, work=generate_preview, on_failed=record_failure,
                      status_field="preview")
