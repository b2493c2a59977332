"""The upload spool: bytes counted and kept on the event loop, hashed and written in a thread."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from services.upload import batches, intake
from services.upload.intake import Spool, TooLarge


async def _feed(spool: Spool, data: bytes, chunk: int) -> None:
    for i in range(0, len(data), chunk):
        spool.write(data[i:i + chunk])
        await spool.drain()


@pytest.mark.parametrize("chunk", [1, 4096, 65536, 1 << 20, 3 * (1 << 20) + 7])
def test_bytes_hash_and_head_match_whatever_the_chunking(tmp_path: Path, chunk: int):
    data = os.urandom(5 * batches.BATCH_BYTES + 12345) if chunk > 1 else os.urandom(200_000)

    async def go() -> Spool:
        spool = Spool(tmp_path / "s", 1 << 30)
        await _feed(spool, data, chunk)
        await spool.finish()
        return spool

    spool = asyncio.run(go())
    assert spool.path.read_bytes() == data
    assert spool.sha256 == hashlib.sha256(data).hexdigest()
    assert spool.size == len(data)
    assert bytes(spool.head) == data[:len(spool.head)] and len(spool.head) == min(len(data), intake.HEAD_BYTES)


def test_the_event_loop_holds_at_most_about_two_batches(tmp_path: Path):
    async def go() -> int:
        spool = Spool(tmp_path / "s", 1 << 30)
        most = 0
        for _ in range(40):
            spool.write(b"x" * 65536)
            await spool.drain()
            most = max(most, spool._batches.pending_bytes)
        await spool.finish()
        return most

    assert asyncio.run(go()) < batches.BATCH_BYTES + 65536


def test_the_limit_is_checked_before_any_byte_is_kept(tmp_path: Path):
    spool = Spool(tmp_path / "s", 100)
    spool.write(b"x" * 100)
    with pytest.raises(TooLarge):
        spool.write(b"y")
    assert spool._batches.pending_bytes == 100
    spool.discard()
    assert not spool.path.exists()


def test_discard_while_a_batch_is_being_written_removes_the_file(tmp_path: Path):
    async def go() -> Spool:
        spool = Spool(tmp_path / "s", 1 << 30)
        spool.write(os.urandom(batches.BATCH_BYTES))
        await spool.drain()  # the batch is in the writer thread now
        spool.discard()
        await asyncio.sleep(0.2)
        return spool

    spool = asyncio.run(go())
    assert not spool.path.exists()
