"""Parked jobs for operators and users: listed from the read model, replayed and removed exactly.

Listing and counting read `parked_jobs` (shared/db/parked.py) and never touch
the broker, so nobody's listing depends on anyone else's. Replay, remove and
`rebuild` act on the messages themselves: holding the queue's scan lock (one
scan per parking queue at a time, across processes) they consume messages
unacknowledged on a channel of their own (consumers with a prefetch window
that grows fourfold as they go: no round trip per message) and act on the ones whose park id they were
asked for, in this order:

1. replay only: the proxy is put back in shape (`before`), and the copy is
   published to its work queue through the caller's `Publisher` (persistent,
   mandatory, confirmed; one not confirmed raises `PublishFailed` and stops
   the replay, leaving that message and the rest parked);
2. the parked message is acked;
3. its row is deleted.

Closing the channel returns every message not acted on, but a quorum queue
takes them back after the channel's close is confirmed, and until then a
passive declare does not count them: a next scan that started then would
take the queue for (nearly) empty. So a scan keeps the lock until the queue
counts again at least what it counted at the start less the messages the
scan acked (`RETURN_WAIT_S` at most). A replay whose chosen message was not
found says so (`Replayed.missing`) and keeps its row. A crash between 1
and 2 sends the job twice (jobs are idempotent); between 2 and 3 it leaves a
row without a message, and between a park's confirm and its row a message
without a row: `rebuild` mends both (rows for messages it finds, none for
messages it does not find after a complete scan), and runs when a process
starts and whenever the broker's depth of a parking queue and the row count
disagree (the tracing service's queue monitor watches), never per request.

A message passed over is returned to the queue, which RabbitMQ 4.x counts
as a delivery, and a quorum queue drops a message past its delivery limit
(20 by default): a scan re-parks a copy that has been returned
`REFRESH_AFTER` times as a fresh one (same park id), then acks the old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.broker.publisher import Publisher
from shared.broker.topology import (
    ATTEMPT_HEADER,
    PARK_REASON_HEADER,
    PARKED_AT_HEADER,
    QUEUE_HEADER,
    Topology,
)
from shared.db import parked as rows
from shared.db.parked import Parked
from shared.worker.park import PARK_ID_HEADER, as_parked

__all__ = ["MAX_SCAN", "Parked", "ParkedJobs", "Rebuilt", "Replayed"]

log = logging.getLogger(__name__)
#: the most messages one scan fetches (a larger parking queue is acted on in several goes)
MAX_SCAN = 10_000
REFRESH_AFTER = 5
#: the first prefetch of a scan (a job near the front is found without taking the whole queue)
FIRST_WINDOW = 64
#: how long a scan waits for the next of the messages the queue declared
DELIVERY_WAIT_S = 5.0
#: how long a scan waits, holding the lock, for the messages it passed over to be counted again
RETURN_WAIT_S = 10.0
#: a channel of the process's broker connection, for one scan (closed by the scan)
Channels = Callable[[], Awaitable[AbstractChannel]]
Act = Callable[[AbstractIncomingMessage, Parked], Awaitable[bool]]


@dataclass(frozen=True)
class Rebuilt:
    added: int
    forgotten: int
    complete: bool


@dataclass(frozen=True)
class Replayed:
    replayed: int
    #: chosen jobs whose message the scan did not find (rows stay unless the scan was complete)
    missing: int


@dataclass
class _Scan:
    seen: dict[str, Parked]
    acted: list[str]
    complete: bool
    started: datetime
    acked: int = 0


@dataclass
class ParkedJobs:
    """The parked jobs of one process's topology: its pool, publisher and broker channels."""

    pool: asyncpg.Pool
    topology: Topology
    publisher: Publisher
    channels: Channels

    async def record(self, job: Parked) -> None:
        await rows.record(self.pool, job)

    async def find(self, queues: Sequence[str], *, user_id: str | None = None,
                   tag: str | None = None, limit: int = 1000) -> list[Parked]:
        return await rows.find(self.pool, queues, user_id=user_id, tag=tag, limit=limit)

    async def counts(self, queues: Sequence[str]) -> dict[str, int]:
        return await rows.counts(self.pool, queues)

    async def remove(self, queue: str, uuid: str) -> int:
        """Take every parked copy of proxy `uuid`'s job off `queue`'s parking queue."""
        wanted = {p.park_id for p in await rows.find(self.pool, [queue], uuids=[uuid])}

        async def drop(_: AbstractIncomingMessage, __: Parked) -> bool:
            return True

        return len((await self._scan(queue, wanted, drop)).acted) if wanted else 0

    async def replay(self, queues: Sequence[str], *, user_id: str | None = None,
                     uuids: Sequence[str] | None = None, tag: str | None = None,
                     before: Callable[[str, str], Awaitable[None]] | None = None) -> int:
        """Send the matching parked jobs back to their work queues with attempts reset."""
        return (await self.replay_report(queues, user_id=user_id, uuids=uuids, tag=tag,
                                         before=before)).replayed

    async def replay_report(self, queues: Sequence[str], *, user_id: str | None = None,
                            uuids: Sequence[str] | None = None, tag: str | None = None,
                            before: Callable[[str, str], Awaitable[None]] | None = None
                            ) -> Replayed:
        """`replay`, also counting the chosen jobs whose message was not found."""
        chosen = await rows.find(self.pool, queues, user_id=user_id, tag=tag, uuids=uuids,
                                 limit=MAX_SCAN)
        by_queue: dict[str, set[str]] = {}
        for job in chosen:
            by_queue.setdefault(job.queue, set()).add(job.park_id)
        total = missing = 0
        for queue, wanted in by_queue.items():
            async def send_back(msg: AbstractIncomingMessage, job: Parked, queue: str = queue) -> bool:
                if before is not None and job.uuid:
                    await before(queue, job.uuid)
                headers = {k: v for k, v in (msg.headers or {}).items()
                           if not k.startswith("x-") and not k.startswith("job-")}
                headers[ATTEMPT_HEADER] = 1
                headers["job-replayed-at"] = datetime.now(UTC).isoformat()
                await self.publisher.publish(self.topology.exchange, queue, msg.body,
                                             headers=headers, message_id=msg.message_id,
                                             content_type=msg.content_type or "application/json")
                return True

            scan = await self._scan(queue, wanted, send_back)
            total += len(scan.acted)
            missing += len(wanted) - len(scan.acted)
        if missing:
            log.warning("replay: %d of %d chosen parked jobs not found", missing, len(chosen))
        return Replayed(total, missing)

    async def rebuild(self, queue: str) -> Rebuilt:
        """Make `queue`'s rows match its parking queue: rows for unrecorded messages, and, after a
        complete scan, none for messages no longer there."""
        before = await rows.recorded(self.pool, queue)
        scan = await self._scan(queue, set(), None)
        added = [job for pid, job in scan.seen.items() if pid not in before]
        for job in added:
            await rows.record(self.pool, job)
        gone = [pid for pid, at in before.items()
                if pid not in scan.seen and at < scan.started] if scan.complete else []
        await rows.forget(self.pool, gone)
        if added or gone:
            log.info("parked jobs of %s rebuilt: %d rows added, %d forgotten", queue,
                     len(added), len(gone))
        return Rebuilt(len(added), len(gone), scan.complete)

    async def rebuild_all(self) -> None:
        """`rebuild` every parking queue of the topology (a process does it when it starts)."""
        for queue in self.topology.work_queues():
            try:
                await self.rebuild(queue)
            except Exception as exc:  # the broker or database away: the queue monitor retries
                log.warning("could not rebuild the parked jobs of %s (%r)", queue, exc)

    async def _scan(self, queue: str, wanted: set[str], act: Act | None) -> _Scan:
        """Fetch `queue`'s parked messages under its lock; `act` on the wanted ones (acked and
        forgotten when it says True); stop once every wanted one was acted on."""
        async with rows.scan_lock(self.pool, queue):
            scan = _Scan({}, [], False, datetime.now(UTC))
            channel = await self.channels()
            there = 0
            try:
                # a fresh channel: a robust one answers a repeated passive declare from its cache
                failed = await channel.declare_queue(self.topology.failed_queue(queue), passive=True)
                there = failed.declaration_result.message_count or 0
                inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
                limit = min(there, MAX_SCAN)
                granted = min(limit, FIRST_WINDOW)
                if there:  # none acked until acted on: the window grows as the scan goes on
                    await channel.set_qos(prefetch_count=granted)
                    tag = await failed.consume(inbox.put, no_ack=False)
                for seen in range(limit):
                    if seen >= granted // 2 and granted < limit:
                        # a prefetch is per consumer and fixed when it starts: a new consumer
                        # takes the next window while the old one's deliveries stay unacked
                        more = min(limit - granted, granted * 3)
                        await failed.cancel(tag)
                        await channel.set_qos(prefetch_count=more)
                        tag = await failed.consume(inbox.put, no_ack=False)
                        granted += more
                    try:
                        msg = await asyncio.wait_for(inbox.get(), DELIVERY_WAIT_S)
                    except TimeoutError:  # fewer than declared: incomplete, forget nothing
                        break
                    job = as_parked(queue, dict(msg.headers or {}), msg.body, msg.message_id)
                    scan.seen[job.park_id] = job
                    if act is not None and job.park_id in wanted and await act(msg, job):
                        await msg.ack()
                        scan.acked += 1
                        await rows.forget(self.pool, [job.park_id])
                        scan.acted.append(job.park_id)
                        if wanted <= set(scan.acted):
                            break
                    elif _returned(msg) >= REFRESH_AFTER:
                        await self._refresh(queue, msg, job)  # one published, one acked
                else:
                    scan.complete = there <= MAX_SCAN
            finally:
                with contextlib.suppress(Exception):
                    await channel.close()  # returns every message not acked
                if there:  # also when acting failed: the next scan must see them all
                    with contextlib.suppress(Exception):  # the broker away: nothing to wait for
                        await self._await_returns(queue, there - scan.acked)
            if scan.complete:  # rows whose message is gone (a crash after its ack) go too
                await rows.forget(self.pool, sorted(wanted - scan.seen.keys()))
        return scan

    async def _await_returns(self, queue: str, expected: int) -> None:
        """Wait until `queue`'s parking queue counts `expected` ready messages again (or more:
        new ones parked meanwhile), at most `RETURN_WAIT_S`."""
        deadline = asyncio.get_running_loop().time() + RETURN_WAIT_S
        while True:
            channel = await self.channels()  # a fresh one each time: no cached declare
            try:
                failed = await channel.declare_queue(self.topology.failed_queue(queue), passive=True)
                ready = failed.declaration_result.message_count or 0
            finally:
                with contextlib.suppress(Exception):
                    await channel.close()
            if ready >= expected:
                return
            if asyncio.get_running_loop().time() >= deadline:
                log.warning("parking queue of %s counts %d messages, %d expected, %.0f s after a "
                            "scan", queue, ready, expected, RETURN_WAIT_S)
                return
            await asyncio.sleep(0.02)

    async def _refresh(self, queue: str, msg: AbstractIncomingMessage, job: Parked) -> None:
        """Park a fresh copy of a message returned many times (same park id), then ack the old."""
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("x-")}
        headers |= {PARK_ID_HEADER: job.park_id, QUEUE_HEADER: headers.get(QUEUE_HEADER, queue),
                    PARK_REASON_HEADER: job.reason or "", PARKED_AT_HEADER: job.parked_at.isoformat()}
        await self.publisher.publish(self.topology.failed_exchange, queue, msg.body,
                                     headers=headers, message_id=msg.message_id,
                                     content_type=msg.content_type or "application/json")
        await msg.ack()


def _returned(msg: AbstractIncomingMessage) -> int:
    try:
        return int(str((msg.headers or {}).get("x-delivery-count", 0) or 0))
    except (TypeError, ValueError):
        return 0
