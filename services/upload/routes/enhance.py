"""POST /v1/proxies/{uuid}/enhance: ask for a bigger, sharper preview."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from services.upload.deps import Ctx
from services.upload.enhance_request import request_enhancement
from shared.db.status import ProxyStatus
from shared.http.auth import CurrentUser
from shared.http.problems import responses

router = APIRouter(prefix="/v1")


class EnhanceRequest(BaseModel):
    target_width: int | None = Field(default=None, ge=1)
    factor: float | None = Field(default=None, gt=1.0, le=16.0)

    @model_validator(mode="after")
    def _one_of(self) -> EnhanceRequest:
        if self.target_width is not None and self.factor is not None:
            raise ValueError("give target_width or factor, not both")
        return self


class EnhanceAnswer(BaseModel):
    uuid: UUID
    enhancement_status: str
    target_width: int
    limit: int
    source: Literal["original", "preview"]


@router.post("/proxies/{uuid}/enhance", status_code=202, response_model=EnhanceAnswer,
             responses=responses(401, 404, 409, 422),
             summary="Make a bigger, sharper preview (default 1.25x the current width)")
async def enhance(uuid: UUID, ctx: Ctx, user: CurrentUser,
                  body: EnhanceRequest | None = None) -> EnhanceAnswer:
    """202 queued; 404 not yours; 409 no ready preview, being ingested, or already enhancing;
    422 (with `limit` and `current_width`) too wide for the configured maximum or the source,
    or not wider than the current preview."""
    body = body or EnhanceRequest()
    done = await request_enhancement(ctx, user, uuid, body.target_width, body.factor)
    return EnhanceAnswer(uuid=uuid, enhancement_status=ProxyStatus.PENDING, target_width=done.target_width,
                         limit=done.limit, source=done.source)
