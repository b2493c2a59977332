"""The harness every queue worker runs in.

A worker is a `QueueConsumer` (`shared/worker/consumer.py`, aio-pika) on one work
queue with manual acks (the preview worker: a `LaneConsumer` on its lanes,
`shared/worker/lanes.py`, with a runner per lane), wrapping a `JobRunner`: the runner decides success /
retry / park, and the harness acks only after that decision is safely
published (or requeues the message when it could not be). `/metrics`,
`/healthz` and `/readyz` are served beside the consumer on the worker's
metrics port by a small Starlette app whose lifespan opens and closes it all. What a worker declares and the
resources it gets are in `shared/worker/spec.py`, which job modules import
without importing the broker client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import uvicorn
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelInvalidStateError
from prometheus_client import CollectorRegistry, make_asgi_app
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.broker.connections import Echo
from shared.broker.publisher import connect
from shared.db import parked as parked_rows
from shared.http.readiness import assess, readiness
from shared.logs import setup_logging
from shared.metrics import JobMetrics, LaneMetrics
from shared.settings import Settings
from shared.worker.consumer import QueueConsumer
from shared.worker.context import JobContext, Middleware
from shared.worker.heartbeat import Beacon
from shared.worker.lane_stats import LaneStats
from shared.worker.lanes import LaneConsumer
from shared.worker.park import Delivery, own_headers
from shared.worker.reports import Reports
from shared.worker.runner import JobRunner, Outcome
from shared.worker.spec import Resources, WorkerSpec, open_resources

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
D = TypeVar("D")
RECONNECT_INTERVAL_S = 1.0
#: how often the worker's consumer connection makes a no-op round trip to the broker
ECHO_EVERY_S = 2.0


def delivery_of(msg: AbstractIncomingMessage) -> Delivery:
    return Delivery(
        body=msg.body,
        headers=dict(msg.headers or {}),
        message_id=msg.message_id,
        content_type=msg.content_type,
        redelivered=bool(msg.redelivered),
    )


class _Asgi:
    """An ASGI app as a Starlette route endpoint (a plain function would be taken for a view)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def build_worker_app(spec: WorkerSpec[M, D], settings: Settings, metrics_port: int) -> Starlette:
    registry = CollectorRegistry()
    metrics = JobMetrics(registry)
    policy = settings.retry_policy(spec.queue)
    state: dict[str, Any] = {}

    async def consume(msg: AbstractIncomingMessage, queue: str | None = None) -> None:
        # a lane's queues share its runner: its retry waits and its parking queue
        runners: dict[str, JobRunner[M]] = state["runners"]
        runner = runners[state["group"].get(queue, spec.queue)]
        if queue is not None and "lanes" in state:
            state["lanes"].started(queue, msg)
        metrics.started(spec.queue)
        started = time.perf_counter()
        outcome = Outcome.REQUEUED
        try:
            outcome = await runner.run(delivery_of(msg))
        finally:
            metrics.finished(spec.queue, outcome.value, time.perf_counter() - started)
            try:
                if outcome is Outcome.REQUEUED:
                    await msg.reject(requeue=True)
                else:
                    await msg.ack()
            except ChannelInvalidStateError:
                # its channel closed under the job (a node loss): the broker redelivers the
                # message, and the job, done already, is acked as done (jobs are idempotent)
                log.info("%s: the channel of a finished job closed; the broker redelivers it",
                         spec.queue)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        resources = await open_resources(settings, registry)
        deps = await spec.deps(resources)

        async def work(job: M, ctx: JobContext) -> None:
            await spec.work(deps, job, ctx)

        async def failed(job: M | None, reason: str) -> bool | None:
            return None if spec.on_failed is None else await spec.on_failed(deps, job, reason)

        middleware: list[Middleware] = []
        if spec.status_field is not None:
            middleware.append(Reports(resources.publisher, resources.topology, spec.service,
                                      spec.status_field, spec.attempt_trace))

        state["resources"] = resources
        topology = resources.topology
        lanes = topology.lanes() if spec.queue == settings.queue_preview else []
        groups = [topology.lane_queue(lane) for lane, _ in lanes] or [spec.queue]
        state["group"] = {q: topology.lane_queue(lane) for lane, queues in lanes for q in queues}
        state["runners"] = {group: JobRunner(
            queue=group, model=spec.model, work=work, publisher=resources.publisher,
            topology=topology, policy=settings.retry_policy(group), on_failed=failed,
            delivery_limit=settings.delivery_limit, middleware=middleware,
            record_parked=lambda job: parked_rows.record(resources.pool, job),
        ) for group in groups}
        # a worker started while the broker is away waits for it (open_resources did already)
        connection = await connect(settings.amqp_url, reconnect_interval=RECONNECT_INTERVAL_S,
                                   heartbeat_s=settings.amqp_heartbeat_s)
        consumer: QueueConsumer | LaneConsumer
        if lanes:
            consumer = LaneConsumer(connection, [queues for _, queues in lanes],
                                    settings.prefetch, consume)
            state["lanes"] = LaneStats(topology, consumer, LaneMetrics(registry))
        else:
            consumer = QueueConsumer(connection, spec.queue, settings.prefetch, consume)
        await consumer.start()
        state["consumer"] = consumer

        def held() -> int:  # in every beat, and on /metrics
            count = consumer.held_count()
            metrics.held.labels(spec.queue).set(count)
            return count

        # the consumer connection's own round trips: a half-open one shows in every beat
        echo = Echo(connection, every_s=ECHO_EVERY_S)
        echoing = asyncio.create_task(echo.run(), name="consumer-echo")

        def silent() -> float:
            seconds = echo.silent_s()
            metrics.broker_silent.labels(spec.queue).set(seconds)
            return seconds

        beacon = Beacon(resources.publisher, resources.topology, registry, spec.service,
                        spec.queue, settings.heartbeat_s, held=held, silent=silent)
        beat = asyncio.create_task(_heartbeat(metrics, spec.queue, missing, beacon))
        try:
            yield
        finally:
            beat.cancel()
            echoing.cancel()
            # the jobs under way finish (or their messages go back to the queue) first
            if isinstance(consumer, LaneConsumer):
                await consumer.stop(grace_s=min(policy.timeout_s, 60.0),
                                    release=functools.partial(_release, resources))
            else:
                await consumer.stop(grace_s=min(policy.timeout_s, 60.0))
            await beacon.leave()  # the tracing service drops this worker at once
            await connection.close()
            await resources.close()

    async def consuming() -> list[str]:
        consumer: QueueConsumer | LaneConsumer | None = state.get("consumer")
        return ["broker connection"] if consumer is None else await consumer.missing()

    async def database() -> list[str]:
        resources: Resources | None = state.get("resources")
        if resources is None:
            return ["resources (starting)"]
        try:
            await asyncio.wait_for(resources.pool.fetchval("SELECT 1"), 2.0)
        except Exception:
            return ["database"]
        return []

    checks = {"consumer": consuming, "database": database}

    async def missing() -> list[str]:
        """What keeps this worker from consuming now (empty when it can)."""
        return (await assess(checks))[1]

    async def healthz(_: Request) -> Response:
        """Alive and connected to the broker (readiness says more)."""
        consumer: QueueConsumer | LaneConsumer | None = state.get("consumer")
        up = consumer is not None and consumer.connection.connected.is_set()
        return Response(status_code=204 if up else 500)

    async def readyz(_: Request) -> JSONResponse:
        return await readiness(checks)

    return Starlette(
        routes=[
            Route("/metrics", _Asgi(make_asgi_app(registry))),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )


#: how often the worker looks whether its jobs in progress changed since the last beat
CHANGE_POLL_S = 0.25


async def _heartbeat(metrics: JobMetrics, queue: str,
                     missing: Callable[[], Awaitable[list[str]]], beacon: Beacon) -> None:
    """The heartbeat moves only while the worker can consume; `prophoto_consumer_up` says which.

    The same beat goes out as a message: the tracing service counts live workers from it.
    Between the regular beats, a change of the jobs in progress (a job started, the last one
    finished) is announced within `CHANGE_POLL_S`: with beats only every `heartbeat_s`, a
    backlog drained in less than that read "pending" (no job in progress) while both workers
    were busy on it.
    """
    loop = asyncio.get_running_loop()
    while True:
        gone = await missing()
        metrics.consuming.labels(queue).set(0 if gone else 1)
        announced = _in_progress(beacon, queue)
        if not gone:
            metrics.heartbeat.labels(queue).set(time.time())
            await _send(beacon)
        next_beat = loop.time() + beacon.every_s
        while (left := next_beat - loop.time()) > 0:
            await asyncio.sleep(min(CHANGE_POLL_S, left))
            now = _in_progress(beacon, queue)
            if not gone and now != announced:
                announced = now
                await _send(beacon)


def _in_progress(beacon: Beacon, queue: str) -> float:
    return beacon.registry.get_sample_value("prophoto_jobs_in_progress", {"queue": queue}) or 0.0


async def _send(beacon: Beacon) -> None:
    try:
        await beacon.beat()
    except Exception as exc:  # the broker is away: the next beat tries again
        log.debug("heartbeat not sent: %r", exc)


async def _release(resources: Resources, msg: AbstractIncomingMessage, queue: str) -> bool:
    """A held, never started message back to the end of its queue as a fresh copy (confirmed)."""
    try:
        await resources.publisher.publish(resources.topology.exchange, queue, msg.body,
                                          headers=own_headers(dict(msg.headers or {})),
                                          message_id=msg.message_id)
    except Exception as exc:
        log.warning("a held %s message goes back with the channel: %r", queue, exc)
        return False
    return True


def run_worker(spec: WorkerSpec[M, D], settings: Settings, metrics_port: int) -> None:
    setup_logging(settings.log_level, spec.service)
    try:
        settings.refuse_placeholder_secrets()
    except ValueError as exc:
        print(f"{spec.service} worker refuses to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    app = build_worker_app(spec, settings, metrics_port)
    uvicorn.run(app, host=settings.metrics_host, port=metrics_port, log_level="warning")
