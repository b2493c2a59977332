"""The whole broker topology, in one place. No queue name is spelled elsewhere.

`queue_for(message)` says which work queue each message type goes to, so a
producer names the message, never the queue. A process builds one Topology
at start and hands it to what publishes or consumes.

    producer --(rk=<q>)--> [prophoto] (direct) --> <q>  (quorum work queue)
                                                    |  consumer
                 failed attempt, confirmed republish |  (then ack)
                                                    v
    [prophoto.retry] --(rk=<q>.retry.<d>)--> <q>.retry.<d>  (quorum, x-message-ttl=d,
                                                    |          no consumers)
                          TTL expires, dead-letter  |
                                                    v
                              [prophoto] --(rk=<q>)--> <q>   (attempt n+1)

    last attempt / permanent error: confirmed publish to
    [prophoto.failed] --(rk=<q>)--> <q>.failed  (parking queue, kept until replayed)
    worker crashes past x-delivery-limit: the broker dead-letters <q> itself to
    [prophoto.failed] with rk=<q> (at-least-once dead-lettering).

    status events: [prophoto.events] (topic), rk = status.<user>.<uuid>; each
    upload-service instance binds its own exclusive queue for SSE (STATUS_FEED).
    worker heartbeats: [prophoto.events], rk = heartbeat.<queue>; each tracing
    service instance binds its own exclusive queue and keeps the live worker set
    (HEARTBEAT_FEED).

Preview work waits in lanes (docs/lanes.md):

    on-demand   <p>.on-demand                    (one queue: photos asked for first)
    interactive <p>  and shards <p>.0 .. <p>.{I-1}
    bulk        <p>.bulk  and shards <p>.bulk.0 .. <p>.bulk.{B-1}

A job goes to the shard of its user (a stable hash of the user id), so one
user's backlog fills one shard while a worker takes one job from every
non-empty shard of a lane in turn. A lane's own queue (`<p>`, `<p>.bulk`) is
where its retries come back (`<lane>.retry.<d>` dead-letters to it) and
where replays go; its parking queue `<lane>.failed` is also bound with every
shard's name, for the broker's own dead-lettering past the delivery limit.

Every work, wait and parking queue is durable and quorum; wait queues are
named after their delay, so tests can shrink delays without clashing with a
running stack. A feed's queue is the one exception: private to one process
(exclusive, auto-deleted, so classic: a quorum queue cannot be exclusive) and
fire-and-forget, declared with `declare_feed`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from shared.broker.fanout import Step, binding, exchange_deletion, queue_deletion, run_spread
from shared.messages import (
    EnhancePreview,
    FinalizeIngest,
    GeneratePreview,
    Lane,
    Message,
    TraceEvent,
)
from shared.settings import Settings

ATTEMPT_HEADER = "job-attempt"
FIRST_ATTEMPT_HEADER = "job-first-attempt-at"
LAST_ERROR_HEADER = "job-last-error"
PARK_REASON_HEADER = "job-park-reason"
PARK_ERROR_HEADER = "job-error"
PARKED_AT_HEADER = "job-parked-at"
QUEUE_HEADER = "job-queue"
#: when the job was recorded for its queue (ISO 8601): enqueue-to-start and oldest-job age
ENQUEUED_HEADER = "job-enqueued-at"


@dataclass(frozen=True)
class Feed:
    """A process's own queue on the events exchange: what it binds, and how much it may hold."""

    binding: str
    max_length: int | None = None


#: the upload service's SSE hub: a hub that falls behind loses events, not memory (clients re-read rows)
STATUS_FEED = Feed("status.#", max_length=10_000)
#: the tracing service's live worker set
HEARTBEAT_FEED = Feed("heartbeat.#")


