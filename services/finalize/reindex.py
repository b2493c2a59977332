"""Reindex: an existing Image's original (and sidecar) read again, to fill fields added since.

An operator's `prophoto reindex` queues one job per Image (`FinalizeIngest`
with `reindex_image_id`). The job reads the original from the final store
with the finalize read mode, the kept sidecar beside it if there is one, and
keeps what a person set through the API (`sources` says `person`); it
rewrites the metadata, its columns and the keyword tags, and touches nothing
else: the key, the bytes and the request's own tags stay. Idempotent: a
redelivered job reads the same files again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared import exif
from shared.db import images
from shared.messages import FinalizeIngest
from shared.storage import ObjectNotFound
from shared.worker.context import JobContext, PermanentError

if TYPE_CHECKING:
    from services.finalize.finalize import FinalizeDeps

#: what the Image record carries beside the normalized fields, kept as it was
_KEPT_KEYS = ("mime", "format", "culled")


async def _read(deps: FinalizeDeps, key: str, suffix: str) -> dict[str, Any]:
    async with deps.final_store.local_copy(key, suffix) as local:
        return await deps.exif.read(Path(local), deps.settings.exiftool_finalize_mode)


async def reindex(deps: FinalizeDeps, job: FinalizeIngest, ctx: JobContext
                  ) -> tuple[int | None, int | None, str]:
    """Re-read one Image's files; (its id, its size, "reindex"), or (None, None, ...) when it is gone."""
    image_id = job.reindex_image_id
    image = await deps.records.image_to_reindex(image_id or 0, job.user_id)
    if image is None:
        return None, None, "reindex-gone"  # deleted since it was queued: nothing to do
    started = time.perf_counter()
    try:
        meta = await _read(deps, image["path"], image["path"].rsplit(".", 1)[-1])
    except ObjectNotFound:
        raise PermanentError(f"the original {image['path']} is missing from the final store") from None
    side = None
    if image["sidecar_path"]:
        try:
            side = await _read(deps, image["sidecar_path"], "xmp")
        except ObjectNotFound:
            side = None
    old = dict(image["metadata"] or {})
    person = {name: old.get(name) for name, source in (old.get("sources") or {}).items()
              if source == "person"}
    normalized = exif.with_person_values(exif.normalize(meta, side), person)
    await ctx.report.trace("metadata_extraction", str(meta.get("_reader", "exiftool")), True, "reindex",
                           (time.perf_counter() - started) * 1000, len(meta),
                           fields=exif.found_fields(normalized))
    columns = images.metadata_columns(normalized)
    kept_tags = [t for t in image["tags"] or [] if t not in set(old.get("keywords") or [])]
    tags = list(dict.fromkeys([*kept_tags, *normalized["keywords"]]))[:200]
    metadata = normalized | {k: old[k] for k in _KEPT_KEYS if k in old} | {"reader": meta.get("_reader")}
    await deps.records.update_metadata(image["id"], columns | {"metadata": metadata, "tags": tags})
    return image["id"], image["size"], "reindex"
