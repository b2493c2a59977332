"""A proxy's companion files (its XMP sidecar, a Live Photo's movie): claimed, kept beside the
original, then released.

Order, as for the original: the sidecar is claimed (attached to the proxy,
so a redelivered job finds the same one), copied beside the final original
and checked, the Image is inserted naming it, and only then the temp object
and the row go (`release`, from the clean-up). A sidecar whose bytes are
lost is logged and left out: its fields were read at upload and still apply,
and the original is never held back for it.
"""

from __future__ import annotations

import logging
from typing import Any

from services.finalize.verified_copy import sha256_of
from shared import keys
from shared.db.finalize_records import Row, SidecarRecords
from shared.exif.sidecar import base_name
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


async def claim(records: SidecarRecords, proxy: Row, kind: str = "xmp") -> Row | None:
    return await records.claim_sidecar(proxy["user_id"], proxy["uuid"], base_name(proxy["original_name"]),
                                       kind)


def fields_of(sidecar: Row | None) -> dict[str, Any] | None:
    """ExifTool's reading of the sidecar (made when it was uploaded)."""
    return dict(sidecar["metadata"] or {}) if sidecar is not None else None


async def keep(temp: ObjectStore, final: ObjectStore, sidecar: Row,
               original_key: str) -> str | None:
    """Copy the companion beside the original (`001-IMG_1234.xmp`, `001-IMG_1234.mov`); its final
    key, or None if it is lost."""
    key = keys.companion_key(original_key, sidecar["temp_key"].rsplit(".", 1)[-1])
    try:
        await final.copy_from(temp, sidecar["temp_key"], key)
    except ObjectNotFound:
        if await final.exists(key) and await sha256_of(final, key) == sidecar["sha256"]:
            return key  # copied by an earlier attempt
        log.warning("sidecar %s of %s is lost; the Image keeps its fields only", sidecar["id"],
                    sidecar["proxy_uuid"])
        return None
    if await sha256_of(final, key) != sidecar["sha256"]:
        await final.delete(key)
        log.warning("sidecar %s changed on its way; left out", sidecar["id"])
        return None
    return key


async def release(records: SidecarRecords, temp: ObjectStore, proxy: Row) -> None:
    """After the Image is committed: each companion's temp object, then its row."""
    for sidecar in await records.sidecars_attached_to(proxy["uuid"]):
        await temp.delete(sidecar["temp_key"])
        await records.delete_sidecar(sidecar["id"])
