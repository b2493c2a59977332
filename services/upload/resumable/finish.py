"""After the last byte: the whole file goes through `accept`, the very same acceptance
as `POST /v1/uploads`, and the outcome (the proxy, or the domain error that refused the
file, as `shared.errors.record` data) is recorded on the row, so asking again answers the
same. The hash is never recomputed: the SHA-256 state saved with every offset already
gives the file's digest, so completion costs no second read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.upload.deps import UploadContext
from services.upload.intake import Spool, clean_filename
from services.upload.upload import UploadResult, accept
from shared.db import images, proxies, tus
from shared.db.status import TusState
from shared.errors import DomainError, Gone, NotFound, record, revive
from shared.filetype import HEAD_BYTES
from shared.storage.base import ObjectNotFound
from shared.storage.partial import PartialStore


@dataclass
class Outcome:
    """What an append left: the row, and after the last byte the accepted upload."""

    row: asyncpg.Record
    result: UploadResult | None = None
    proxy: asyncpg.Record | None = None
    duplicate: bool = False
    #: the kept Image the file repeats (then `proxy` is None)
    kept: asyncpg.Record | None = None


@dataclass
class _Assembled(Spool):
    """A file that arrived whole through tus: size and hash are already known."""

    digest: str = ""

    def __post_init__(self) -> None:  # nothing to open: the bytes are all there
        pass

    @property
    def sha256(self) -> str:
        return self.digest


async def finish(ctx: UploadContext, partials: PartialStore, row: asyncpg.Record,
                 spool_dir: Path) -> Outcome:
    upload_id, user = row["id"], row["user_id"]
    keep = ctx.settings.tus_outcome_keep_s
    try:
        path = await partials.assemble(str(upload_id), row["storage"], spool_dir)
        if not path.exists():
            raise FileNotFoundError(path)
    except (FileNotFoundError, ObjectNotFound, RuntimeError) as exc:
        # the bytes went through acceptance before a crash left the row unmarked
        existing = await proxies.find_duplicate(ctx.pool, user, row["sha256"] or "")
        if existing is None:
            lost = Gone(f"the bytes are gone: {exc}", title="Upload lost")
            await tus.record_outcome(ctx.pool, upload_id, TusState.REJECTED, None, record(lost), keep)
            await partials.finished(str(upload_id))
            raise lost from exc
        done = await tus.record_outcome(ctx.pool, upload_id, TusState.ACCEPTED, existing["uuid"], None,
                                        keep)
        assert done is not None
        await partials.finished(str(upload_id))
        return Outcome(done, proxy=existing, duplicate=True)
    spool = _Assembled(path=path, limit=row["length"], size=row["length"],
                       head=bytearray(_head(path)), digest=row["sha256"])
    try:
        result = await accept(ctx, user, spool, clean_filename(row["filename"]), None,
                              keep_copy=wants_copy(row["metadata"]))
    except DomainError as exc:
        await tus.record_outcome(ctx.pool, upload_id, TusState.REJECTED, None, record(exc), keep)
        await partials.finished(str(upload_id))
        raise
    # a kept Image is found again by the uuid of the proxy it was made from
    named = result.proxy["uuid"] if result.proxy else result.kept["proxy_uuid"] if result.kept else None
    done = await tus.record_outcome(ctx.pool, upload_id, TusState.ACCEPTED, named, None, keep)
    assert done is not None
    await partials.finished(str(upload_id))  # only now: a crash above assembles again
    return Outcome(done, result=result, proxy=result.proxy, duplicate=not result.created, kept=result.kept)


def wants_copy(metadata: dict[str, str] | None) -> bool:
    """Upload-Metadata `keep_copy` (any of 1/true/yes): keep a second copy of a kept photo."""
    return str((metadata or {}).get("keep_copy", "")).strip().lower() in ("1", "true", "yes")


async def stored_outcome(ctx: UploadContext, row: asyncpg.Record) -> Outcome:
    """What a finished upload became, answered again (a retried last PATCH, a HEAD, a GET)."""
    if row["state"] == TusState.REJECTED:  # the refusal `finish` recorded, raised again
        raise revive(row["problem"] or {"title": "Rejected"})
    proxy = await proxies.get_proxy_for_user(ctx.pool, row["user_id"], row["proxy_uuid"])
    if proxy is None:
        kept = await images.kept_for_proxy(ctx.pool, row["user_id"], row["proxy_uuid"])
        if kept is not None:  # ingested since, or a kept photo uploaded again
            return Outcome(row, duplicate=True, kept=kept)
        raise NotFound(f"the proxy {row['proxy_uuid']} was deleted", title="Proxy removed")
    return Outcome(row, proxy=proxy, duplicate=proxy["uploaded_at"] < row["created_at"])


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)
