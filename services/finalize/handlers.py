"""Wiring of the finalize job into the worker harness."""

from __future__ import annotations

from services.finalize.finalize import FinalizeDeps, finalize, record_failure
from shared.exif import AsyncExifTool
from shared.jobs import JobContext, OnFailed, Work
from shared.messages import FinalizeIngest
from shared.naming import validate_pattern
from shared.settings import Settings
from shared.worker import Resources, WorkerSpec


async def build(resources: Resources) -> tuple[Work[FinalizeIngest], OnFailed[FinalizeIngest]]:
    settings = resources.settings
    validate_pattern(settings.schema_pattern)
    tool = AsyncExifTool(settings.exiftool_binary, settings.exiftool_timeout, size=1)  # one job at a time
    resources.extras["exiftool"] = tool
    deps = FinalizeDeps(
        settings=settings, pool=resources.pool, temp_store=resources.temp_store,
        final_store=resources.final_store, publisher=resources.publisher,
        topology=resources.topology, exif=tool,
    )

    async def work(job: FinalizeIngest, ctx: JobContext) -> None:
        await finalize(deps, job, ctx)

    async def on_failed(job: FinalizeIngest | None, reason: str) -> None:
        await record_failure(deps, job, reason)

    return work, on_failed


def spec(settings: Settings) -> WorkerSpec[FinalizeIngest]:
    return WorkerSpec(service="finalize", queue=settings.queue_finalize, model=FinalizeIngest, build=build)
