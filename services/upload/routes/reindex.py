"""Operators: read the originals of existing Images again, to fill new metadata fields."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.upload.deps import Ctx
from services.upload.reindex import queue_reindex
from shared.http.auth import Operator
from shared.http.problems import responses

router = APIRouter(prefix="/v1")


class ReindexRequest(BaseModel):
    #: one user's Images; omitted: every user's
    user_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]*$")


class ReindexAnswer(BaseModel):
    user_id: str | None
    #: Images whose re-read is now queued (one finalize job each)
    queued: int


@router.post("/reindex", status_code=202, response_model=ReindexAnswer, responses=responses(401, 403, 422),
             summary="Operators: re-read every Image's original and sidecar (or one user's) for new fields")
async def start_reindex(body: ReindexRequest, ctx: Ctx, _: Operator) -> ReindexAnswer:
    return ReindexAnswer(user_id=body.user_id, queued=await queue_reindex(ctx, body.user_id))
