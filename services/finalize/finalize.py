"""The finalize job: a confirmed proxy becomes a permanent Image.

Steps, in the order that makes a crash at any point harmless:

1. load the proxy; gone with an Image for its uuid -> already done;
2. full metadata read (no side effects; the key needs the date and camera);
3. allocate (sequence, final key) ONCE, stored on the proxy row: a
   redelivered job reuses them, so it never takes a second number;
4. copy the original to the final store, then check size and sha256 against
   the upload (a re-copy after a crash overwrites our own object only);
5. insert the Image (`ON CONFLICT (proxy_uuid) DO NOTHING`) and commit;
6. only then delete the temp objects, and the proxy row last.

Every attempt emits a `finalize` trace event (the harness publishes it from
`ctx.note`); the outcome emits an `ingest` status event through `ctx.report`.
The work knows nothing of RabbitMQ, nor of PostgreSQL: it reads and writes
through `FinalizeRecords` (`shared/db/finalize_records.py`), so its unit tests
run on the in-memory fake (`tests/unit/test_finalize_job.py`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from services.finalize import sidecar
from services.finalize.kept_renditions import keep_renditions
from services.finalize.pairs import link_pair
from services.finalize.reindex import reindex
from services.finalize.verified_copy import copy_verified, final_copy_if_intact
from shared import exif, keys, naming
from shared.db import images
from shared.db.finalize_records import FinalizeRecords, PgFinalizeRecords, Row
from shared.db.renditions import rendition_keys
from shared.db.status import INGESTED, INGESTING
from shared.exif import AsyncExifTool
from shared.imaging import renditions
from shared.messages import FinalizeIngest
from shared.settings import Settings
from shared.storage import ObjectNotFound, ObjectStore
from shared.worker.context import JobContext, PermanentError
from shared.worker.spec import Resources, WorkerSpec

log = logging.getLogger(__name__)
SERVICE = "finalize"
CRASH_ENV = "PROPHOTO_TEST_CRASH_AT"  # after_copy | after_insert; honoured only when env == "test"


@dataclass
class FinalizeDeps:
    settings: Settings
    records: FinalizeRecords
    temp_store: ObjectStore
    final_store: ObjectStore
    exif: AsyncExifTool


def temp_objects(proxy: Row) -> list[str]:
    """The proxy's temporary objects: those its row names, and every rendition's own key (one
    written by a render that had not recorded it yet)."""
    found = [proxy["temp_key"], *rendition_keys(proxy), proxy["exif_thumb_key"],
             *(keys.rendition_key(proxy["uuid"], spec.name) for spec in renditions.SPECS)]
    return list(dict.fromkeys(k for k in found if k))


#: what the preview worker found of the original's colour and HDR, kept by the Image
KEPT_COLOUR = ("colour_space", "colour_profile", "hdr_format", "hdr_headroom")


def _crash_point(deps: FinalizeDeps, point: str) -> None:
    if deps.settings.env == "test" and os.environ.get(CRASH_ENV) == point:
        log.warning("test hook: SIGKILL at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


async def finalize(deps: FinalizeDeps, job: FinalizeIngest, ctx: JobContext) -> int | None:
    """Run one attempt; returns the Image id, or None when there was nothing to do."""
    ctx.note.method = "reindex" if job.reindex_image_id else "copy"  # what a failed attempt is traced as
    work = reindex if job.reindex_image_id else _finalize
    image_id, ctx.note.size, ctx.note.method = await work(deps, job, ctx)
    ctx.note.reason = None if image_id else "nothing to do"
    return image_id


async def _finalize(
    deps: FinalizeDeps, job: FinalizeIngest, ctx: JobContext
) -> tuple[int | None, int | None, str]:
    proxy = await deps.records.load_proxy(job.uuid)
    if proxy is None:
        done = await deps.records.image_for_proxy(job.uuid)
        return (done["id"] if done else None), None, "done-before"
    if proxy["user_id"] != job.user_id:
        raise PermanentError("the job's user does not own the proxy")
    done = await deps.records.image_for_proxy(job.uuid)
    if done is not None:  # crashed after the insert: the pairing and the clean-up are left
        await link_pair(deps.records, deps.final_store, done["id"])
        await _clean_up(deps, proxy)
        await ctx.report.announce(INGESTED, image_id=done["id"])
        return done["id"], proxy["size"], "cleanup-only"
    if proxy["ingest_status"] not in INGESTING:
        # not confirmed (or failed and not re-queued): a stray duplicate, nothing to do
        log.info("finalize %s: ingest_status is %s; skipping", job.uuid, proxy["ingest_status"])
        return None, None, "skipped"
    await deps.records.start_ingest(job.uuid)

    async with _local_original(deps, proxy) as local:
        read_started = time.perf_counter()
        meta, reader = await _read_metadata(deps, local, proxy)
    read_ms = (time.perf_counter() - read_started) * 1000
    fallback = reader == "upload-fast-read"
    side = await sidecar.claim(deps.records, proxy)
    normalized = exif.with_person_values(exif.normalize(meta, sidecar.fields_of(side)), person_values(proxy))
    await ctx.report.trace("metadata_extraction", reader, not fallback,
                           "full read failed; the upload's fast read was used" if fallback else None,
                           read_ms, len(meta), fields=exif.found_fields(normalized))
    columns = images.metadata_columns(normalized)

    directory = naming.render_directory(deps.settings.schema_pattern, naming.NamingValues(
        taken_at=columns["taken_at_local"], uploaded_at=proxy["uploaded_at"],
        make=normalized["camera_make"], model=normalized["camera_model"], camera=normalized["camera"],
        lens=normalized["lens"], user=proxy["user_id"], ext=proxy["ext"],
    ))
    _, key = await deps.records.allocate_key(
        job.uuid, proxy["user_id"], deps.final_store.disk, directory,
        lambda seq: keys.final_key(directory, seq, proxy["original_name"]),
        deps.final_store.exists,
    )

    await copy_verified(deps.temp_store, deps.final_store, proxy, key)
    side_key = await sidecar.keep(deps.temp_store, deps.final_store, side, key) if side else None
    movie_key = await _keep_movie(deps, proxy, normalized, key)
    kept = await keep_renditions(deps.temp_store, deps.final_store, proxy, key)
    _crash_point(deps, "after_copy")

    image_id = await deps.records.insert_image(job.uuid, columns | {
        "user_id": proxy["user_id"], "disk": deps.final_store.disk, "path": key,
        "original_name": proxy["original_name"],
        "metadata": normalized | {"mime": proxy["mime"], "format": proxy["format"], "reader": reader,
                                  "preview_size": _preview_size(proxy)},
        "tags": _tags(list(proxy["ingest_tags"] or job.image_tags), normalized["keywords"]),
        "association": dict(proxy["ingest_association"] or {}) or job.association,
        "sha256": proxy["sha256"], "size": proxy["size"], "sidecar_path": side_key,
        "live_video_path": movie_key, "pair_kind": "live-photo" if movie_key else None,
        **kept, **{column: proxy[column] for column in KEPT_COLOUR},
    })
    _crash_point(deps, "after_insert")
    await link_pair(deps.records, deps.final_store, image_id)

    await _clean_up(deps, proxy)
    await ctx.report.announce(INGESTED, image_id=image_id)
    return image_id, proxy["size"], "copy"


async def _keep_movie(deps: FinalizeDeps, proxy: Row, normalized: dict[str, Any],
                      key: str) -> str | None:
    """A Live Photo's movie beside the photo, unless both name a ContentIdentifier and they differ."""
    movie = await sidecar.claim(deps.records, proxy, "live-video")
    if movie is None:
        return None
    theirs, ours = (movie["metadata"] or {}).get("ContentIdentifier"), normalized.get("content_identifier")
    if theirs and ours and theirs != ours:
        log.warning("the movie %s is not %s's Live Photo (ContentIdentifier differs); not kept",
                    movie["original_name"], proxy["original_name"])
        return None
    return await sidecar.keep(deps.temp_store, deps.final_store, movie, key)


