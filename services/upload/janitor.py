"""What nobody will come back for, removed: expired proxies, dead spools, orphaned objects.

Every `PROPHOTO_JANITOR_EVERY_S` each upload-service process
1. removes unconfirmed proxies past their `expires_at` (`PROPHOTO_PROXY_EXPIRY_DAYS` after
   the upload, announced in every answer about them): the row first, then its objects, as
   a DELETE by the owner does;
2. removes spool files of uploads that died mid-body (a SIGKILL leaves them in the file
   store's `.staging`), once untouched for `STAGING_GRACE_S`;
3. removes temporary objects whose proxy is gone (a crash between storing an upload and
   recording it, a render that finished after its proxy was deleted): an object seen
   without a proxy at two rounds in a row goes, so one being recorded right now stays.
Resumable uploads have their own sweeper (`resumable/uploads.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from shared import keys
from shared.db import proxies
from shared.db.renditions import rendition_keys
from shared.storage import ObjectStore

log = logging.getLogger(__name__)

STAGING_GRACE_S = 3600.0
BATCH = 500
#: a temporary object named for its proxy: the original, an EXIF thumbnail, a preview
#: (enhanced ones carry their width), a thumbnail, any other rendition (`keys.rendition_key`)
_OWNED = re.compile(rf"^{keys.TEMP_PREFIX}/(?:exif-thumbs/|previews/|thumbs/|renditions/[a-z0-9-]+/)?"
                    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[.-][^/]*)?$")


@dataclass
class Janitor:
    pool: asyncpg.Pool
    store: ObjectStore
    every_s: float
    _suspects: set[str] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="janitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> dict[str, int]:
        """One round; how many of each were removed."""
        return {"expired proxies": await self.expire_proxies(),
                "dead spools": await self.store.sweep_staging(STAGING_GRACE_S),
                "orphaned objects": await self.orphans()}

    async def expire_proxies(self) -> int:
        removed = 0
        while rows := await proxies.expire_unconfirmed(self.pool, BATCH):
            for row in rows:
                for key in (row["temp_key"], row["exif_thumb_key"], *rendition_keys(row)):
                    if key:
                        await self.store.delete(key)
            removed += len(rows)
        return removed

    async def orphans(self) -> int:
        owner: dict[str, UUID] = {}
        for key in await self.store.list(keys.TEMP_PREFIX):
            match = _OWNED.match(key)
            if match:
                owner[key] = UUID(match.group(1))
        known = await proxies.known_uuids(self.pool, list(set(owner.values())))
        orphaned = {key for key, uuid in owner.items() if uuid not in known}
        doomed, self._suspects = orphaned & self._suspects, orphaned - self._suspects
        for key in doomed:
            await self.store.delete(key)
        return len(doomed)

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                removed = await self.run_once()
                if any(removed.values()):
                    log.info("janitor removed %s", removed)
            except Exception:
                log.exception("janitor round failed")
