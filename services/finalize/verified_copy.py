"""Finalize's verified copy: the original into the final store, checked against the upload.

A re-copy after a crash overwrites only our own object; a copy an earlier
attempt finished is recognised by its sha256 (the temporary original is
removed only after the Image commits, so one of the two always exists).
"""

from __future__ import annotations

import asyncio
import hashlib

from shared.db.finalize_records import Row
from shared.storage import ObjectNotFound, ObjectStore
from shared.worker.context import PermanentError


class IntegrityMismatch(Exception):
    """The copied object is not the uploaded bytes (retried: the copy is redone)."""


async def final_copy_if_intact(final: ObjectStore, proxy: Row) -> str | None:
    """The final object an earlier attempt copied, when it is still the uploaded bytes."""
    key = proxy["final_key"]
    if key and await final.exists(key) and await sha256_of(final, key) == proxy["sha256"]:
        return str(key)
    return None


async def copy_verified(temp: ObjectStore, final: ObjectStore, proxy: Row, key: str) -> None:
    """Copy the original to `key` in the final store and check its size and sha256 against the upload."""
    try:
        info = await final.copy_from(temp, proxy["temp_key"], key)
    except ObjectNotFound:
        # a previous attempt may have copied it; the temp object only goes after the Image commits
        if await final_copy_if_intact(final, proxy) == key:
            return
        raise PermanentError(f"the original {proxy['temp_key']} is missing") from None
    if info.size != proxy["size"]:
        raise IntegrityMismatch(f"copied {info.size} bytes, the upload had {proxy['size']}")
    digest = await sha256_of(final, key)
    if digest != proxy["sha256"]:
        raise IntegrityMismatch(f"sha256 of the copy is {digest}, the upload's is {proxy['sha256']}")


async def sha256_of(store: ObjectStore, key: str) -> str:
    local = store.local_path(key)
    if local is not None:
        def digest() -> str:
            h = hashlib.sha256()
            with open(local, "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    h.update(chunk)
            return h.hexdigest()

        return await asyncio.to_thread(digest)
    h = hashlib.sha256()
    async for chunk in store.iter_chunks(key):
        h.update(chunk)
    return h.hexdigest()