def _delay_label(seconds: float) -> str:
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class Topology:
    settings: Settings

    @property
    def exchange(self) -> str:
        return self.settings.exchange

    @property
    def retry_exchange(self) -> str:
        return f"{self.settings.exchange}.retry"

    @property
    def failed_exchange(self) -> str:
        return f"{self.settings.exchange}.failed"

    @property
    def events_exchange(self) -> str:
        return f"{self.settings.exchange}.events"

    def exchanges(self) -> tuple[str, str, str, str]:
        return (self.exchange, self.retry_exchange, self.failed_exchange, self.events_exchange)

    def queue_for(self, message: Message) -> str:
        """The work queue a message goes to: the one routing table of the pipeline."""
        if isinstance(message, GeneratePreview):
            return self.shard_for(message.lane, message.user_id, message.shard)
        queues = {
            FinalizeIngest: self.settings.queue_finalize,
            EnhancePreview: self.settings.queue_enhance,
            TraceEvent: self.settings.queue_traces,
        }
        queue = queues.get(type(message))
        if queue is None:
            raise LookupError(f"no work queue takes a {type(message).__name__}")
        return queue

    def work_queues(self) -> list[str]:
        """The queues with their own retry waits and parking queue (lanes' shards share them)."""
        return self.settings.work_queues()

    def lane_queue(self, lane: Lane) -> str:
        """A lane's own queue: its retries and replays come back here."""
        return {Lane.ON_DEMAND: self.settings.queue_preview_on_demand,
                Lane.INTERACTIVE: self.settings.queue_preview,
                Lane.BULK: self.settings.queue_preview_bulk}[lane]

    def shards(self, queue: str) -> list[str]:
        """The shard queues consumed with `queue` (none but a preview lane's)."""
        count = {self.settings.queue_preview: self.settings.preview_interactive_shards,
                 self.settings.queue_preview_bulk: self.settings.preview_bulk_shards}.get(queue, 0)
        return [f"{queue}.{n}" for n in range(count)]

    def lanes(self) -> list[tuple[Lane, list[str]]]:
        """The preview lanes in the order a worker takes them, each with every queue it reads."""
        return [(lane, [self.lane_queue(lane), *self.shards(self.lane_queue(lane))]) for lane in Lane]

    def lane_of(self, queue: str) -> Lane | None:
        """The lane a preview queue (a lane's own or a shard) belongs to; None for other queues."""
        for lane, queues in self.lanes():
            if queue in queues:
                return lane
        return None

    def worker_queue(self, queue: str) -> str:
        """The queue the workers of `queue` name themselves by (a lane's: the preview worker's)."""
        return self.settings.queue_preview if self.lane_of(queue) is not None else queue

    def shard_for(self, lane: Lane, user_id: str, shard: int | None = None) -> str:
        """The queue a user's job waits in: shard `shard` of the lane when its producer chose
        one (`shared/lanes.py`), else the one the user id hashes to (the same for one user)."""
        base = self.lane_queue(lane)
        shards = self.shards(base)
        if not shards:
            return base
        if shard is not None and 0 <= shard < len(shards):
            return shards[shard]
        return shards[self.hashed_shard(lane, user_id)]

    def hashed_shard(self, lane: Lane, user_id: str) -> int:
        """The shard index a user id hashes to in `lane` (where its search for a free one starts)."""
        count = len(self.shards(self.lane_queue(lane))) or 1
        return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big") % count

    def wait_queue(self, queue: str, delay_s: float) -> str:
        return f"{queue}.retry.{_delay_label(delay_s)}"

    def wait_queues(self, queue: str) -> list[tuple[str, float]]:
        delays = self.settings.retry_policy(queue).backoff_s
        return [(self.wait_queue(queue, d), d) for d in dict.fromkeys(delays)]

    def failed_queue(self, queue: str) -> str:
        return f"{queue}.failed"

    def all_queues(self) -> list[str]:
        names: list[str] = []
        for q in self.work_queues():
            names.append(q)
            names.extend(self.shards(q))
            names.extend(name for name, _ in self.wait_queues(q))
            names.append(self.failed_queue(q))
        return names

    def quorum(self) -> dict[str, object]:
        """The quorum queue type, with the initial group size when one is set."""
        size = self.settings.quorum_group_size()
        return {"x-queue-type": "quorum"} | (
            {"x-quorum-initial-group-size": size} if size is not None else {})

    def work_queue_arguments(self) -> dict[str, object]:
        return {
            **self.quorum(),
            "x-delivery-limit": self.settings.delivery_limit,
            "x-dead-letter-exchange": self.failed_exchange,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def wait_queue_arguments(self, queue: str, delay_s: float) -> dict[str, object]:
        return {
            **self.quorum(),
            "x-message-ttl": max(1, round(delay_s * 1000)),
            "x-dead-letter-exchange": self.exchange,
            "x-dead-letter-routing-key": queue,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def failed_queue_arguments(self) -> dict[str, object]:
        return self.quorum()

    @staticmethod
    def status_routing_key(user_id: str, uuid: str) -> str:
        # user ids are ours (from the token table), uuids are uuids: no wildcard characters
        return f"status.{user_id}.{uuid}"

    @staticmethod
    def heartbeat_routing_key(queue: str) -> str:
        return f"heartbeat.{queue}"

    @staticmethod
    def feed_arguments(feed: Feed) -> dict[str, object]:
        return {"x-queue-type": "classic"} | (
            {"x-max-length": feed.max_length} if feed.max_length is not None else {})

    async def declare_feed(self, channel: AbstractChannel, feed: Feed) -> AbstractQueue:
        """This process's own queue for `feed`, bound to the events exchange (declared too).

        Exclusive and auto-deleted: it lives as long as the connection that
        declared it, and a robust channel declares and binds it again after a
        reconnect or when the broker deleted it.
        """
        events = await self._declare_events_exchange(channel)
        queue = await channel.declare_queue(
            exclusive=True, auto_delete=True, arguments=self.feed_arguments(feed))  # type: ignore[arg-type]
        await queue.bind(events, routing_key=feed.binding)
        return queue

    async def _declare_events_exchange(self, channel: AbstractChannel) -> AbstractExchange:
        return await channel.declare_exchange(
            self.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)

    async def declare(self, channel: AbstractChannel, *more: AbstractChannel) -> None:
        """Declare everything; safe to call from every process at every start.

        The queues are declared over `channel` and `more` at once (`fanout.py`); a
        declaration that does not match the broker's raises its error as on one channel.
        """
        for name, kind in ((self.exchange, aio_pika.ExchangeType.DIRECT),
                           (self.retry_exchange, aio_pika.ExchangeType.DIRECT),
                           (self.failed_exchange, aio_pika.ExchangeType.DIRECT)):
            await channel.declare_exchange(name, kind, durable=True)
        await self._declare_events_exchange(channel)
        queues: list[Step] = []
        parked_bindings: list[Step] = []
        for queue in self.work_queues():
            queues.append(self._bound(queue, self.work_queue_arguments(), self.exchange, queue))
            queues.extend(self._bound(name, self.wait_queue_arguments(queue, delay),
                                      self.retry_exchange, name) for name, delay in self.wait_queues(queue))
            queues.append(self._bound(self.failed_queue(queue), self.failed_queue_arguments(),
                                      self.failed_exchange, queue))
            for shard in self.shards(queue):
                queues.append(self._bound(shard, self.work_queue_arguments(), self.exchange, shard))
                # the broker dead-letters past the delivery limit with the shard's own name
                parked_bindings.append(binding(self.failed_queue(queue), self.failed_exchange, shard))
        await run_spread([channel, *more], queues)
        await run_spread([channel, *more], parked_bindings)

    @staticmethod
    def _bound(name: str, arguments: dict[str, object], exchange: str, routing_key: str) -> Step:
        async def step(channel: AbstractChannel) -> None:
            q = await channel.declare_queue(name, durable=True, arguments=arguments)  # type: ignore[arg-type]
            await q.bind(exchange, routing_key=routing_key)
        return step

    async def delete(self, channel: AbstractChannel, *more: AbstractChannel) -> None:
        """Remove every queue and exchange (tests use per-run names), over `channel` and `more` at once."""
        await run_spread([channel, *more], [queue_deletion(name) for name in self.all_queues()])
        await run_spread([channel, *more], [exchange_deletion(name) for name in self.exchanges()])

