"""Wiring of the preview job into the worker harness."""

from __future__ import annotations

import asyncio

from services.preview.preview import PreviewDeps, generate_preview, record_failure
from shared import imaging
from shared.exif import ExifTool
from shared.jobs import JobContext, OnFailed, Work
from shared.messages import GeneratePreview
from shared.metrics import PreviewMetrics
from shared.settings import Settings
from shared.worker import Resources, WorkerSpec


async def build(resources: Resources) -> tuple[Work[GeneratePreview], OnFailed[GeneratePreview]]:
    settings = resources.settings
    # one libvips thread per worker by default; refuses to run if the untrusted-loader block does not hold
    imaging.configure_vips(settings.vips_concurrency)
    exiftool = ExifTool(settings.exiftool_binary, settings.exiftool_timeout)
    resources.extras["exiftool"] = exiftool
    deps = PreviewDeps(
        pool=resources.pool, store=resources.temp_store, publisher=resources.publisher,
        topology=resources.topology, exiftool=exiftool, limits=imaging.Limits.from_settings(settings),
        metrics=PreviewMetrics(resources.registry), cpu=asyncio.Semaphore(1),
    )

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        await generate_preview(deps, job, ctx)

    async def on_failed(job: GeneratePreview | None, reason: str) -> None:
        await record_failure(deps, job, reason)

    return work, on_failed


def spec(settings: Settings) -> WorkerSpec[GeneratePreview]:
    return WorkerSpec(service="preview", queue=settings.queue_preview, model=GeneratePreview, build=build)
