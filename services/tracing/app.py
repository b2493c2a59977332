"""Wiring of the tracing service: resources and background tasks in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from services.tracing import api_examples, handlers, page
from services.tracing.consumer import TraceConsumer
from services.tracing.exporter import QueueCollector, TraceMetrics
from services.tracing.handlers import TracingContext
from services.tracing.outbox_view import outbox_status
from services.tracing.parked_watch import ParkedWatch
from services.tracing.queue_status import QueueMonitor
from services.tracing.retention import RETENTION_EVERY_S, retention_loop
from services.tracing.workers import activity_by_queue, listen_for_heartbeats
from shared.apidocs import install_api_docs
from shared.availability import DATABASE_ERRORS, until_available
from shared.broker.connections import BrokerLink
from shared.broker.probe import BrokerProbe
from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.db import create_pool, sessions
from shared.http.auth import TokenBook, install_auth
from shared.http.gate import BodyLimits, RequestGate
from shared.http.problems import install_problem_handlers
from shared.http.readiness import Check, readiness
from shared.metrics import JobMetrics
from shared.settings import Settings
from shared.worker.heartbeat import LiveWorkers, read_beat, worker_id
from shared.worker.parked import ParkedJobs

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, consume: bool = True,
               retention_every_s: float = RETENTION_EVERY_S) -> FastAPI:
    book = TokenBook.from_settings(settings)  # refuses weak or missing tokens in production
    settings.refuse_placeholder_secrets()  # CHANGE-ME passwords never reach production
    registry = CollectorRegistry()
    own_jobs = CollectorRegistry()  # only JobMetrics: what the monitor reads about this process
    jobs = JobMetrics(own_jobs)
    for collector in (jobs.jobs, jobs.duration, jobs.in_progress, jobs.last_started,
                      jobs.last_finished, jobs.heartbeat, jobs.consuming):
        registry.register(collector)
    trace_metrics = TraceMetrics(registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await until_available("database", lambda: create_pool(settings.database),
                                     errors=DATABASE_ERRORS)
        # the process's one broker connection (waits for the broker, any node): the publisher,
        # the trace consumer, the heartbeat feed, the probe and parked-job scans use channels on it
        link = BrokerLink(settings.amqp_url, timeout=settings.publish_timeout_s,
                          heartbeat_s=settings.amqp_heartbeat_s)
        connection = await link.connection(wait=True)
        channel = await link.channel()
        topology = Topology(settings)  # the process's one
        await topology.declare(channel)
        await channel.close()
        publisher = AmqpPublisher(settings.broker, topology, attempts=3,  # a fresh channel each try
                                  link=link)
        await publisher.connect(declare=False)
        client = httpx.AsyncClient()
        probe = BrokerProbe(connection, settings.rabbitmq_management_url, settings.amqp_url, client,
                            settings.rabbitmq_prometheus_url)
        live = LiveWorkers()
        await listen_for_heartbeats(connection, topology, live)
        own = worker_id()  # this process's own consumer counts like any worker
        monitor = QueueMonitor(topology, probe, client,
                               activity=lambda: activity_by_queue(live.live(), live.silent()),
                               outbox=lambda: outbox_status(pool, settings),
                               parked=ParkedWatch(ParkedJobs(pool, topology, publisher, link.channel),
                                                  settle_s=settings.queue_poll_s))
        collector = QueueCollector(monitor)
        registry.register(collector)
        app.state.ctx = TracingContext(settings, pool, monitor)
        tasks: list[asyncio.Task[None]] = []
        consumer = TraceConsumer(topology, connection, pool, publisher, jobs, trace_metrics)
        if consume:
            tasks.append(asyncio.create_task(consumer.run(), name="trace-consumer"))
        tasks.append(asyncio.create_task(
            retention_loop(pool, settings.trace_retention_days, retention_every_s,
                           trace_metrics.deleted.inc), name="trace-retention"))
        tasks.append(asyncio.create_task(
            _monitor_loop(monitor, jobs, settings, consumer if consume else None,
                          tasks[0] if consume else None,
                          lambda: live.observe(read_beat(own_jobs, own, "tracing",
                                                         settings.queue_traces,
                                                         settings.queue_poll_s))),
            name="queue-monitor"))
        app.state.consumer = consumer
        app.state.consuming = consume
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await consumer.stop()
            registry.unregister(collector)
            if monitor.parked is not None:
                await monitor.parked.stop()
            await client.aclose()
            await publisher.close()
            await link.close()
            await pool.close()

    app = FastAPI(
        title="prophoto-ingest tracing",
        version="1",
        summary="Every attempt of every step, queue health, and the debug page.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    async def revoked(session_id: str) -> bool:  # logout ends a session server-side
        return await sessions.is_revoked(app.state.ctx.pool, session_id)

    install_auth(app, book, cookies=True, revoked=revoked)  # the debug page signs in with a cookie
    install_api_docs(app, api_examples.EXAMPLES, api_examples.PARAMETERS)
    app.include_router(handlers.router)
    app.include_router(page.router)
    app.add_middleware(RequestGate, limits=BodyLimits(settings.http_max_body_bytes))  # no uploads here
    app.state.metrics_registry = registry  # served apart from the API (shared/http/metrics_listener.py)
    app.mount("/admin/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ctx: TracingContext = app.state.ctx
        consumer: TraceConsumer = app.state.consumer

        async def broker() -> bool:  # the monitor has heard from it
            return bool(ctx.monitor.last)

        checks: dict[str, Check] = {"database": lambda: ctx.pool.fetchval("SELECT 1"),
                                    "broker": broker}
        if app.state.consuming:
            checks["consumer"] = consumer.missing
        return await readiness(checks)

    return app


#: how long the trace consumer may be missing (subscribing, failing over) before a warning
CONSUMER_GRACE_S = 15.0


async def _monitor_loop(monitor: QueueMonitor, jobs: JobMetrics, settings: Settings,
                        consumer: TraceConsumer | None, task: asyncio.Task[None] | None,
                        beat: Callable[[], None]) -> None:
    """Refresh the queue gauges, and this consumer's heartbeat while it consumes.

    A consumer still subscribing at start, or re-subscribing after a node loss, is not
    worth a warning: one is logged once it has been missing `CONSUMER_GRACE_S`, and
    once more when it is back.
    """
    missing_since: float | None = time.monotonic()  # not subscribed yet at start
    warned = False
    while True:
        if consumer is not None and task is not None:
            missing = await consumer.missing() if not task.done() else ["trace consumer task"]
            jobs.consuming.labels(settings.queue_traces).set(0 if missing else 1)
            if not missing:
                jobs.heartbeat.labels(settings.queue_traces).set(time.time())
                beat()  # this process's own consumer, in the live worker set
                if warned:
                    log.warning("the trace consumer is consuming again")
                missing_since, warned = None, False
            elif task.done() and not task.cancelled():
                log.error("the trace consumer stopped: %r", task.exception())
            else:
                missing_since = missing_since or time.monotonic()
                if not warned and time.monotonic() - missing_since >= CONSUMER_GRACE_S:
                    log.warning("the trace consumer has not been consuming for %.0f s: %s missing",
                                time.monotonic() - missing_since, ", ".join(missing))
                    warned = True
        try:
            await monitor.snapshot()
        except Exception:
            log.warning("queue status poll failed", exc_info=True)
        await asyncio.sleep(settings.queue_poll_s)
