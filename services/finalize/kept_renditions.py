"""An Image keeps the proxy's renditions (preview, thumbnail, any other listed): copied into
the final store beside the original before the Image row commits, so its page can show them
once the temporary objects are gone. A proxy whose preview failed keeps whatever exists (perhaps nothing):
an Image without a preview is still an Image.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import keys
from shared.db.finalize_records import Row
from shared.db.renditions import Renditions, columns_for, recorded
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


async def keep_renditions(temp: ObjectStore, final: ObjectStore, proxy: Row,
                          original_key: str) -> dict[str, Any]:
    """Copy every rendition the proxy has; returns the Image's `renditions`, `preview_path` and
    `thumbnail_path` (a rendition never made is not there). A redelivered job overwrites its own copy."""
    kept: Renditions = {}
    for name, made in recorded(proxy).items():
        source, target = made.get("key"), keys.kept_rendition_key(original_key, name)
        if not source:
            continue
        try:
            await final.copy_from(temp, source, target)
        except ObjectNotFound:
            if not await final.exists(target):  # not copied before a crash either
                log.info("proxy %s has no %s to keep", proxy["uuid"], name)
                continue
        kept[name] = {**made, "key": target}
    return columns_for(kept)
