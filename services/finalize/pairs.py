"""RAW+JPEG pairs: linked when the second of the two becomes an Image; the pair's preview.

A RAW and a JPEG (or HEIC) of the same frame, the same ImageUniqueID or the
same base name and capture time to the second, name each other
(`paired_image_id`, `pair_kind` "raw+jpeg"), whichever finalizes first. The
RAW's preview was rendered from its embedded image, often smaller than the
camera's JPEG: when the JPEG's preview is at least as large (long edge), the
RAW Image shows a copy of it (`metadata.preview_source` "camera-jpeg").
Idempotent: a redelivered job finds the pair linked and copies the same bytes.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import keys
from shared.db.finalize_records import PairRecords, Row
from shared.db.renditions import columns_for, recorded
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


def _long_edge(size: Any) -> int:
    return max(int(v) for v in size) if isinstance(size, list) and size else 0


async def link_pair(records: PairRecords, final: ObjectStore, image_id: int) -> int | None:
    """Pair the Image with its other half if it is there; the partner's id, or None."""
    me = await records.pairing_facts(image_id)
    if me is None or me["paired_image_id"] is not None:
        return me["paired_image_id"] if me else None
    partner = await records.partner_of(me)
    if partner is None or not await records.link_images(me["id"], partner["id"], "raw+jpeg"):
        return None
    raw, jpeg = (me, partner) if me["is_raw"] else (partner, me)
    if jpeg["preview_path"] and _long_edge(jpeg["preview_size"]) >= _long_edge(raw["preview_size"]):
        await _show_camera_jpeg(records, final, raw, jpeg)
    return int(partner["id"])


async def _show_camera_jpeg(records: PairRecords, final: ObjectStore, raw: Row, jpeg: Row) -> None:
    shown = recorded(raw)
    for name, made in recorded(jpeg).items():
        target = keys.kept_rendition_key(raw["path"], name)
        try:
            await final.copy_from(final, made["key"], target)
            shown[name] = {**made, "key": target}
        except ObjectNotFound:
            log.info("image %s has no %s to lend its RAW", jpeg["id"], name)
    await records.set_image_renditions(raw["id"], columns_for(shown) | {"preview_source": "camera-jpeg"})
