"""Parked jobs per queue for the queue monitor: counted from the read model, and kept true.

The count of each queue's parked jobs is read from `parked_jobs`, never from
messages. The broker's depth of each parking queue (which the monitor reads
anyway, by a passive declare or the management API) is compared with it:
when the two disagree with the same figures for `settle_s`, the rows of that
queue are rebuilt from its parking queue (`ParkedJobs.rebuild`), one queue
at a time, in the background. That is how a message the broker dead-lettered
itself, or a park whose row a crash lost, gets its row, and a row whose
message went gets dropped; a replay in progress (its messages unacked for a
moment) changes the figures, so it does not set one off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.broker.probe import Depth
from shared.worker.parked import ParkedJobs

log = logging.getLogger(__name__)


@dataclass
class ParkedWatch:
    jobs: ParkedJobs
    settle_s: float = 10.0
    #: per queue: the (broker, rows) figures that disagree, and since when
    _apart: dict[str, tuple[tuple[int, int], float]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    rebuilds: int = 0

    async def counts(self, queues: Sequence[str]) -> dict[str, int] | None:
        """Parked jobs per queue from the rows; None when the database does not answer."""
        try:
            return await self.jobs.counts(queues)
        except Exception as exc:
            log.warning("parked-job counts unavailable (%r); showing the broker's", exc)
            return None

    def compare(self, queue: str, parking: Depth, rows: int) -> None:
        """One observation of `queue`'s parking queue against its rows."""
        if parking.ready is None:
            return
        figures = (parking.ready + (parking.unacked or 0), rows)
        if figures[0] == rows:
            self._apart.pop(queue, None)
            return
        seen = self._apart.get(queue)
        if seen is None or seen[0] != figures:
            self._apart[queue] = (figures, time.monotonic())
            return
        if time.monotonic() - seen[1] >= self.settle_s and not self.rebuilding:
            del self._apart[queue]
            self._task = asyncio.create_task(self._rebuild(queue), name=f"parked-rebuild-{queue}")

    @property
    def rebuilding(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _rebuild(self, queue: str) -> None:
        try:
            await self.jobs.rebuild(queue)
            self.rebuilds += 1
        except Exception as exc:  # the next disagreement tries again
            log.warning("could not rebuild the parked jobs of %s (%r)", queue, exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
