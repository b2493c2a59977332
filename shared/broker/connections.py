"""Connections to the broker: one node or a cluster.

`PROPHOTO_AMQP_URL` is one URL or a comma-separated list of cluster nodes.
`connect()` gives a robust connection that tries the nodes in order, and when
its node goes away (or a connection attempt fails) it moves on to the next
one, round the list, every `reconnect_interval` seconds, for as long as it
takes: a service that starts while the broker is away waits for it instead
of exiting. Every connection asks for an AMQP heartbeat of `heartbeat_s`
(`PROPHOTO_AMQP_HEARTBEAT_S`, 10 s; a `?heartbeat=` in the URL wins): the
broker closes a connection it has heard nothing on for two heartbeat
intervals, so a half-open one (the path drops packets, no FIN or RST) lets
its consumers' unacked deliveries go back to the queue within about 20-30 s
instead of the broker's default of 60 s and more; aiormq drops it on its side
after three intervals. aio-pika restores channels, declared queues and consumers on the
new node; quorum queues keep every confirmed message while a majority of
their members live, and deliveries that were unacked on the lost node are
redelivered (handlers are idempotent, so a redelivery is done once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import aio_pika
from aio_pika import RobustConnection
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
from yarl import URL

#: seconds; without it aiormq asks for 60 (RabbitMQ's default) when the URL names none
DEFAULT_HEARTBEAT_S = 10


def amqp_urls(amqp_url: str) -> list[str]:
    """The nodes named in `PROPHOTO_AMQP_URL` (comma-separated), in order."""
    urls = [u.strip() for u in amqp_url.split(",") if u.strip()]
    if not urls:
        raise ValueError("PROPHOTO_AMQP_URL names no broker")
    return urls


def node_urls(amqp_url: str, heartbeat_s: int = DEFAULT_HEARTBEAT_S) -> list[URL]:
    """The nodes of `amqp_url`, each asking for `heartbeat_s` unless its URL names a heartbeat."""
    return [url if "heartbeat" in url.query else url.update_query(heartbeat=str(heartbeat_s))
            for url in map(URL, amqp_urls(amqp_url))]


class FailoverConnection(RobustConnection):
    """A robust connection that moves to the next cluster node whenever its node is lost.

    aio-pika reports both a lost connection and a failed connection attempt
    through `_on_connection_close`; the next attempt then uses the next URL.
    """

    nodes: tuple[URL, ...] = ()

    def __init__(self, url: URL, loop: asyncio.AbstractEventLoop | None = None,
                 **kwargs: Any) -> None:
        super().__init__(url, loop=loop, **kwargs)
        self.node_index = self.nodes.index(URL(url)) if URL(url) in self.nodes else 0
        self.failovers = 0

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        if len(self.nodes) > 1 and not self.close_called:
            self.node_index = (self.node_index + 1) % len(self.nodes)
            self.url = self.nodes[self.node_index]
            self.failovers += 1
        await super()._on_connection_close(closing)


def failover_class(amqp_url: str, heartbeat_s: int = DEFAULT_HEARTBEAT_S,
                   ) -> type[FailoverConnection]:
    """A `FailoverConnection` over the nodes of `amqp_url` (for `connect_robust`)."""
    nodes = tuple(node_urls(amqp_url, heartbeat_s))
    return type("FailoverConnection", (FailoverConnection,), {"nodes": nodes})


async def connect(amqp_url: str, *, timeout: float = 10.0, reconnect_interval: float = 1.0,
                  wait: bool = True, first: int = 0,
                  heartbeat_s: int = DEFAULT_HEARTBEAT_S) -> AbstractRobustConnection:
    """A robust connection to the first node of `amqp_url` that answers.

    With `wait` it keeps trying (every node, round the list) until one
    answers; without, it raises when the first attempt at each node failed.
    `first` is the index of the node to try first (the list is taken round).
    """
    urls = node_urls(amqp_url, heartbeat_s)
    first %= len(urls)
    urls = urls[first:] + urls[:first]
    if not wait:
        last: Exception | None = None
        for url in urls:
            try:
                return await aio_pika.connect_robust(
                    url, timeout=timeout, reconnect_interval=reconnect_interval,
                    connection_class=failover_class(amqp_url, heartbeat_s))
            except Exception as exc:
                last = exc
        assert last is not None
        raise last
    return await aio_pika.connect_robust(
        urls[0], timeout=timeout, reconnect_interval=reconnect_interval, fail_fast=False,
        connection_class=failover_class(amqp_url, heartbeat_s))


async def connect_once(amqp_url: str, timeout: float = 10.0,
                       heartbeat_s: int = DEFAULT_HEARTBEAT_S) -> aio_pika.abc.AbstractConnection:
    """A plain (not robust) connection to the first node that answers, for one-off work."""
    last: Exception | None = None
    for url in node_urls(amqp_url, heartbeat_s):
        try:
            return await aio_pika.connect(url, timeout=timeout)
        except Exception as exc:
            last = exc
    assert last is not None
    raise last


async def subscribed(queue: AbstractQueue | None, consumer_tag: str | None) -> bool:
    """Whether the broker still delivers to consumer `consumer_tag` on `queue`.

    The broker can cancel a consumer on its own (`basic.cancel`: its queue was
    deleted, or its quorum queue lost its members) while the connection and
    the channel stay open. aio-pika re-subscribes with the same tag once the
    queue can be consumed again (it tries every reconnect interval); until
    then the process is alive and idle, and readiness must say so.
    """
    if queue is None or consumer_tag is None:
        return False
    try:
        channel = await queue.channel.get_underlay_channel()
    except Exception:  # not opened yet, or closed: not consuming
        return False
    consumers: dict[str, object] = getattr(channel, "consumers", {})  # aiormq's, not in its ABC
    return not channel.is_closed and consumer_tag in consumers


class RoundTripDropped(ConnectionError):
    """A round trip (a confirm, a declare) that aiormq cancelled when it dropped its connection."""


@contextlib.contextmanager
def dropped_is_an_error(what: str) -> Iterator[None]:
    """Round trips cancelled by a dropped connection raise `RoundTripDropped` in this block.

    aiormq ends a connection that missed its heartbeats (a half-open path) by
    cancelling its reader, and every round trip pending on it is *cancelled*:
    to the caller that looks like its own task being cancelled, so `except
    Exception` does not see it and a loop meant to retry (the outbox relay, a
    worker's beats, the queue monitor) ends instead. A cancellation of the
    running task itself still passes through unchanged.
    """
    try:
        yield
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        raise RoundTripDropped(f"{what}: the connection was dropped under it") from exc


class BrokerLink:
    """The process's one connection to the broker, opened on first use.

    Its publisher, consumers, feeds and looks each open channels on it (one
    per use, or one they keep) instead of connections of their own. It is a
    robust `FailoverConnection`: when its node goes it reconnects round the
    list and restores the channels and consumers it carries. `fail_over()`
    moves it to the next node on purpose (the publisher asks, after repeated
    failures on a node that still answers); an opening that fails leaves no
    connection, and the next use tries again.
    """

    def __init__(self, amqp_url: str, *, timeout: float = 10.0,
                 reconnect_interval: float = 1.0, heartbeat_s: int = DEFAULT_HEARTBEAT_S) -> None:
        self.amqp_url = amqp_url
        self.heartbeat_s = heartbeat_s
        self.timeout = timeout
        self.reconnect_interval = reconnect_interval
        self.opened = 0  # connections opened (a test counts them)
        self._connection: AbstractRobustConnection | None = None
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def connection(self, *, wait: bool = False) -> AbstractRobustConnection:
        """The connection (opened now if there is none; `wait`: until a node answers)."""
        current = self._connection
        if current is not None and not current.is_closed:
            return current
        async with self._lock:
            if self._connection is None or self._connection.is_closed:
                self._connection = await connect(
                    self.amqp_url, timeout=self.timeout,
                    reconnect_interval=self.reconnect_interval, wait=wait,
                    heartbeat_s=self.heartbeat_s)
                self.opened += 1
            return self._connection

    async def channel(self, **kwargs: Any) -> AbstractChannel:
        """A new channel on the connection (waiting while it reconnects); its user closes it."""
        connection = await self.connection()
        if not connection.connected.is_set():
            await asyncio.wait_for(connection.connected.wait(), self.timeout)
        return await connection.channel(**kwargs)

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected.is_set()

    @property
    def reconnecting(self) -> bool:
        """Opened once, and between two nodes now (the robust connection is on it)."""
        return self._connection is not None and not self._connection.is_closed \
            and not self._connection.connected.is_set()

    @property
    def node_url(self) -> str | None:
        """The URL of the node the connection is on now (None: never opened)."""
        return None if self._connection is None else str(getattr(self._connection, "url", ""))

    def fail_over(self) -> None:
        """Drop the connection's transport: it reconnects from the next node and restores itself."""
        connection = self._connection
        transport = None if connection is None else connection.transport
        if transport is None:
            return

        async def close() -> None:
            with contextlib.suppress(Exception):  # a dead node may never answer the close
                await asyncio.wait_for(
                    transport.connection.close(ConnectionError("failing over")), timeout=5)

        task = asyncio.create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        for task in list(self._closing):
            task.cancel()
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)


