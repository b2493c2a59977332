"""Operators: re-render every preview (or one user's) on the bulk lane, and follow the run."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from services.upload.deps import Ctx, UploadContext
from services.upload.rerender import Rerenders
from shared.db import rerender
from shared.errors import NotFound
from shared.http.auth import Operator
from shared.http.problems import responses

router = APIRouter(prefix="/v1")


class RerenderRequest(BaseModel):
    #: one user's previews; omitted: every user's
    user_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]*$")


class RerenderRun(BaseModel):
    id: int
    user_id: str | None
    status: str  # queueing | queued
    requested_by: str
    started_at: datetime
    finished_queueing_at: datetime | None
    total: int  # previews there were to render again when the run began
    queued: int  # of those, on the bulk lane so far
    rendered: int  # of those, rendered again since the run began


def _runs(ctx: UploadContext) -> Rerenders:
    runs: Rerenders = ctx.extras["rerender"]
    return runs


@router.post("/rerender", status_code=202, response_model=RerenderRun, responses=responses(401, 403, 422),
             summary="Operators: render every proxy's preview again (or one user's), on the bulk lane")
async def start_rerender(body: RerenderRequest, ctx: Ctx, operator: Operator) -> RerenderRun:
    return RerenderRun(**await _runs(ctx).begin(operator.user_id, body.user_id))


@router.get("/rerender", response_model=list[RerenderRun], responses=responses(401, 403),
            summary="Operators: the latest re-render runs and their progress")
async def list_rerenders(ctx: Ctx, _: Operator) -> list[RerenderRun]:
    runs = []
    for run_id in await rerender.recent_runs(ctx.pool):
        progress = await _runs(ctx).progress(run_id)
        if progress is not None:
            runs.append(RerenderRun(**progress))
    return runs


@router.get("/rerender/{run_id}", response_model=RerenderRun, responses=responses(401, 403, 404),
            summary="Operators: one re-render run's progress")
async def get_rerender(run_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: Ctx, _: Operator
                       ) -> RerenderRun:
    progress = await _runs(ctx).progress(run_id)
    if progress is None:
        raise NotFound(f"no re-render run {run_id}")
    return RerenderRun(**progress)
