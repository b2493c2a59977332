"""One consumer of several lanes of queues: the first lane with work first, queues in turn within it.

RabbitMQ 3.x quorum queues have no message priorities, and a priority only
reorders what is still in a queue anyway. So each lane is a set of queues
(a lane's own queue and its per-user shards, `shared/broker/topology.py`), and the
choice is made here, among the messages this process holds: every queue is
consumed with a prefetch of one (per consumer, the only QoS quorum queues
take), so at most one message per queue waits here while a job runs, and
each time a slot frees the next job is the held message of the first lane
that has one, taking that lane's queues in turn (one user's backlog in one
shard gets one turn in as many as there are busy shards).

Held messages cannot be taken by another worker: that is the price of never
idling (the next job is already here), and it is one message per queue. The
lanes ahead of the last take a prefetch of two: the next job of a queue is
delivered only once the previous one is acked, and without a second one
already here the worker would pick a lower lane's job in that round trip.
Each lane has a channel of its own: a robust channel restores one prefetch
(the last it was given) for every consumer it re-subscribes after a
reconnect, so one shared channel left every lane at the last lane's one
after the first node loss. A message whose channel closed meanwhile (a
reconnect) is dropped from the hold: the broker has it back. `missing()` and `stop()` behave as
`QueueConsumer`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import ChannelInvalidStateError

from shared.broker.publisher import subscribed
from shared.worker.consumer import CLOSE_TIMEOUT_S

log = logging.getLogger(__name__)
LaneHandler = Callable[[AbstractIncomingMessage, str], Awaitable[None]]
#: sends a held message's copy back to its queue, confirmed; False when it could not
Release = Callable[[AbstractIncomingMessage, str], Awaitable[bool]]


def _stale(message: AbstractIncomingMessage) -> bool:
    """Whether the message came on a channel that has closed since (the broker has it back)."""
    try:
        channel = message.channel  # aio-pika raises for a closed channel
    except ChannelInvalidStateError:
        return True
    return bool(getattr(channel, "is_closed", False))


class LaneConsumer:
    """Consumes `lanes` (each a list of queue names, in order of preference), `concurrency` jobs at a time."""

    def __init__(self, connection: AbstractRobustConnection, lanes: Sequence[Sequence[str]],
                 concurrency: int, handle: LaneHandler, name: str = "consumer") -> None:
        self.connection = connection
        self.lanes = [list(lane) for lane in lanes]
        self.handle = handle
        self.name = name
        self.held: dict[str, deque[AbstractIncomingMessage]] = {}
        self._turn = [0] * len(self.lanes)
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._channels: list[AbstractChannel] = []
        self._queues: dict[str, tuple[AbstractQueue, str]] = {}
        self._busy: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for index, lane in enumerate(self.lanes):
            channel = await self.connection.channel()
            self._channels.append(channel)
            # per consumer (quorum queues take no global QoS): the value when it subscribes
            await channel.set_qos(prefetch_count=2 if index < len(self.lanes) - 1 else 1)
            for name in lane:
                queue = await channel.declare_queue(name, passive=True)
                tag = await queue.consume(functools.partial(self._hold, name))
                self._queues[name] = (queue, tag)
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"{self.name}-dispatch")

    async def _hold(self, queue: str, message: AbstractIncomingMessage) -> None:
        held = self.held.setdefault(queue, deque())
        while held and _stale(held[0]):  # from a channel that is gone: the broker has it back
            held.popleft()
        held.append(message)
        self._arrived.set()

    def first_held(self, queue: str) -> AbstractIncomingMessage | None:
        """The message of `queue` that would run first, if one is held."""
        held = self.held.get(queue)
        return held[0] if held else None

    def next_job(self) -> tuple[str, AbstractIncomingMessage] | None:
        """The held message to run next (taken out of the hold), or None."""
        for index, lane in enumerate(self.lanes):
            for step in range(len(lane)):
                position = (self._turn[index] + step) % len(lane)
                held = self.held.get(lane[position])
                while held and _stale(held[0]):
                    held.popleft()
                if not held:
                    continue
                message = held.popleft()
                self._turn[index] = (position + 1) % len(lane)
                return lane[position], message
        return None

    async def _dispatch(self) -> None:
        # One task dispatches every job of the process: if it died, the worker would hold its
        # messages forever (alive, subscribed, doing nothing), so nothing may end it but stop().
        while True:
            await self._slots.acquire()
            try:
                while (picked := self.next_job()) is None:
                    self._arrived.clear()
                    await self._arrived.wait()
            except Exception:  # never a silent stop: the held messages are the broker's again
                log.exception("%s: choosing the next job failed; dropping what is held", self.name)
                self.held.clear()
                self._slots.release()
                await asyncio.sleep(0.1)
                continue
            task = asyncio.create_task(self._run(*picked))
            self._busy.add(task)
            task.add_done_callback(self._busy.discard)

    async def _run(self, queue: str, message: AbstractIncomingMessage) -> None:
        try:
            await self.handle(message, queue)
        finally:
            self._slots.release()

    def held_count(self) -> int:
        """Deliveries in hand: the jobs under way and the next ones held here."""
        waiting = sum(1 for held in self.held.values() for m in held if not _stale(m))
        return len(self._busy) + waiting

    async def _release(self, release: Release) -> None:
        for queue, held in self.held.items():
            for message in held:
                if _stale(message):
                    continue
                with contextlib.suppress(Exception):  # not sent or not acked: the channel returns it
                    if await release(message, queue):
                        await message.ack()

    async def missing(self) -> list[str]:
        """What keeps this consumer from consuming right now (empty when it consumes)."""
        if not self.connection.connected.is_set():
            return ["broker connection"]
        if not self._channels or any(c.is_closed for c in self._channels):
            return [f"{self.name} channel"]
        if self._dispatcher is None or self._dispatcher.done():
            return [f"{self.name} dispatcher"]
        for name, (queue, tag) in self._queues.items():
            if not await subscribed(queue, tag):
                return [f"{self.name} ({name})"]
        return []

    async def stop(self, grace_s: float = 0.0, release: Release | None = None) -> None:
        """Stop taking jobs, let the running ones finish (up to `grace_s`); held ones go back.

        With `release`, each held message is sent back as a copy and the original acked:
        a message returned by a closing channel counts as a failed delivery on quorum
        queues, and one held through a few scale-downs would reach the delivery limit
        without ever having run. What `release` could not send goes back with the channel.
        """
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        if self._channels and not any(c.is_closed for c in self._channels):
            for queue, tag in self._queues.values():
                with contextlib.suppress(Exception):  # the broker may be gone: closing is enough
                    await asyncio.wait_for(queue.cancel(tag), CLOSE_TIMEOUT_S)
        if self._busy and grace_s > 0:
            await asyncio.wait(set(self._busy), timeout=grace_s)
        if release is not None:
            await self._release(release)
        self.held.clear()  # unacked: the broker requeues them when the channel closes
        for channel in self._channels:
            if not channel.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(channel.close(), CLOSE_TIMEOUT_S)
        self._channels = []
