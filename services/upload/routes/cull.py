"""Culling a proxy: the photographer's pick/reject flag and 0-5 star rating."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.upload.deps import Ctx
from services.upload.views import ProxyView, proxy_view
from shared.db import culling
from shared.db.culling import Flag
from shared.errors import Conflict, Invalid, NotFound
from shared.http.auth import CurrentUser
from shared.http.problems import responses

router = APIRouter(prefix="/v1")


class CullChange(BaseModel):
    """The fields to set; a field left out keeps its value, `null` clears it."""

    model_config = ConfigDict(extra="forbid")

    flag: Flag | None = Field(None, description="`pick`, `reject`, or null to unflag")
    rating: Annotated[int | None, Field(ge=0, le=5, description="0-5 stars; 0 or null is unrated")] = None


@router.patch("/proxies/{uuid}", response_model=ProxyView, responses=responses(400, 401, 404, 409, 422),
              summary="Pick, reject or rate a proxy (the rating becomes its Image's)")
async def cull(uuid: UUID, change: CullChange, ctx: Ctx, user: CurrentUser) -> ProxyView:
    changes = {name: getattr(change, name) for name in change.model_fields_set}
    if not changes:
        raise Invalid("name `flag`, `rating` or both", title="Nothing to change")
    row = await culling.set_cull(ctx.pool, user, uuid, changes)
    if row is None:
        blocker = await culling.cull_blocker(ctx.pool, user, uuid)
        if blocker is None:
            raise NotFound(f"no proxy {uuid}")
        raise Conflict(f"the proxy is being ingested ({blocker}): its cull is fixed",
                       title="Ingest in progress")
    return proxy_view(row)
