"""Resumable uploads (tus 1.0): create, append, finish, terminate, expire.

The work functions know nothing of HTTP headers; `routes_tus.py` speaks the
protocol. One upload's requests are serialized by a PostgreSQL advisory lock
held for the whole append (a session lock: a crashed process releases it), so
two PATCHes at the same offset cannot both write: one wins, the other is told
the upload is busy (423) or that the offset moved (409).

Crash-safe order of an append:
1. bytes go to the partial object at the recorded offset (anything past it
   is cut off first) while the request's bytes update the resumed SHA-256;
2. the partial object is made durable (`commit`), then the new offset, the
   backend state and the hash state are recorded in one UPDATE: a crash
   before it leaves the old offset, whose bytes and hash state still match;
3. after the last byte the whole file goes through `accept`, the very same
   acceptance as `POST /v1/uploads`, and the outcome (proxy or problem) is
   recorded on the row, so asking again answers the same.

The hash is never recomputed: the SHA-256 state (OpenSSL's context, see
`shared/sha256state.py`) is saved with every offset, so completion costs no
second read of the bytes for hashing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid as uuidlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.upload import tus_queries
from services.upload.deps import UploadContext
from services.upload.intake import Spool, clean_filename
from services.upload.upload import UploadResult, accept
from shared.db import create_pool, proxies
from shared.errors import DomainError
from shared.filetype import HEAD_BYTES
from shared.http.problems import ProblemError, problem_of
from shared.sha256state import ResumableSha256
from shared.storage.base import ObjectNotFound
from shared.storage.partial import PartialStore, open_partials

log = logging.getLogger(__name__)

LOCK_WAIT_S = 2.0
CHECKSUMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}


@dataclass
class Body:
    """A request body and whether the client went away before its end."""

    chunks: AsyncIterator[bytes]
    cut: bool = False


@dataclass
class Checksum:
    algorithm: str
    digest: bytes


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


class Resumable:
    """Per-process resources of the tus endpoint: the lock connections, the sweeper."""

    def __init__(self, ctx: UploadContext) -> None:
        self.ctx = ctx
        self.partials: PartialStore = open_partials(ctx.temp_store)
        self._locks: asyncpg.Pool | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # advisory locks live as long as their session: a pool of their own keeps
        # long PATCHes from taking the connections the rest of the API needs
        self._locks = await create_pool(self.ctx.settings, min_size=1, max_size=32)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="tus-sweeper")

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._locks:
            await self._locks.close()

    @contextlib.asynccontextmanager
    async def locked(self, upload_id: uuidlib.UUID, wait_s: float | None = None) -> AsyncIterator[bool]:
        assert self._locks is not None
        wait_s = LOCK_WAIT_S if wait_s is None else wait_s
        key = int.from_bytes(upload_id.bytes[:8], "big", signed=True)
        async with self._locks.acquire() as conn:
            deadline = asyncio.get_running_loop().time() + wait_s
            held = False
            while True:
                held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
                if held or asyncio.get_running_loop().time() >= deadline:
                    break
                await asyncio.sleep(0.05)
            try:
                yield held
            finally:
                if held:
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)

    # -- creation -----------------------------------------------------------------

    async def create(self, user: str, length: int, metadata: dict[str, str]) -> asyncpg.Record:
        settings = self.ctx.settings
        if length > settings.max_upload_bytes:
            raise ProblemError(
                413, "Upload too large",
                f"Upload-Length {length} is over the limit of {settings.max_upload_bytes} bytes",
                limit=settings.max_upload_bytes)
        upload_id = uuidlib.uuid4()
        filename = clean_filename(metadata.get("filename") or metadata.get("name"))
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            await tus_queries.lock_user_creations(conn, user)
            count, size = await tus_queries.incomplete_totals(conn, user)
            if count + 1 > settings.tus_max_incomplete:
                raise ProblemError(
                    429, "Too many unfinished uploads",
                    f"{count} uploads are unfinished (the cap is {settings.tus_max_incomplete}): "
                    "finish or DELETE one first", cap=settings.tus_max_incomplete)
            if size + length > settings.tus_max_incomplete_bytes:
                raise ProblemError(
                    429, "Too many unfinished bytes",
                    f"unfinished uploads hold {size} bytes and this one would add {length}; the cap is "
                    f"{settings.tus_max_incomplete_bytes}: finish or DELETE some first",
                    cap_bytes=settings.tus_max_incomplete_bytes)
            storage = await self.partials.begin(str(upload_id))
            try:
                return await tus_queries.insert_upload(conn, {
                    "id": upload_id, "user_id": user, "length": length, "filename": filename,
                    "metadata": metadata, "storage": storage, "hash_state": ResumableSha256().state(),
                    "expires_at": datetime.now(UTC) + timedelta(seconds=settings.tus_expiry_s),
                })
            except BaseException:
                await self.partials.discard(str(upload_id), storage)
                raise

    async def row(self, user: str, upload_id: uuidlib.UUID) -> asyncpg.Record:
        row = await tus_queries.get_upload_for_user(self.ctx.pool, user, upload_id)
        if row is None:
            raise ProblemError(404, "Not found", f"no upload {upload_id}")
        if row["expired"]:
            raise ProblemError(410, "Upload expired", f"upload {upload_id} expired at {row['expires_at']}")
        return row

    async def current(self, user: str, upload_id: uuidlib.UUID) -> asyncpg.Record:
        """The row once no append is under way (a HEAD after a cut sees the recorded offset)."""
        async with self.locked(upload_id):  # busy after the wait: answer what is recorded
            return await self.row(user, upload_id)

    # -- append -------------------------------------------------------------------

    async def append(self, user: str, upload_id: uuidlib.UUID, offset: int, body: Body,
                     checksum: Checksum | None) -> Outcome:
        async with self.locked(upload_id) as held:
            if not held:
                raise ProblemError(423, "Upload busy", "another request is writing to this upload")
            row = await self.row(user, upload_id)
            if row["offset"] != offset:
                raise ProblemError(409, "Offset mismatch",
                                   f"Upload-Offset is {offset}, the upload is at {row['offset']}",
                                   offset=row["offset"])
            if row["state"] != "receiving":
                return await self._stored_outcome(row)
            if offset < row["length"]:
                row = await self._receive(row, body, checksum)
                if body.cut:
                    return Outcome(row)
            if row["offset"] == row["length"]:
                return await self._finish(row)
            return Outcome(row)

    async def _receive(self, row: asyncpg.Record, body: Body, checksum: Checksum | None) -> asyncpg.Record:
        upload_id, offset = row["id"], row["offset"]
        remaining = row["length"] - offset
        hasher = ResumableSha256(bytes(row["hash_state"]))
        check = CHECKSUMS[checksum.algorithm]() if checksum else None
        writer = await self.partials.append(str(upload_id), row["storage"], offset)
        received = 0
        # each chunk is hashed in a thread (OpenSSL releases the GIL) while the next one is
        # read from the socket: the second core hashes, the loop keeps receiving
        hashing: asyncio.Future[None] | None = None
        loop = asyncio.get_running_loop()
        try:
            async for chunk in body.chunks:
                if received + len(chunk) > remaining:
                    raise ProblemError(400, "Body longer than the upload",
                                       f"{remaining} bytes were left of Upload-Length {row['length']}")
                await writer.write(chunk)
                if hashing is not None:
                    await hashing
                hashing = loop.run_in_executor(None, _hash, hasher, check, chunk)
                received += len(chunk)
            if hashing is not None:
                await hashing
        except BaseException:
            if hashing is not None:
                await asyncio.wait([hashing])
            await writer.rollback()
            raise
        if checksum is not None and check is not None:
            if body.cut:  # a partial body cannot be checked: keep none of it
                await writer.rollback()
                return row
            if check.digest() != checksum.digest:
                await writer.rollback()
                raise ProblemError(460, "Checksum mismatch",
                                   f"the {checksum.algorithm} of the body is not the Upload-Checksum; "
                                   "nothing of this request was stored")
        if received == 0:
            await writer.rollback()
            return row
        final = received == remaining
        try:
            storage = await writer.commit(final)
        except BaseException:
            await writer.rollback()
            raise
        recorded = await tus_queries.record_append(
            self.ctx.pool, upload_id, offset, offset + received, storage, hasher.state(),
            hasher.hexdigest() if final else None)
        if recorded is None:  # pragma: no cover - the lock makes this impossible
            raise ProblemError(409, "Offset mismatch", "the upload moved during the request")
        return recorded

    # -- completion ---------------------------------------------------------------

    async def _finish(self, row: asyncpg.Record) -> Outcome:
        upload_id, user = row["id"], row["user_id"]
        try:
            path = await self.partials.assemble(str(upload_id), row["storage"], self._spool_dir())
            if not path.exists():
                raise FileNotFoundError(path)
        except (FileNotFoundError, ObjectNotFound, RuntimeError) as exc:
            # the bytes went through acceptance before a crash left the row unmarked
            existing = await proxies.find_duplicate(self.ctx.pool, user, row["sha256"] or "")
            if existing is None:
                detail = f"the bytes are gone: {exc}"
                problem = {"status": 410, "title": "Upload lost", "detail": detail}
                await tus_queries.record_outcome(self.ctx.pool, upload_id, "rejected", None, problem)
                raise ProblemError(410, "Upload lost", detail) from exc
            done = await tus_queries.record_outcome(self.ctx.pool, upload_id, "accepted",
                                                    existing["uuid"], None)
            assert done is not None
            return Outcome(done, proxy=existing, duplicate=True)
        spool = _Assembled(path=path, limit=row["length"], size=row["length"],
                           head=bytearray(_head(path)), digest=row["sha256"])
        try:
            result = await accept(self.ctx, user, spool, clean_filename(row["filename"]), None)
        except DomainError as exc:
            problem = problem_of(exc)
            await tus_queries.record_outcome(self.ctx.pool, upload_id, "rejected", None, problem)
            raise
        done = await tus_queries.record_outcome(self.ctx.pool, upload_id, "accepted",
                                                result.proxy["uuid"], None)
        assert done is not None
        return Outcome(done, result=result, proxy=result.proxy, duplicate=not result.created)

    async def _stored_outcome(self, row: asyncpg.Record) -> Outcome:
        if row["state"] == "rejected":
            problem = dict(row["problem"] or {})
            status = int(problem.pop("status", 422))
            title = str(problem.pop("title", "Rejected"))
            detail = problem.pop("detail", None)
            raise ProblemError(status, title, str(detail) if detail is not None else None, **problem)
        proxy = await proxies.get_proxy_for_user(self.ctx.pool, row["user_id"], row["proxy_uuid"])
        if proxy is None:
            raise ProblemError(404, "Proxy removed", f"the proxy {row['proxy_uuid']} was deleted")
        return Outcome(row, proxy=proxy, duplicate=proxy["uploaded_at"] < row["created_at"])

    async def proxy(self, user: str, upload_id: uuidlib.UUID) -> Outcome:
        row = await self.row(user, upload_id)
        if row["state"] == "receiving":
            raise ProblemError(409, "Upload not complete",
                               f"{row['offset']} of {row['length']} bytes received", offset=row["offset"])
        return await self._stored_outcome(row)

    def _spool_dir(self) -> Path:
        directory = Path(self.ctx.extras["spool_dir"])
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    # -- termination and expiry ---------------------------------------------------

    async def terminate(self, user: str, upload_id: uuidlib.UUID) -> None:
        async with self.locked(upload_id) as held:
            if not held:
                raise ProblemError(423, "Upload busy", "another request is writing to this upload")
            row = await tus_queries.get_upload_for_user(self.ctx.pool, user, upload_id)
            if row is None:
                raise ProblemError(404, "Not found", f"no upload {upload_id}")
            await self.partials.discard(str(upload_id), row["storage"])
            await tus_queries.delete_upload(self.ctx.pool, upload_id)

    async def sweep(self, batch: int = 100) -> int:
        """Remove expired uploads' bytes and rows; returns how many went."""
        removed = 0
        for row in await tus_queries.expired_uploads(self.ctx.pool, batch):
            async with self.locked(row["id"], wait_s=0) as held:
                if not held:
                    continue  # a request is on it; next sweep
                try:
                    await self.partials.discard(str(row["id"]), row["storage"])
                except Exception:
                    log.exception("could not remove the bytes of expired upload %s", row["id"])
                    continue
                await tus_queries.delete_upload(self.ctx.pool, row["id"])
                removed += 1
        return removed

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.tus_sweep_s)
            try:
                n = await self.sweep()
                if n:
                    log.info("removed %d expired resumable uploads", n)
            except Exception:
                log.exception("resumable upload sweep failed")


def _hash(hasher: ResumableSha256, check: Any, chunk: bytes) -> None:
    hasher.update(chunk)
    if check is not None:
        check.update(chunk)


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)
