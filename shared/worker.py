"""The harness every queue worker runs in.

A worker is a FastStream subscriber on one work queue with manual acks,
wrapping a `JobRunner`: the runner decides success / retry / park, and the
harness acks only after that decision is safely published (or requeues the
message when it could not be). `/metrics` and `/healthz` are served beside
the consumer on the worker's metrics port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
import uvicorn
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, make_ping_asgi
from faststream.rabbit import Channel, RabbitBroker, RabbitMessage, RabbitQueue
from prometheus_client import CollectorRegistry, make_asgi_app
from pydantic import BaseModel

from shared.broker import AmqpPublisher
from shared.db import create_pool
from shared.jobs import Delivery, JobRunner, OnFailed, Outcome, Work
from shared.logs import setup_logging
from shared.metrics import JobMetrics
from shared.settings import Settings
from shared.storage import ObjectStore, open_store
from shared.topology import Topology

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


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
    topology = Topology(settings)
    publisher = AmqpPublisher(settings)
    await publisher.connect(declare=True)
    pool = await create_pool(settings)
    temp = open_store(settings.temp_store, settings)
    same = settings.final_store == settings.temp_store
    final = temp if same else open_store(settings.final_store, settings)
    return Resources(settings, pool, publisher, topology, temp, final, registry)


@dataclass
class WorkerSpec(Generic[M]):
    service: str
    queue: str
    model: type[M]
    #: builds the job function and its failure hook from the opened resources
    build: Callable[[Resources], Awaitable[tuple[Work[M], OnFailed[M] | None]]]


def delivery_of(msg: RabbitMessage) -> Delivery:
    raw = msg.raw_message
    return Delivery(
        body=msg.body,
        headers=dict(msg.headers or {}),
        message_id=msg.message_id,
        content_type=msg.content_type,
        redelivered=bool(getattr(raw, "redelivered", False)),
    )


def build_worker_app(spec: WorkerSpec[M], settings: Settings, metrics_port: int) -> AsgiFastStream:
    registry = CollectorRegistry()
    metrics = JobMetrics(registry)
    policy = settings.retry_policy(spec.queue)
    broker = RabbitBroker(
        settings.amqp_url,
        default_channel=Channel(prefetch_count=settings.prefetch),
        graceful_timeout=min(policy.timeout_s, 60.0),
        reconnect_interval=2.0,
        logger=log,
    )
    state: dict[str, Any] = {}

    async def raw_body(msg: Any) -> bytes:
        # the runner parses (and parks) payloads itself; FastStream must not decode them
        body: bytes = msg.body
        return body

    @broker.subscriber(
        RabbitQueue(spec.queue, declare=False), ack_policy=AckPolicy.MANUAL, decoder=raw_body
    )
    async def consume(msg: RabbitMessage) -> None:
        runner: JobRunner[M] = state["runner"]
        metrics.started(spec.queue)
        started = time.perf_counter()
        outcome = Outcome.REQUEUED
        try:
            outcome = await runner.run(delivery_of(msg))
        finally:
            metrics.finished(spec.queue, outcome.value, time.perf_counter() - started)
            if outcome is Outcome.REQUEUED:
                await msg.reject(requeue=True)
            else:
                await msg.ack()

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        resources = await open_resources(settings, registry)
        work, on_failed = await spec.build(resources)
        state["resources"] = resources
        state["runner"] = JobRunner(
            queue=spec.queue, model=spec.model, work=work, publisher=resources.publisher,
            topology=resources.topology, policy=policy, on_failed=on_failed,
            delivery_limit=settings.delivery_limit,
        )
        beat = asyncio.create_task(_heartbeat(metrics, spec.queue))
        try:
            yield
        finally:
            beat.cancel()
            await resources.close()

    return AsgiFastStream(
        broker,
        asgi_routes=[
            ("/metrics", make_asgi_app(registry)),
            ("/healthz", make_ping_asgi(broker, timeout=5.0)),
        ],
        lifespan=lifespan,
    )


async def _heartbeat(metrics: JobMetrics, queue: str) -> None:
    while True:
        metrics.heartbeat.labels(queue).set(time.time())
        await asyncio.sleep(5)


def run_worker(spec: WorkerSpec[M], settings: Settings, metrics_port: int) -> None:
    setup_logging(settings.log_level, spec.service)
    app = build_worker_app(spec, settings, metrics_port)
    uvicorn.run(app, host="0.0.0.0", port=metrics_port, log_level="warning")  # noqa: S104
