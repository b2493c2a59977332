"""Following a proxy: the SSE status stream, and its preview and thumbnail images."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from services.upload.deps import Ctx, UploadContext
from services.upload.jpeg_answer import stored_jpeg
from shared.db import proxies, status
from shared.db.status import ProxyStatus
from shared.http.auth import CurrentUser
from shared.http.problems import ProblemError, responses
from shared.quotas import Slot

router = APIRouter(prefix="/v1")
#: statuses that are still moving, per field; a stream ends once none of them applies
IN_FLIGHT: dict[str, set[str]] = {
    "preview": set(status.IN_FLIGHT), "enhancement": set(status.IN_FLIGHT),
    "ingest": set(status.INGESTING)}
HEARTBEAT_S = 15.0


def _event(data: dict[str, object]) -> str:
    return f"event: status\ndata: {json.dumps(data, default=str)}\n\n"


def _row_events(row: Any) -> list[dict[str, object]]:
    """The proxy's current state as events: always the preview, and any other step under way."""
    out: list[dict[str, object]] = [{
        "uuid": str(row["uuid"]), "field": "preview", "status": row["preview_status"],
        "error": row["preview_error"], "preview_width": row["preview_width"],
        "preview_height": row["preview_height"]}]
    if row["enhancement_status"] is not None:
        out.append({"uuid": str(row["uuid"]), "field": "enhancement", "status": row["enhancement_status"],
                    "error": row["enhancement_error"],
                    "preview_width": row["preview_width"], "preview_height": row["preview_height"]})
    if row["ingest_status"] is not None:
        out.append({"uuid": str(row["uuid"]), "field": "ingest", "status": row["ingest_status"],
                    "error": row["metadata_error"]})
    return out


def _in_flight(row: Any) -> bool:
    return (row["preview_status"] in IN_FLIGHT["preview"]
            or row["enhancement_status"] in IN_FLIGHT["enhancement"]
            or row["ingest_status"] in IN_FLIGHT["ingest"])


@router.get("/proxies/{uuid}/events", responses=responses(401, 404),
            response_class=StreamingResponse,
            summary="Server-Sent Events: the proxy's status changes (preview, enhancement, ingest) "
                    "until nothing is under way")
async def events(uuid: UUID, request: Request, ctx: Ctx, user: CurrentUser) -> StreamingResponse:
    row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise ProblemError(404, "Not found", f"no proxy {uuid}")
    slot = ctx.quotas.open_stream(user)  # 429 past PROPHOTO_QUOTA_SSE_STREAMS
    stream = _released(_stream(request, ctx, user, uuid), slot)
    # a stream never started (its client left first) has no `finally` to run: its slot goes
    # back when the generator is collected
    weakref.finalize(stream, slot.release)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _released(events: AsyncIterator[str], slot: Slot) -> AsyncIterator[str]:
    try:
        async for event in events:
            yield event
    finally:
        slot.release()


async def _stream(request: Request, ctx: UploadContext, user: str, uuid: UUID) -> AsyncIterator[str]:
    hub = ctx.extras.get("events")
    if hub is None:
        return
    async with hub.subscribe(str(uuid)) as queue:
        # subscribe first, then read the row: a change in between is not missed
        row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
        if row is None:
            return
        for data in _row_events(row):
            yield _event(data)
        if not _in_flight(row):
            return
        while not await request.is_disconnected():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                # a lost event (slow client, broker hiccup) cannot leave the stream hanging
                row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
                if row is None:
                    return  # ingested (or deleted): the proxy is gone
                if not _in_flight(row):
                    for data in _row_events(row):
                        yield _event(data)
                    return
                yield ": keep-alive\n\n"
                continue
            yield _event(event.model_dump(mode="json"))
            if event.status in IN_FLIGHT[event.field]:
                continue
            # this step is over; the stream goes on only while another one is moving
            row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
            if row is None or not _in_flight(row):
                return


async def _serve(ctx: UploadContext, key: str) -> Response:
    return await stored_jpeg(ctx.temp_store, key, ctx.settings.s3_presign_seconds, 300)


@router.get("/proxies/{uuid}/preview", responses={200: {"content": {"image/jpeg": {}}},
                                                   **responses(401, 404, 409)})
async def preview(uuid: UUID, ctx: Ctx, user: CurrentUser) -> Response:
    row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise ProblemError(404, "Not found", f"no proxy {uuid}")
    if row["preview_status"] != ProxyStatus.READY or not row["preview_path"]:
        raise ProblemError(409, "Preview not ready", f"the preview is {row['preview_status']}",
                           preview_status=row["preview_status"])
    return await _serve(ctx, row["preview_path"])


@router.get("/proxies/{uuid}/thumbnail", responses={200: {"content": {"image/jpeg": {}}},
                                                     **responses(401, 404)})
async def thumbnail(uuid: UUID, ctx: Ctx, user: CurrentUser) -> Response:
    """The 400x400 thumbnail, or the tiny EXIF thumbnail while the preview is pending."""
    row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise ProblemError(404, "Not found", f"no proxy {uuid}")
    key = row["thumbnail_path"] or row["exif_thumb_key"]
    if not key:
        raise ProblemError(404, "No thumbnail yet", "no thumbnail exists for this photo yet",
                           preview_status=row["preview_status"])
    return await _serve(ctx, key)
