"""A kept Image's files: its renditions (beside the original in the final store), and its
removal, objects first, so a repeated DELETE finishes what a failed one began and answers the same."""

from __future__ import annotations

import logging

import asyncpg

from services.upload.deps import UploadContext
from shared.db import images
from shared.db.renditions import recorded, rendition_keys
from shared.errors import NotFound

log = logging.getLogger(__name__)


async def image_for(ctx: UploadContext, user: str, image_id: int) -> asyncpg.Record:
    row = await images.get_image_for_user(ctx.pool, user, image_id)
    if row is None:
        raise NotFound(f"no image {image_id}")
    return row


def rendition_key(row: asyncpg.Record, rendition: str) -> str:
    """The key of the Image's rendition by its name (`shared.imaging.renditions`)."""
    key = recorded(row).get(rendition, {}).get("key")
    if not key:
        raise NotFound(f"image {row['id']} was kept without a {rendition} (its preview had failed, or "
                       "there is no such rendition)",
                       title=f"No {rendition}")
    return str(key)


async def delete_image(ctx: UploadContext, user: str, image_id: int) -> bool:
    """Remove the Image's objects, then its row; False when it was already gone.

    A crash between the two leaves a row whose objects are missing: the next DELETE
    deletes nothing more from the store (deletes are idempotent) and then the row.
    """
    row = await images.get_image_for_user(ctx.pool, user, image_id)
    if row is None:
        return False
    # its companions (XMP sidecar, Live Photo movie) go with it
    for key in (row["path"], *rendition_keys(row), row["sidecar_path"], row["live_video_path"]):
        if key:
            await ctx.final_store.delete(key)
    return await images.delete_image_for_user(ctx.pool, user, image_id) is not None
