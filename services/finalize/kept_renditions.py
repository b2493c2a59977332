"""An Image keeps the proxy's preview and thumbnail: copied into the final store beside
the original before the Image row commits, so its page can show it once the temporary
objects are gone. A proxy whose preview failed keeps whatever exists (perhaps nothing):
an Image without a preview is still an Image.
"""

from __future__ import annotations

import logging

import asyncpg

from shared import keys
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)

#: the rendition's name in its final key, and the proxy column naming its temporary object
RENDITIONS = {"preview": "preview_path", "thumb": "thumbnail_path"}


async def keep_renditions(temp: ObjectStore, final: ObjectStore, proxy: asyncpg.Record,
                          original_key: str) -> dict[str, str | None]:
    """Copy what the proxy has; returns the Image's `preview_path` and `thumbnail_path`
    (None for a rendition that was never made). A redelivered job overwrites its own copy."""
    kept: dict[str, str | None] = {}
    for rendition, column in RENDITIONS.items():
        source, target = proxy[column], keys.kept_rendition_key(original_key, rendition)
        kept[column] = None
        if not source:
            continue
        try:
            await final.copy_from(temp, source, target)
        except ObjectNotFound:
            if not await final.exists(target):  # not copied before a crash either
                log.info("proxy %s has no %s to keep", proxy["uuid"], rendition)
                continue
        kept[column] = target
    return kept
