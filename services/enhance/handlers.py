"""Wiring of the enhance job into the worker harness."""

from __future__ import annotations

import asyncio

from services.enhance.enhance import EnhanceDeps, enhance_preview, record_failure
from shared import imaging
from shared.jobs import JobContext, OnFailed, Work
from shared.messages import EnhancePreview
from shared.settings import Settings
from shared.worker import Resources, WorkerSpec


async def build(resources: Resources) -> tuple[Work[EnhancePreview], OnFailed[EnhancePreview]]:
    imaging.configure_vips(resources.settings.vips_concurrency)
    deps = EnhanceDeps(
        pool=resources.pool, store=resources.temp_store, publisher=resources.publisher,
        topology=resources.topology, limits=imaging.Limits.from_settings(resources.settings),
        cpu=asyncio.Semaphore(1), max_width=resources.settings.enhance_max_width,
    )

    async def work(job: EnhancePreview, ctx: JobContext) -> None:
        await enhance_preview(deps, job, ctx)

    async def on_failed(job: EnhancePreview | None, reason: str) -> None:
        await record_failure(deps, job, reason)

    return work, on_failed


def spec(settings: Settings) -> WorkerSpec[EnhancePreview]:
    return WorkerSpec(service="enhance", queue=settings.queue_enhance, model=EnhancePreview, build=build)
