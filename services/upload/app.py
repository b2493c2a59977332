"""Wiring of the upload service: resources in the lifespan, routers, the metrics registry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from services.upload import examples
from services.upload.deps import UploadContext
from services.upload.events import EventHub
from services.upload.janitor import Janitor
from services.upload.page import install_page
from services.upload.quotas import UploadQuotas
from services.upload.rerender import Rerenders
from services.upload.resumable import tus
from services.upload.resumable.uploads import Resumable
from services.upload.routes import ROUTERS
from shared.apidocs import install_api_docs
from shared.availability import DATABASE_ERRORS, until_available
from shared.broker.connections import BrokerLink
from shared.broker.outbox import OutboxRelay
from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.db import create_pool
from shared.exif import AsyncExifTool
from shared.exif.sidecar import MAX_SIDECAR_BYTES
from shared.http.auth import TokenBook, install_auth
from shared.http.gate import BodyLimits, RequestGate
from shared.http.problems import install_problem_handlers
from shared.http.readiness import readiness
from shared.lanes import ShardChooser
from shared.metrics import UploadMetrics
from shared.settings import Settings
from shared.storage import open_stores
from shared.worker.parked import ParkedJobs

log = logging.getLogger(__name__)



def create_app(settings: Settings) -> FastAPI:
    book = TokenBook.from_settings(settings)  # refuses weak or missing tokens in production
    settings.refuse_placeholder_secrets()  # CHANGE-ME passwords never reach production
    registry = CollectorRegistry()
    metrics = UploadMetrics(registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # started during a database restart: wait (and say so) rather than exit, which the
        # supervisor counts as a fast death and an orchestrator as a crash loop
        pool = await until_available("database", lambda: create_pool(settings.database),
                                     errors=DATABASE_ERRORS)
        topology = Topology(settings)  # the process's one
        # the process's one broker connection: the publisher, the event feed, the shard depths
        # and the parked-job scans each open channels on it (docs/operations.md)
        link = BrokerLink(settings.amqp_url, timeout=settings.publish_timeout_s,
                          heartbeat_s=settings.amqp_heartbeat_s)
        publisher = AmqpPublisher(settings.broker, topology, link=link)
        try:
            await publisher.connect(declare=True)
        except Exception as exc:  # jobs wait in the outbox until the broker is back
            log.warning("broker unavailable at start-up (%s); jobs will wait in the outbox", exc)
        temp, final = open_stores(settings.stores)
        relay = OutboxRelay(pool, publisher, poll_s=settings.outbox_poll_s,
                            retention_s=settings.outbox_retention_s, exchange=settings.exchange,
                            backoff_base_s=settings.outbox_backoff_base_s,
                            backoff_max_s=settings.outbox_backoff_max_s)
        relay.on_backlog = lambda backlog: metrics.observe_outbox(backlog, relay.health)
        spool_dir = Path(tempfile.mkdtemp(prefix="prophoto-spool-"))
        ctx = UploadContext(
            settings=settings, pool=pool, publisher=publisher, topology=topology,
            temp_store=temp, final_store=final,
            exif=AsyncExifTool(settings.exiftool_binary, settings.exiftool_timeout,
                               size=settings.exiftool_pool),
            metrics=metrics, relay=relay, quotas=UploadQuotas(settings.quotas, pool, metrics),
            extras={"spool_dir": spool_dir},
        )
        hub = EventHub(topology, link)
        ctx.extras["events"] = hub
        await hub.start()
        resumable = Resumable(ctx)
        ctx.extras["tus"] = resumable
        await resumable.start()
        app.state.ctx = ctx
        relay.start()
        ctx.extras["shards"] = ShardChooser(topology, link)
        parked = ctx.extras["parked"] = ParkedJobs(pool, topology, publisher, link.channel)
        rebuilding = asyncio.create_task(parked.rebuild_all(), name="parked-rebuild")
        rerenders = Rerenders(ctx)
        ctx.extras["rerender"] = rerenders
        await rerenders.start()
        janitor = Janitor(pool, temp, settings.janitor_every_s)  # expired proxies, dead spools
        janitor.start()
        try:
            yield
        finally:
            rebuilding.cancel()
            await asyncio.gather(rebuilding, return_exceptions=True)
            await janitor.stop()
            await rerenders.stop()
            await ctx.extras["shards"].close()
            await relay.stop()
            await resumable.stop()
            await hub.stop()
            await ctx.exif.close()
            await publisher.close()
            await link.close()
            await pool.close()
            await temp.close()
            if final is not temp:
                await final.close()
            shutil.rmtree(spool_dir, ignore_errors=True)

    app = FastAPI(
        title="prophoto-ingest upload API",
        version="1",
        summary="Upload originals, follow their previews, confirm what to keep.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_auth(app, book)
    install_api_docs(app, examples.EXAMPLES, examples.PARAMETERS, examples.SCHEMAS)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(tus.router)
    uploads = settings.max_upload_bytes + MULTIPART_SLACK
    app.add_middleware(RequestGate, limits=BodyLimits(  # inside TusHeaders: its refusals carry them too
        settings.http_max_body_bytes, lambda method, path: _streams(method, path, uploads)))
    app.add_middleware(tus.TusHeaders)
    app.state.metrics_registry = registry  # served apart from the API (shared/http/metrics_listener.py)
    install_page(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ctx: UploadContext = app.state.ctx
        return await readiness({
            "database": lambda: ctx.pool.fetchval("SELECT 1"),
            "broker": ctx.publisher.ping,
            "storage": ctx.temp_store.ping,
            "events": ctx.extras["events"].consuming,
            # unready once the relay has failed this long without one confirm
            "outbox": lambda: ctx.relay.missing(ctx.settings.outbox_unready_after_s),
        })

    return app


#: a multipart body's boundaries and part headers around a file of the largest accepted size
MULTIPART_SLACK = 64 * 1024


def _streams(method: str, path: str, uploads: int) -> int | None:
    """The limit of a route that reads its body as it arrives (uploads, sidecars); None for the
    rest, which take small bodies."""
    if method == "POST" and path in ("/v1/uploads", tus.PREFIX, tus.PREFIX + "/"):
        return uploads
    if method == "PATCH" and path.startswith(tus.PREFIX + "/"):
        return uploads
    if (method, path) == ("POST", "/v1/sidecars") or (method == "PUT" and path.endswith("/sidecar")):
        return MAX_SIDECAR_BYTES
    return None
