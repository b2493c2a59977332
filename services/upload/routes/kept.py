"""A kept Image's preview and thumbnail, and deleting the Image."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from services.upload.deps import Ctx, UploadContext
from services.upload.jpeg_answer import stored_jpeg
from services.upload.kept import delete_image, image_for, rendition_key
from shared.http.auth import CurrentUser
from shared.http.problems import responses

router = APIRouter(prefix="/v1")
ImageId = Annotated[int, Path(ge=1, le=2**63 - 1)]
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}, 307: {}}


async def _serve(ctx: UploadContext, key: str) -> Response:
    # a kept rendition never changes under its key: the browser may keep it a day
    return await stored_jpeg(ctx.final_store, key, ctx.settings.s3_presign_seconds, 86400)


@router.get("/images/{image_id}/preview", responses={**JPEG, **responses(401, 404)},
            summary="The Image's 2048 px preview, kept beside its original")
async def image_preview(image_id: ImageId, ctx: Ctx, user: CurrentUser) -> Response:
    return await _serve(ctx, rendition_key(await image_for(ctx, user, image_id), "preview"))


@router.get("/images/{image_id}/thumbnail", responses={**JPEG, **responses(401, 404)},
            summary="The Image's 400x400 thumbnail, kept beside its original")
async def image_thumbnail(image_id: ImageId, ctx: Ctx, user: CurrentUser) -> Response:
    return await _serve(ctx, rendition_key(await image_for(ctx, user, image_id), "thumbnail"))


@router.delete("/images/{image_id}", status_code=204, responses=responses(401),
               summary="Delete the Image: its original, preview and thumbnail, then its record "
                       "(204 again when it is already gone)")
async def remove_image(image_id: ImageId, ctx: Ctx, user: CurrentUser) -> Response:
    await delete_image(ctx, user, image_id)
    return Response(status_code=204)