def _preview_size(proxy: Row) -> list[int] | None:
    width, height = proxy["preview_width"], proxy["preview_height"]
    return [width, height] if width and height else None


def person_values(proxy: Row) -> dict[str, Any]:
    """What a person set on the proxy through the API, which wins over sidecar and file.

    The merge point for ratings (and any `exif.PERSON_FIELDS`) set before the
    Image exists: the proxy column of that name (culling's PATCH). A rating of
    0 is "unrated" there, so it leaves the sidecar's or the file's in place.
    """
    return {name: proxy[name] for name in exif.PERSON_FIELDS if name in proxy.keys() and proxy[name]}


def _tags(requested: list[str], keywords: list[str]) -> list[str]:
    out: list[str] = []
    for tag in [*requested, *keywords]:
        text = exif.clean_text(tag, 100)
        if text and text not in out:
            out.append(text)
    return out[:200]


@asynccontextmanager
async def _local_original(deps: FinalizeDeps, proxy: Row) -> AsyncIterator[Path]:
    async with contextlib.AsyncExitStack() as stack:
        try:
            path = await stack.enter_async_context(
                deps.temp_store.local_copy(proxy["temp_key"], proxy["ext"]))
        except ObjectNotFound:
            final = await final_copy_if_intact(deps.final_store, proxy)
            if final is None:
                raise PermanentError(f"the original {proxy['temp_key']} is missing") from None
            path = await stack.enter_async_context(deps.final_store.local_copy(final, proxy["ext"]))
        yield path


async def _read_metadata(deps: FinalizeDeps, path: Path, proxy: Row) -> tuple[dict[str, Any], str]:
    try:
        meta = await deps.exif.read(path, deps.settings.exiftool_finalize_mode)
        return meta, str(meta.get("_reader", "exiftool"))
    except Exception as exc:
        # both ExifTool and Pillow failed: the upload's fast read is still the same file's metadata
        log.warning("full metadata read of %s failed (%s); using the upload's", proxy["uuid"], exc)
        return dict(proxy["metadata"] or {}), "upload-fast-read"


async def _clean_up(deps: FinalizeDeps, proxy: Row) -> None:
    for key in temp_objects(proxy):
        await deps.temp_store.delete(key)
    await sidecar.release(deps.records, deps.temp_store, proxy)
    await deps.records.delete_ingested(proxy["uuid"])


async def record_failure(deps: FinalizeDeps, job: FinalizeIngest | None, reason: str) -> bool:
    """Last attempt failed: the proxy keeps its files and says why."""
    if job is None:
        return False
    return await deps.records.mark_ingest_failed(UUID(str(job.uuid)), reason) is not None


async def open_deps(resources: Resources) -> FinalizeDeps:
    settings = resources.settings
    naming.validate_pattern(settings.schema_pattern)
    tool = AsyncExifTool(settings.exiftool_binary, settings.exiftool_timeout, size=1)  # one job at a time
    resources.extras["exiftool"] = tool
    return FinalizeDeps(
        settings=settings, records=PgFinalizeRecords(resources.pool), temp_store=resources.temp_store,
        final_store=resources.final_store, exif=tool,
    )


def worker(settings: Settings) -> WorkerSpec[FinalizeIngest, FinalizeDeps]:
    return WorkerSpec(service=SERVICE, queue=settings.queue_finalize, model=FinalizeIngest,
                      deps=open_deps, work=finalize, on_failed=record_failure,
                      status_field="ingest", attempt_trace="finalize")
