"""Parked jobs: list the caller's (operators see everyone's) and send them back."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.upload.deps import Ctx, UploadContext
from services.upload.retry import reset_before_replay
from shared.http.auth import Caller, Principal
from shared.http.problems import ProblemError, responses
from shared.messages import Lane
from shared.worker import parked

router = APIRouter(prefix="/v1")


class ParkedItem(BaseModel):
    queue: str
    uuid: str | None
    reason: str | None
    error: str | None
    parked_at: str | None
    attempt: int


class ParkedPage(BaseModel):
    items: list[ParkedItem]


class ReplayRequest(BaseModel):
    uuids: list[UUID] | None = None
    queue: str | None = None


class ReplayAnswer(BaseModel):
    replayed: int


def _queue_name(ctx: UploadContext, queue: str | None) -> list[str]:
    previews = [ctx.topology.lane_queue(lane) for lane in Lane]  # parked per lane
    names = {"preview": previews, "finalize": [ctx.settings.queue_finalize],
             "ingest": [ctx.settings.queue_finalize], "enhance": [ctx.settings.queue_enhance]}
    if queue is None:
        return [*previews, ctx.settings.queue_finalize, ctx.settings.queue_enhance]
    if queue in names:
        return names[queue]
    if any(queue in known for known in names.values()):
        return [queue]
    raise ProblemError(422, "Unknown queue", f"use one of {sorted(names)}")


@router.get("/failed", response_model=ParkedPage, responses=responses(401, 422))
async def list_failed(ctx: Ctx, caller: Caller, queue: str | None = None) -> ParkedPage:
    """A user's own parked jobs; an operator's view is everyone's."""
    names = _queue_name(ctx, queue)
    ctx.quotas.scans.take(caller.user_id)  # 429 past PROPHOTO_QUOTA_PARKED_SCANS_*
    with ctx.quotas.scanning.hold(caller.user_id):
        return ParkedPage(items=await _parked(ctx, caller, names))


async def _parked(ctx: UploadContext, caller: Principal, names: list[str]) -> list[ParkedItem]:
    items: list[ParkedItem] = []
    for name in names:
        for job in await parked.peek(ctx.topology, name):
            if caller.operator or job.user_id == caller.user_id:
                items.append(ParkedItem(queue=name, uuid=job.uuid, reason=job.reason,
                                        error=job.error, parked_at=job.parked_at,
                                        attempt=job.attempt))
    return items


@router.post("/failed/replay", response_model=ReplayAnswer, responses=responses(401, 422))
async def replay_failed(body: ReplayRequest, ctx: Ctx, caller: Caller) -> JSONResponse:
    wanted = {str(u) for u in body.uuids} if body.uuids else None
    owner = None if caller.operator else caller.user_id  # an operator replays anyone's jobs
    total = 0
    for name in _queue_name(ctx, body.queue):
        total += await parked.replay(ctx.topology, name, ctx.publisher, user_id=owner,
                                     uuids=wanted, before=reset_before_replay(ctx, name))
    ctx.relay.wake()
    return JSONResponse({"replayed": total})
