"""Resumable uploads (tus 1.0 and the IETF draft): create, append, finish, terminate, expire.

The work functions know nothing of HTTP; `tus.py` and `ietf_draft.py` speak
the protocols and map the domain errors raised here to their answers. One
upload's requests are serialized by a lease on its row (`lease_token`,
`lease_until`): taking it is one short UPDATE, a background task renews it
every third of `PROPHOTO_TUS_LEASE_S` while the body arrives, and the offset
is recorded only under the same token. No database connection is held while
a client sends, however slowly; a crashed process's lease lapses after
`PROPHOTO_TUS_LEASE_S`. Two PATCHes at the same offset cannot both write:
one wins, the other is told the upload is busy (`Busy`) or that the offset
moved (`Conflict`).

An append is `receive.receive` (bytes, hash, durable, recorded); after the
last byte `finish.finish` runs the same acceptance as `POST /v1/uploads`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid as uuidlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from services.upload.deps import UploadContext
from services.upload.intake import clean_filename
from services.upload.resumable.finish import Outcome, finish, stored_outcome
from services.upload.resumable.receive import Body, Checksum, receive
from services.upload.resumable.sha256state import ResumableSha256
from shared.availability import DATABASE_ERRORS
from shared.db import tus
from shared.db.status import TusState
from shared.errors import Busy, Conflict, Gone, Invalid, NotFound, OverQuota, RateLimited, TooLarge
from shared.storage.partial import PartialStore, open_partials

log = logging.getLogger(__name__)

LOCK_WAIT_S = 2.0


class Resumable:
    """Per-process resources of the resumable endpoints: the partial store, the sweeper."""

    def __init__(self, ctx: UploadContext) -> None:
        self.ctx = ctx
        self.partials: PartialStore = open_partials(ctx.temp_store)
        self._sweeper: asyncio.Task[None] | None = None
        self._suspects: set[str] = set()  # orphans seen at the last sweep (`sweep_orphans`)

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="tus-sweeper")

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    @contextlib.asynccontextmanager
    async def leased(self, user: str, upload_id: uuidlib.UUID,
                     wait_s: float | None = None) -> AsyncIterator[Lease | None]:
        """The upload's lease while the block runs, or None when it stayed busy for `wait_s`.
        NotFound when the user has no such upload."""
        pool, lease_s = self.ctx.pool, self.ctx.settings.tus_lease_s
        token = uuidlib.uuid4()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (LOCK_WAIT_S if wait_s is None else wait_s)
        while (row := await tus.take_lease(pool, user, upload_id, token, lease_s)) is None:
            if await tus.get_upload_for_user(pool, user, upload_id) is None:
                raise NotFound(f"no upload {upload_id}")
            if loop.time() >= deadline:
                yield None
                return
            await asyncio.sleep(0.05)
        lease = Lease(token, row)
        renewing = asyncio.create_task(self._renew(upload_id, token, lease_s))
        try:
            yield lease
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            # a database outage here leaves the lease to lapse on its own
            with contextlib.suppress(*DATABASE_ERRORS):
                await tus.release_lease(pool, upload_id, token)

    async def _renew(self, upload_id: uuidlib.UUID, token: uuidlib.UUID, lease_s: float) -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                if not await tus.renew_lease(self.ctx.pool, upload_id, token, lease_s):
                    return  # lost: recording the offset will fail under the old token
            except DATABASE_ERRORS:
                log.warning("could not renew the lease on upload %s; trying again", upload_id)

    # -- creation -----------------------------------------------------------------

    async def create(self, user: str, length: int, metadata: dict[str, str]) -> asyncpg.Record:
        settings = self.ctx.settings
        if length > settings.max_upload_bytes:
            raise TooLarge(
                f"Upload-Length {length} is over the limit of {settings.max_upload_bytes} bytes",
                limit=settings.max_upload_bytes)
        _storable(metadata, settings.tus_max_metadata_bytes)
        await self.ctx.quotas.before_upload(user, length)
        upload_id = uuidlib.uuid4()
        filename = clean_filename(metadata.get("filename") or metadata.get("name"))
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            await tus.lock_user_creations(conn, user)
            count, size, rows = await tus.user_totals(conn, user)
            if rows + 1 > settings.tus_max_rows:
                raise RateLimited(
                    f"{rows} uploads are kept (finished ones for {settings.tus_outcome_keep_s:g} s, "
                    f"unfinished ones until they expire; the cap is {settings.tus_max_rows})",
                    quota="resumable uploads kept", retry_after_s=settings.tus_sweep_s,
                    cap=settings.tus_max_rows)
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

    async def row(self, user: str, upload_id: uuidlib.UUID) -> asyncpg.Record:
        row = await tus.get_upload_for_user(self.ctx.pool, user, upload_id)
        return self._live(row, upload_id)

    @staticmethod
    def _live(row: asyncpg.Record | None, upload_id: uuidlib.UUID) -> asyncpg.Record:
        if row is None:
            raise NotFound(f"no upload {upload_id}")
        if row["expired"]:
            raise Gone(f"upload {upload_id} expired at {row['expires_at']}", title="Upload expired")
        return row

    async def current(self, user: str, upload_id: uuidlib.UUID) -> asyncpg.Record:
        """The row once no append is under way (a HEAD after a cut sees the recorded offset);
        still busy after a short wait, what is recorded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_S
        row = await self.row(user, upload_id)
        while row["leased"] and loop.time() < deadline:
            await asyncio.sleep(0.05)
            row = await self.row(user, upload_id)
        return row

    # -- append -------------------------------------------------------------------

    async def append(self, user: str, upload_id: uuidlib.UUID, offset: int, body: Body,
                     checksum: Checksum | None, complete: bool = True) -> Outcome:
        """Append at `offset`. With `complete` (tus: always) reaching the length finishes the
        upload; without it (the draft's `Upload-Complete: ?0`) the bytes only wait for the
        request that says the upload is complete."""
        async with self.leased(user, upload_id) as lease:
            if lease is None:
                raise _busy()
            row = self._live(lease.row, upload_id)
            if row["offset"] != offset:
                raise Conflict(f"Upload-Offset is {offset}, the upload is at {row['offset']}",
                               title="Offset mismatch", offset=row["offset"])
            if row["state"] != TusState.RECEIVING:
                return await stored_outcome(self.ctx, row)
            if offset < row["length"]:
                row = await receive(self.ctx.pool, lease.token, self.partials, row, body, checksum)
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
        async with self.leased(user, upload_id) as lease:
            if lease is None:
                raise _busy()
            await self.partials.discard(str(upload_id), lease.row["storage"])
            await tus.delete_leased(self.ctx.pool, lease.token, [upload_id])

    async def sweep(self, batch: int = 200) -> int:
        """Remove every expired upload no request holds (bytes first, then the row), a batch
        at a time until none is left; returns how many went."""
        removed = 0
        token = uuidlib.uuid4()
        while rows := await tus.lease_expired(self.ctx.pool, token, batch, self.ctx.settings.tus_lease_s):
            gone: list[uuidlib.UUID] = []
            for row in rows:
                try:
                    await self.partials.discard(str(row["id"]), row["storage"])
                    gone.append(row["id"])
                except Exception:  # its lease lapses; the next sweep tries again
                    log.exception("could not remove the bytes of expired upload %s", row["id"])
            removed += await tus.delete_leased(self.ctx.pool, token, gone)
            if len(gone) < len(rows):
                break
        return removed

    async def sweep_orphans(self) -> int:
        """Remove partial-upload objects no recorded state names (a crash between writing and
        recording left them): one that was an orphan at the previous sweep too, and whose
        upload no request holds now, goes. Two sightings a sweep apart keep the objects a
        creation or an append is about to record."""
        listed = await PartialStore.listed(self.ctx.temp_store)
        ids = [uuidlib.UUID(i) for i in listed if _is_uuid(i)]
        rows = await tus.states_of(self.ctx.pool, ids)
        orphans: set[str] = set()
        for upload_id in ids:
            row = rows.get(upload_id)
            if row is not None and row["leased"]:
                continue
            named: set[str] = set()
            if row is not None and row["state"] == TusState.RECEIVING:
                named = self.partials.named(str(upload_id), row["storage"])
            orphans.update(k for k in listed[str(upload_id)] if k not in named)
        doomed, self._suspects = orphans & self._suspects, orphans - self._suspects
        for key in doomed:
            await self.ctx.temp_store.delete(key)
        return len(doomed)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.tus_sweep_s)
            try:
                n = await self.sweep()
                orphans = await self.sweep_orphans()
                if n or orphans:
                    log.info("removed %d expired resumable uploads, %d orphaned objects", n, orphans)
            except Exception:
                log.exception("resumable upload sweep failed")


def _is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True


def _busy() -> Busy:
    return Busy("another request is writing to this upload", title="Upload busy")


def _storable(metadata: dict[str, str], limit: int) -> None:
    """Metadata small enough to keep with the row, and free of NUL (which jsonb refuses)."""
    encoded = json.dumps(metadata)
    if len(encoded) > limit:
        raise TooLarge(f"the upload's metadata is {len(encoded)} bytes as JSON; at most {limit}",
                       title="Metadata too large", limit=limit)
    if any("\x00" in key or "\x00" in value for key, value in metadata.items()):
        raise Invalid("the upload's metadata contains NUL characters", title="Invalid metadata")


@dataclass(frozen=True)
class Lease:
    """A request's hold on one upload: its token, and the row as the lease found it."""

    token: uuidlib.UUID
    row: asyncpg.Record