class Echo:
    """How long one connection has gone without an answer from the broker.

    A connection whose path silently drops packets (half-open: no FIN, no
    RST) still reads connected to its client until the AMQP heartbeat gives
    up on it (aiormq waits three intervals), and the broker's deliveries to
    its consumers vanish meanwhile. Every `every_s` an echo sends one no-op
    round trip (a passive declare of the built-in `amq.direct`) on a channel
    of its own and notes when the answer came. It never cancels an unanswered
    one, so `silent_s()` counts from the last answer for as long as the path
    is dead, and falls back to about zero once the connection is restored.
    """

    NO_OP_EXCHANGE = "amq.direct"

    def __init__(self, connection: AbstractRobustConnection, every_s: float = 2.0) -> None:
        self.connection = connection
        self.every_s = every_s
        self.answers = 0
        self._answered_at = time.monotonic()
        self._channel: AbstractChannel | None = None

    def silent_s(self) -> float:
        """Seconds since the broker last answered (from the start, before its first answer)."""
        return max(0.0, time.monotonic() - self._answered_at)

    async def ask(self) -> None:
        """One round trip; returns when the broker answered (raises when the channel went)."""
        if self._channel is None or self._channel.is_closed:
            self._channel = await self.connection.channel()
        underlay = await self._channel.get_underlay_channel()
        await underlay.exchange_declare(self.NO_OP_EXCHANGE, passive=True)
        self._answered_at = time.monotonic()
        self.answers += 1

    async def run(self) -> None:
        """Ask every `every_s` until cancelled; failures only age the last answer."""
        while True:
            try:
                with dropped_is_an_error("echo"):
                    await self.ask()
            except Exception:  # noqa: S110 - the connection is away or its channel closed:
                pass  # the last answer ages, and the next round asks again (on a new channel)
            await asyncio.sleep(self.every_s)
