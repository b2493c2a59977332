"""What a worker declares (`WorkerSpec`) and the long-lived resources its jobs get (`Resources`).

A job module imports only this, never the harness (`shared/worker/harness.py`), so a
job knows nothing of how messages arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from shared.availability import BROKER_ERRORS, DATABASE_ERRORS, until_available
from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.db import create_pool
from shared.messages import StatusField, TraceType
from shared.settings import Settings
from shared.storage import ObjectStore, open_stores
from shared.worker.context import JobContext

M = TypeVar("M", bound=BaseModel)
D = TypeVar("D")


@dataclass
class Resources:
    """Long-lived resources a worker's job functions receive."""

    settings: Settings
    pool: asyncpg.Pool
    publisher: AmqpPublisher
    topology: Topology
    temp_store: ObjectStore
    final_store: ObjectStore
    registry: CollectorRegistry
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        for extra in self.extras.values():
            closer = getattr(extra, "close", None)
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
        await self.publisher.close()
        await self.pool.close()
        await self.temp_store.close()
        if self.final_store is not self.temp_store:
            await self.final_store.close()


async def open_resources(settings: Settings, registry: CollectorRegistry) -> Resources:
    """Everything a worker needs; waits (with backoff) for a broker or database that is away."""
    topology = Topology(settings)
    # its own publishes (retries, parking, traces, status, heartbeats) try 3 times, each on a
    # fresh channel: a node loss costs a pause, not a requeued job or a lost trace
    publisher = AmqpPublisher(settings.broker, topology, attempts=3)
    await until_available("broker", lambda: publisher.connect(declare=True), errors=BROKER_ERRORS)
    pool = await until_available("database", lambda: create_pool(settings.database),
                                 errors=DATABASE_ERRORS)
    temp, final = open_stores(settings.stores)
    return Resources(settings, pool, publisher, topology, temp, final, registry)


@dataclass
class WorkerSpec(Generic[M, D]):
    """A worker, declared: its queue and message, its dependencies, its work and failure hook.

    `deps` builds the job's dependencies once from the opened resources;
    `work(deps, job, ctx)` runs one attempt; `on_failed(deps, job, reason)`
    records a parked job (the harness calls it after parking) and says
    whether it changed a row. With a `status_field` the harness reports
    (`shared/worker/reports.py`): `ctx.report`, the `attempt_trace` of every
    attempt, and `failed` announced when `on_failed` recorded it.
    """

    service: str
    queue: str
    model: type[M]
    deps: Callable[[Resources], Awaitable[D]]
    work: Callable[[D, M, JobContext], Awaitable[object]]
    on_failed: Callable[[D, M | None, str], Awaitable[bool | None]] | None = None
    status_field: StatusField | None = None
    attempt_trace: TraceType | None = None
