"""The upload service's long-lived resources and request dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request

from services.upload.quotas import UploadQuotas
from shared.broker.outbox import OutboxRelay
from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.exif import AsyncExifTool
from shared.lanes import ShardChooser
from shared.metrics import UploadMetrics
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.worker.parked import ParkedJobs


@dataclass
class UploadContext:
    settings: Settings
    pool: asyncpg.Pool
    publisher: AmqpPublisher
    topology: Topology
    temp_store: ObjectStore
    final_store: ObjectStore
    exif: AsyncExifTool
    metrics: UploadMetrics
    relay: OutboxRelay
    quotas: UploadQuotas
    extras: dict[str, Any] = field(default_factory=dict)


def shards_of(ctx: UploadContext) -> ShardChooser:
    """The process's chooser of a user's shard in a preview lane (`shared/lanes.py`)."""
    chooser: ShardChooser = ctx.extras["shards"]
    return chooser


def parked_of(ctx: UploadContext) -> ParkedJobs:
    """The process's parked jobs: the read model, and exact replay and removal."""
    jobs: ParkedJobs = ctx.extras["parked"]
    return jobs


async def get_ctx(request: Request) -> UploadContext:  # a coroutine: no worker thread
    ctx: UploadContext = request.app.state.ctx
    return ctx


Ctx = Annotated[UploadContext, Depends(get_ctx)]
