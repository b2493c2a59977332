"""Any rendition of a proxy or a kept Image by its name (`shared.imaging.renditions`); the preview
and thumbnail keep their own routes too (`routes/preview.py`, `routes/kept.py`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import Response

from services.upload.deps import Ctx
from services.upload.jpeg_answer import stored_jpeg
from services.upload.kept import image_for
from services.upload.renditions import key_of
from services.upload.routes.kept import JPEG, ImageId
from shared.db import proxies
from shared.errors import NotFound
from shared.http.auth import CurrentUser
from shared.http.problems import responses

router = APIRouter(prefix="/v1")
Name = Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9-]{0,30}$", description="the rendition's name")]


@router.get("/proxies/{uuid}/renditions/{name}", responses={**JPEG, **responses(401, 404)},
            summary="One of the proxy's renditions (`renditions` in its view lists them)")
async def proxy_rendition(uuid: UUID, name: Name, ctx: Ctx, user: CurrentUser) -> Response:
    row = await proxies.get_proxy_for_user(ctx.pool, user, uuid)
    if row is None:
        raise NotFound(f"no proxy {uuid}")
    return await stored_jpeg(ctx.temp_store, key_of(row, name, f"proxy {uuid}"),
                             ctx.settings.s3_presign_seconds, 300)


@router.get("/images/{image_id}/renditions/{name}", responses={**JPEG, **responses(401, 404)},
            summary="One of the Image's renditions, kept beside its original")
async def image_rendition(image_id: ImageId, name: Name, ctx: Ctx, user: CurrentUser) -> Response:
    row = await image_for(ctx, user, image_id)
    # a kept rendition never changes under its key: the browser may keep it a day
    return await stored_jpeg(ctx.final_store, key_of(row, name, f"image {image_id}"),
                             ctx.settings.s3_presign_seconds, 86400)
