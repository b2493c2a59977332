"""After the last byte: the whole file goes through `accept`, the very same acceptance
as `POST /v1/uploads`, and the outcome (proxy or problem) is recorded on the row, so
asking again answers the same. The hash is never recomputed: the SHA-256 state saved
with every offset already gives the file's digest, so completion costs no second read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.upload.deps import UploadContext
from services.upload.intake import Spool, clean_filename
from services.upload.upload import UploadResult, accept
from shared.db import proxies, tus
from shared.errors import DomainError
from shared.filetype import HEAD_BYTES
from shared.http.problems import ProblemError, problem_of
from shared.storage.base import ObjectNotFound
from shared.storage.partial import PartialStore


@dataclass
class Outcome:
    """What an append left: the row, and after the last byte the accepted upload."""

    row: asyncpg.Record
    result: UploadResult | None = None
    proxy: asyncpg.Record | None = None
    duplicate: bool = False


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
            detail = f"the bytes are gone: {exc}"
            problem = {"status": 410, "title": "Upload lost", "detail": detail}
            await tus.record_outcome(ctx.pool, upload_id, "rejected", None, problem, keep)
            raise ProblemError(410, "Upload lost", detail) from exc
        done = await tus.record_outcome(ctx.pool, upload_id, "accepted", existing["uuid"], None, keep)
        assert done is not None
        return Outcome(done, proxy=existing, duplicate=True)
    spool = _Assembled(path=path, limit=row["length"], size=row["length"],
                       head=bytearray(_head(path)), digest=row["sha256"])
    try:
        result = await accept(ctx, user, spool, clean_filename(row["filename"]), None)
    except DomainError as exc:
        problem = problem_of(exc)
        await tus.record_outcome(ctx.pool, upload_id, "rejected", None, problem, keep)
        raise
    done = await tus.record_outcome(ctx.pool, upload_id, "accepted", result.proxy["uuid"], None, keep)
    assert done is not None
    return Outcome(done, result=result, proxy=result.proxy, duplicate=not result.created)


async def stored_outcome(ctx: UploadContext, row: asyncpg.Record) -> Outcome:
    """What a finished upload became, answered again (a retried last PATCH, a HEAD, a GET)."""
    if row["state"] == "rejected":
        problem = dict(row["problem"] or {})
        status = int(problem.pop("status", 422))
        title = str(problem.pop("title", "Rejected"))
        detail = problem.pop("detail", None)
        raise ProblemError(status, title, str(detail) if detail is not None else None, **problem)
    proxy = await proxies.get_proxy_for_user(ctx.pool, row["user_id"], row["proxy_uuid"])
    if proxy is None:
        raise ProblemError(404, "Proxy removed", f"the proxy {row['proxy_uuid']} was deleted")
    return Outcome(row, proxy=proxy, duplicate=proxy["uploaded_at"] < row["created_at"])


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)
