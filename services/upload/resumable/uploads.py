"""Resumable uploads (tus 1.0 and the IETF draft): create, append, finish, terminate, expire.

The work functions know nothing of HTTP; `tus.py` and `ietf_draft.py` speak
the protocols and map the domain errors raised here to their answers. One
upload's requests are serialized by a PostgreSQL advisory lock held for the
whole append (a session lock: a crashed process releases it), so two PATCHes
at the same offset cannot both write: one wins, the other is told the upload
is busy (`Busy`) or that the offset moved (`Conflict`). The connection that holds the
lock also reads and records the row, so an append takes no second connection
from the pool.

An append is `receive.receive` (bytes, hash, durable, recorded); after the
last byte `finish.finish` runs the same acceptance as `POST /v1/uploads`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuidlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from services.upload.deps import UploadContext
from services.upload.intake import clean_filename
from services.upload.resumable.finish import Outcome, finish, stored_outcome
from services.upload.resumable.receive import Body, Checksum, receive
from shared.availability import DATABASE_ERRORS, until_available
from shared.db import create_pool, tus
from shared.db.status import TusState
from shared.errors import Busy, Conflict, Gone, NotFound, OverQuota, TooLarge
from shared.sha256state import ResumableSha256
from shared.storage.partial import PartialStore, open_partials

log = logging.getLogger(__name__)

LOCK_WAIT_S = 2.0


class Resumable:
    """Per-process resources of the resumable endpoints: the lock connections, the sweeper."""

    def __init__(self, ctx: UploadContext) -> None:
        self.ctx = ctx
        self.partials: PartialStore = open_partials(ctx.temp_store)
        self._locks: asyncpg.Pool | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # advisory locks live as long as their session: a pool of their own keeps
        # long PATCHes from taking the connections the rest of the API needs
        self._locks = await until_available(
            "database", lambda: create_pool(self.ctx.settings.database, min_size=1, max_size=32),
            errors=DATABASE_ERRORS)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="tus-sweeper")

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._locks:
            await self._locks.close()

    @contextlib.asynccontextmanager
    async def locked(self, upload_id: uuidlib.UUID,
                     wait_s: float | None = None) -> AsyncIterator[asyncpg.Connection | None]:
        """The connection holding the upload's lock, or None when it stayed busy for `wait_s`."""
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
            # no explicit unlock: giving the connection back to the pool runs asyncpg's reset,
            # which releases all advisory locks (one round trip fewer per request)
            yield conn if held else None

    # -- creation -----------------------------------------------------------------

    async def create(self, user: str, length: int, metadata: dict[str, str]) -> asyncpg.Record:
        settings = self.ctx.settings
        if length > settings.max_upload_bytes:
            raise TooLarge(
                f"Upload-Length {length} is over the limit of {settings.max_upload_bytes} bytes",
                limit=settings.max_upload_bytes)
        upload_id = uuidlib.uuid4()
        filename = clean_filename(metadata.get("filename") or metadata.get("name"))
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            await tus.lock_user_creations(conn, user)
            count, size = await tus.incomplete_totals(conn, user)
            if count + 1 > settings.tus_max_incomplete:
                raise OverQuota(
                    f"{count} uploads are unfinished (the cap is {settings.tus_max_incomplete}): "
                    "finish or DELETE one first", title="Too many unfinished uploads",
                    cap=settings.tus_max_incomplete)
            if size + length > settings.tus_max_incomplete_bytes:
                raise OverQuota(
                    f"unfinished uploads hold {size} bytes and this one would add {length}; the cap is "
                    f"{settings.tus_max_incomplete_bytes}: finish or DELETE some first",
                    title="Too many unfinished bytes", cap_bytes=settings.tus_max_incomplete_bytes)
            storage = await self.partials.begin(str(upload_id))
            try:
                return await tus.insert_upload(conn, {
                    "id": upload_id, "user_id": user, "length": length, "filename": filename,
                    "metadata": metadata, "storage": storage, "hash_state": ResumableSha256().state(),
                    "expires_at": datetime.now(UTC) + timedelta(seconds=settings.tus_expiry_s),
                })
            except BaseException:
                await self.partials.discard(str(upload_id), storage)
                raise

    async def row(self, user: str, upload_id: uuidlib.UUID,
                  conn: tus.Conn | None = None) -> asyncpg.Record:
        row = await tus.get_upload_for_user(conn or self.ctx.pool, user, upload_id)
        if row is None:
            raise NotFound(f"no upload {upload_id}")
        if row["expired"]:
            raise Gone(f"upload {upload_id} expired at {row['expires_at']}", title="Upload expired")
        return row

    async def current(self, user: str, upload_id: uuidlib.UUID) -> asyncpg.Record:
        """The row once no append is under way (a HEAD after a cut sees the recorded offset)."""
        async with self.locked(upload_id) as conn:  # busy after the wait: answer what is recorded
            return await self.row(user, upload_id, conn)

    # -- append -------------------------------------------------------------------

    async def append(self, user: str, upload_id: uuidlib.UUID, offset: int, body: Body,
                     checksum: Checksum | None, complete: bool = True) -> Outcome:
        """Append at `offset`. With `complete` (tus: always) reaching the length finishes the
        upload; without it (the draft's `Upload-Complete: ?0`) the bytes only wait for the
        request that says the upload is complete."""
        async with self.locked(upload_id) as conn:
            if conn is None:
                raise _busy()
            row = await self.row(user, upload_id, conn)
            if row["offset"] != offset:
                raise Conflict(f"Upload-Offset is {offset}, the upload is at {row['offset']}",
                               title="Offset mismatch", offset=row["offset"])
            if row["state"] != TusState.RECEIVING:
                return await stored_outcome(self.ctx, row)
            if offset < row["length"]:
                row = await receive(conn, self.partials, row, body, checksum)
                if body.cut:
                    return Outcome(row)
            if row["offset"] == row["length"] and complete:
                return await finish(self.ctx, self.partials, row, self._spool_dir())
            return Outcome(row)

    async def proxy(self, user: str, upload_id: uuidlib.UUID) -> Outcome:
        row = await self.row(user, upload_id)
        if row["state"] == TusState.RECEIVING:
            raise Conflict(f"{row['offset']} of {row['length']} bytes received",
                           title="Upload not complete", offset=row["offset"])
        return await stored_outcome(self.ctx, row)

    def _spool_dir(self) -> Path:
        directory = Path(self.ctx.extras["spool_dir"])
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    # -- termination and expiry ---------------------------------------------------

    async def terminate(self, user: str, upload_id: uuidlib.UUID) -> None:
        async with self.locked(upload_id) as conn:
            if conn is None:
                raise _busy()
            row = await tus.get_upload_for_user(conn, user, upload_id)
            if row is None:
                raise NotFound(f"no upload {upload_id}")
            await self.partials.discard(str(upload_id), row["storage"])
            await tus.delete_upload(conn, upload_id)

    async def sweep(self, batch: int = 100) -> int:
        """Remove expired uploads' bytes and rows; returns how many went."""
        removed = 0
        for row in await tus.expired_uploads(self.ctx.pool, batch):
            async with self.locked(row["id"], wait_s=0) as conn:
                if conn is None:
                    continue  # a request is on it; next sweep
                try:
                    await self.partials.discard(str(row["id"]), row["storage"])
                except Exception:
                    log.exception("could not remove the bytes of expired upload %s", row["id"])
                    continue
                await tus.delete_upload(conn, row["id"])
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


def _busy() -> Busy:
    return Busy("another request is writing to this upload", title="Upload busy")
