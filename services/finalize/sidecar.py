"""The XMP sidecar of a proxy being finalized: claimed, kept beside the original, then released.

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

import asyncpg

from services.finalize.verified_copy import sha256_of
from shared import keys
from shared.db import sidecars
from shared.exif.sidecar import base_name
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


async def claim(pool: asyncpg.Pool, proxy: asyncpg.Record) -> asyncpg.Record | None:
    return await sidecars.claim_for_proxy(pool, proxy["user_id"], proxy["uuid"],
                                          base_name(proxy["original_name"]))


def fields_of(sidecar: asyncpg.Record | None) -> dict[str, Any] | None:
    """ExifTool's reading of the sidecar (made when it was uploaded)."""
    return dict(sidecar["metadata"] or {}) if sidecar is not None else None


async def keep(temp: ObjectStore, final: ObjectStore, sidecar: asyncpg.Record,
               original_key: str) -> str | None:
    """Copy the sidecar beside the original (`001-IMG_1234.xmp`); its final key, or None if it is lost."""
    key = keys.final_sidecar_key(original_key)
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


async def release(pool: asyncpg.Pool, temp: ObjectStore, proxy: asyncpg.Record) -> None:
    """After the Image is committed: the temp object, then the row."""
    sidecar = await sidecars.attached_to(pool, proxy["uuid"])
    if sidecar is not None:
        await temp.delete(sidecar["temp_key"])
        await sidecars.delete_sidecar(pool, sidecar["id"])
