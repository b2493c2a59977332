"""Connections to the broker (one node or a cluster) and confirmed publishing.

`PROPHOTO_AMQP_URL` is one URL or a comma-separated list of cluster nodes.
`connect()` gives a robust connection that tries the nodes in order, and when
its node goes away (or a connection attempt fails) it moves on to the next
one, round the list, every `reconnect_interval` seconds, for as long as it
takes: a service that starts while the broker is away waits for it instead
of exiting. aio-pika restores channels, declared queues and consumers on the
new node; quorum queues keep every confirmed message while a majority of
their members live, and deliveries that were unacked on the lost node are
redelivered (handlers are idempotent, so a redelivery is done once).

Every publish is persistent, mandatory (an unroutable message raises instead
of vanishing) and waits for the broker's confirm, with a timeout so that a
dead broker never hangs a caller; a publish that was not confirmed raises
`PublishFailed` and is retried by its caller (the outbox, the job runner).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Protocol

import aio_pika
from aio_pika import RobustConnection
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
from pamqp.commands import Basic
from pydantic import BaseModel
from yarl import URL

from shared.messages import Message, ProxyStatusChanged, TraceEvent
from shared.resource_settings import BrokerSettings
from shared.settings import Settings
from shared.topology import ENQUEUED_HEADER, Topology


def amqp_urls(amqp_url: str) -> list[str]:
    """The nodes named in `PROPHOTO_AMQP_URL` (comma-separated), in order."""
    urls = [u.strip() for u in amqp_url.split(",") if u.strip()]
    if not urls:
        raise ValueError("PROPHOTO_AMQP_URL names no broker")
    return urls


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


def failover_class(amqp_url: str) -> type[FailoverConnection]:
    """A `FailoverConnection` over the nodes of `amqp_url` (for `connect_robust`)."""
    nodes = tuple(URL(u) for u in amqp_urls(amqp_url))
    return type("FailoverConnection", (FailoverConnection,), {"nodes": nodes})


async def connect(amqp_url: str, *, timeout: float = 10.0, reconnect_interval: float = 1.0,
                  wait: bool = True) -> AbstractRobustConnection:
    """A robust connection to the first node of `amqp_url` that answers.

    With `wait` it keeps trying (every node, round the list) until one
    answers; without, it raises when the first attempt at each node failed.
    """
    urls = amqp_urls(amqp_url)
    if not wait:
        last: Exception | None = None
        for url in urls:
            try:
                return await aio_pika.connect_robust(
                    url, timeout=timeout, reconnect_interval=reconnect_interval,
                    connection_class=failover_class(amqp_url))
            except Exception as exc:
                last = exc
        assert last is not None
        raise last
    return await aio_pika.connect_robust(
        urls[0], timeout=timeout, reconnect_interval=reconnect_interval, fail_fast=False,
        connection_class=failover_class(amqp_url))


async def connect_once(amqp_url: str, timeout: float = 10.0) -> aio_pika.abc.AbstractConnection:
    """A plain (not robust) connection to the first node that answers, for one-off work."""
    last: Exception | None = None
    for url in amqp_urls(amqp_url):
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


class PublishFailed(Exception):
    """The broker did not confirm the message (down, nacked, or unroutable)."""


class Publisher(Protocol):
    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
        content_type: str = "application/json",
        mandatory: bool = True,
    ) -> None: ...


class AmqpPublisher:
    """Publishes with confirms over one robust connection; declares `topology` when it connects."""

    def __init__(self, broker: BrokerSettings, topology: Topology) -> None:
        self.broker = broker
        self.topology = topology
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def connect(self, declare: bool = True) -> None:
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return
            if self._connection is None or self._connection.is_closed:
                self._connection = await connect(
                    self.broker.url, timeout=self.broker.publish_timeout_s, wait=False)
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            if declare:
                await self.topology.declare(self._channel)

    @property
    def connected(self) -> bool:
        return self._channel is not None and not self._channel.is_closed

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._channel = None

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
        content_type: str = "application/json",
        mandatory: bool = True,
    ) -> None:
        try:
            await asyncio.wait_for(
                self._publish(
                    exchange, routing_key, body, headers, message_id, content_type, mandatory
                ),
                timeout=self.broker.publish_timeout_s,
            )
        except PublishFailed:
            raise
        except Exception as exc:  # connection errors, confirms nacked, returns, timeouts
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict[str, Any] | None,
        message_id: str | None,
        content_type: str,
        mandatory: bool,
    ) -> None:
        if not self.connected:
            await self.connect()
        assert self._channel is not None
        ex = await self._channel.get_exchange(exchange, ensure=False)
        message = aio_pika.Message(
            body,
            headers=headers or {},
            message_id=message_id,
            content_type=content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        confirmation = await ex.publish(message, routing_key=routing_key, mandatory=mandatory)
        if not isinstance(confirmation, Basic.Ack):
            raise PublishFailed(f"broker did not ack: {confirmation!r}")

    async def ping(self) -> bool:
        try:
            if not self.connected:
                await self.connect()
            return self.connected
        except Exception:
            return False


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(by_alias=True).encode()


async def publish_command(publisher: Publisher, topology: Topology, msg: Message) -> None:
    """Publish a command straight to its work queue (producers with a database use the outbox)."""
    await publisher.publish(
        topology.exchange,
        topology.queue_for(msg),
        encode(msg),
        headers={"tags": ",".join(msg.tags()), ENQUEUED_HEADER: datetime.now(UTC).isoformat()},
        message_id=getattr(msg, "uuid", None) and str(msg.uuid),  # type: ignore[attr-defined]
    )


async def publish_trace(publisher: Publisher, topology: Topology, event: TraceEvent) -> None:
    await publisher.publish(
        topology.exchange, topology.queue_for(event), encode(event), headers={"tags": "trace"}
    )


async def publish_status(publisher: Publisher, topology: Topology, event: ProxyStatusChanged) -> None:
    await publisher.publish(
        topology.events_exchange,
        topology.status_routing_key(event.user_id, str(event.uuid)),
        encode(event),
        mandatory=False,  # nobody may be listening; status is also in the database
    )


async def declare_topology(settings: Settings) -> None:
    connection = await connect_once(settings.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        await Topology(settings).declare(channel)
