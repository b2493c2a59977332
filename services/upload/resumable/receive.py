"""One append's bytes: written at the recorded offset, hashed on, committed, recorded.

Crash-safe order (see `uploads.py` for the whole protocol):
1. bytes go to the partial object at the recorded offset (anything past it is
   cut off first) while they update the resumed SHA-256;
2. the partial object is made durable (`commit`), then the new offset, the
   backend state and the hash state are recorded in one UPDATE: a crash
   before it leaves the old offset, whose bytes and hash state still match;
3. only then is what the old state alone named removed (`committed`: an S3
   tail); a crash before that leaves an orphan the sweeper removes.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from services.upload.batches import ThreadBatches
from services.upload.resumable.sha256state import ResumableSha256
from shared.db import tus
from shared.errors import ChecksumMismatch, Conflict, Invalid
from shared.storage.partial import PartialStore

CHECKSUMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}
#: bytes handed to the hashing thread at once: one hand-off per MiB, not one per socket read


@dataclass
class Body:
    """A request body and whether the client went away before its end."""

    chunks: AsyncIterator[bytes]
    #: the client went away before the end: the bytes that came are kept, unchecked (`request_body`)
    cut: bool = False


@dataclass
class Checksum:
    algorithm: str
    digest: bytes


class _Hashing:
    """SHA-256 (and the request's checksum) computed in a worker thread, a batch behind the
    socket (`batches.ThreadBatches`): the second core hashes while the loop receives."""

    def __init__(self, state: bytes, checksum: Checksum | None) -> None:
        self.sha256 = ResumableSha256(state)
        self.check = CHECKSUMS[checksum.algorithm]() if checksum else None
        self._batches = ThreadBatches(self._update)

    async def add(self, chunk: bytes) -> None:
        self._batches.add(chunk)
        await self._batches.drain()

    def _update(self, batch: list[bytes | memoryview]) -> None:
        for chunk in batch:
            self.sha256.update(chunk)
            if self.check is not None:
                self.check.update(chunk)

    async def finish(self) -> None:
        await self._batches.finish()

    async def abandon(self) -> None:
        await self._batches.abandon()


async def receive(pool: asyncpg.Pool, lease: UUID, partials: PartialStore, row: asyncpg.Record,
                  body: Body, checksum: Checksum | None) -> asyncpg.Record:
    """Append the body at the row's offset; returns the row as recorded afterwards.

    No connection is held while the body arrives: the offset is recorded in one
    statement at the end, only while the request still holds `lease`.
    """
    upload_id, offset = row["id"], row["offset"]
    remaining = row["length"] - offset
    hashing = _Hashing(bytes(row["hash_state"]), checksum)
    writer = await partials.append(str(upload_id), row["storage"], offset)
    received = 0
    try:
        async for chunk in body.chunks:
            if received + len(chunk) > remaining:
                raise Invalid(f"{remaining} bytes were left of Upload-Length {row['length']}",
                              title="Body longer than the upload")
            await writer.write(chunk)
            await hashing.add(chunk)
            received += len(chunk)
        await hashing.finish()
    except BaseException:
        await hashing.abandon()
        await writer.rollback()
        raise
    if checksum is not None and hashing.check is not None:
        if body.cut:  # a partial body cannot be checked: keep none of it
            await writer.rollback()
            return row
        if hashing.check.digest() != checksum.digest:
            await writer.rollback()
            raise ChecksumMismatch(f"the {checksum.algorithm} of the body is not the Upload-Checksum; "
                                   "nothing of this request was stored")
    if received == 0:
        await writer.rollback()
        return row
    final = received == remaining
    try:
        storage: dict[str, Any] = await writer.commit(final)
    except BaseException:
        await writer.rollback()
        raise
    sha = hashing.sha256
    recorded = await tus.record_append(
        pool, upload_id, lease, offset, offset + received, storage, sha.state(),
        sha.hexdigest() if final else None)
    if recorded is None:  # the lease lapsed (renewals failed) and another request took the upload
        raise Conflict("the upload moved during the request", title="Offset mismatch")
    await writer.committed()  # only now may what the old state named go (an S3 tail)
    return recorded
