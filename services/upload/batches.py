"""Received bytes handed to a thread a batch at a time, so the event loop only gathers them.

Both ways a body arrives (`intake.Spool` for a direct upload, `resumable.receive`
for a tus or draft append) hash what they receive, and the spool also writes
it. OpenSSL and file writes release the GIL, so in a thread that work runs on
the second core while the loop keeps receiving. `ThreadBatches` keeps the
chunks as they arrived (no copy), hands a full batch to `consume` in the
default executor, and keeps at most one batch there: the order is kept and a
request holds about two batches of memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

BATCH_BYTES = 1 << 20

Chunk = bytes | memoryview


class ThreadBatches:
    def __init__(self, consume: Callable[[list[Chunk]], None], batch_bytes: int = BATCH_BYTES) -> None:
        self._consume = consume
        self._batch_bytes = batch_bytes
        self._pending: list[Chunk] = []
        #: bytes gathered on the loop and not yet handed over
        self.pending_bytes = 0
        self._running: asyncio.Future[None] | None = None

    def add(self, chunk: Chunk) -> None:
        self._pending.append(chunk)
        self.pending_bytes += len(chunk)

    async def drain(self, force: bool = False) -> None:
        """Hand the gathered chunks over once a batch is full (or whatever there is, with `force`)."""
        if self.pending_bytes < self._batch_bytes and not (force and self._pending):
            return
        if self._running is not None:
            await self._running  # one batch in the thread at a time
        batch, self._pending, self.pending_bytes = self._pending, [], 0
        self._running = asyncio.ensure_future(asyncio.to_thread(self._consume, batch))

    async def finish(self) -> None:
        """Everything gathered is consumed when this returns."""
        await self.drain(force=True)
        if self._running is not None:
            await self._running
            self._running = None

    async def abandon(self) -> None:
        """Wait for the batch in the thread (its result no longer matters); drop the rest."""
        if self._running is not None:
            await asyncio.wait([self._running])
        self._pending, self.pending_bytes = [], 0

    def when_idle(self, callback: Callable[[], None]) -> None:
        """Run `callback` once no batch is in the thread (at once when none is)."""
        if self._running is not None and not self._running.done():
            self._running.add_done_callback(lambda _: callback())
        else:
            callback()
