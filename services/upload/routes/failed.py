"""Parked jobs: list the caller's (operators see everyone's) and send them back.

Both read the read model (`parked_jobs`): a listing never takes a message off
the broker, and a replay acts on exactly the rows it chose
(`shared/worker/parked.py`).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.upload.deps import Ctx, UploadContext, parked_of
from services.upload.retry import reset_before_replay
from shared import tags
from shared.http.auth import Caller
from shared.http.problems import ProblemError, responses
from shared.messages import Lane

router = APIRouter(prefix="/v1")
#: the most parked jobs one listing answers (newest first)
LISTING_LIMIT = 1000
TAG_HELP = "only jobs with this tag: `ingest`, `proxy:<uuid>` or `user:<id>`"


class ParkedItem(BaseModel):
    queue: str
    uuid: str | None
    reason: str | None
    error: str | None
    parked_at: str | None
    attempt: int
    tags: list[str]


class ParkedPage(BaseModel):
    items: list[ParkedItem]


class ReplayRequest(BaseModel):
    uuids: list[UUID] | None = None
    queue: str | None = None
    tag: str | None = Field(default=None, max_length=200, description=TAG_HELP)


class ReplayAnswer(BaseModel):
    replayed: int
    #: present when some chosen jobs' messages were not found (they stay parked and listed)
    missing: int | None = None


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


def _tag(tag: str | None) -> str | None:
    try:
        return tags.parse_filter(tag).tag if tag else None
    except ValueError as exc:
        raise ProblemError(422, "Invalid tag", str(exc)) from exc


@router.get("/failed", response_model=ParkedPage, responses=responses(401, 422, 429))
async def list_failed(ctx: Ctx, caller: Caller, queue: str | None = None,
                      tag: Annotated[str | None, Query(max_length=200, description=TAG_HELP)]
                      = None) -> ParkedPage:
    """A user's own parked jobs, newest first (at most 1,000); an operator's view is everyone's."""
    wanted = _tag(tag)
    names = _queue_name(ctx, queue)
    ctx.quotas.scans.take(caller.user_id)  # 429 past PROPHOTO_QUOTA_PARKED_SCANS_PER_MINUTE
    owner = None if caller.operator else caller.user_id
    jobs = await parked_of(ctx).find(names, user_id=owner, tag=wanted, limit=LISTING_LIMIT)
    return ParkedPage(items=[
        ParkedItem(queue=job.queue, uuid=job.uuid, reason=job.reason, error=job.error,
                   parked_at=job.parked_at.isoformat(), attempt=job.attempt, tags=list(job.tags))
        for job in jobs])


@router.post("/failed/replay", response_model=ReplayAnswer, responses=responses(401, 422, 429))
async def replay_failed(body: ReplayRequest, ctx: Ctx, caller: Caller) -> JSONResponse:
    """Send parked jobs back, chosen by uuid, queue and tag; a user's own only (operators: anyone's)."""
    wanted = _tag(body.tag)
    names = _queue_name(ctx, body.queue)
    owner = None if caller.operator else caller.user_id
    ctx.quotas.scans.take(caller.user_id)
    with ctx.quotas.scanning.hold(caller.user_id):  # a replay scans the parking queues
        report = await parked_of(ctx).replay_report(
            names, user_id=owner, tag=wanted,
            uuids=[str(u) for u in body.uuids] if body.uuids else None,
            before=lambda queue, uuid: reset_before_replay(ctx, queue)(uuid))
    ctx.relay.wake()
    answer = {"replayed": report.replayed}
    if report.missing:
        answer["missing"] = report.missing
    return JSONResponse(answer)
