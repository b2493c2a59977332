"""Confirmed publishing to the broker (connections: shared/broker/connections.py).

Every publish is persistent, mandatory (an unroutable message raises instead
of vanishing) and waits for the broker's confirm, with a timeout so that a
dead broker never hangs a caller; a publish that was not confirmed raises
`PublishFailed` and is retried by its caller (the outbox, the job runner).

A node loss can leave a channel that is open but useless: after the leader of
a quorum queue dies, a channel that published to it may go on nacking every
message, or never confirm again, while a fresh channel is acked at once. So
`AmqpPublisher` never reuses a channel that failed: after a nack, a return, a
channel error or a missing confirm it drops the channel and opens a new one
for the next publish, and after `reconnect_after` failures in a row it has
the process's connection (`BrokerLink`, shared with its consumers and looks)
fail over to the next node of the URL list, where it restores every channel
and consumer it carries (`PublishRecovery` says how it went, for metrics and
readiness).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractChannel
from pamqp.commands import Basic
from pydantic import BaseModel

from shared.broker.backoff import PublishRecovery, jittered
from shared.broker.connections import (
    BrokerLink,
    amqp_urls,
    connect,
    connect_once,
    dropped_is_an_error,
    failover_class,
    subscribed,
)
from shared.broker.topology import ENQUEUED_HEADER, Topology
from shared.messages import Message, ProxyStatusChanged, TraceEvent
from shared.resource_settings import BrokerSettings
from shared.settings import Settings

#: what other modules import from here (the connection helpers moved to shared/broker/connections.py)
__all__ = [
    "AmqpPublisher", "PublishFailed", "PublishRecovery", "Publisher", "amqp_urls", "connect",
    "connect_once", "declare_topology", "encode", "failover_class", "jittered", "publish_command",
    "publish_status", "publish_trace", "subscribed",
]

log = logging.getLogger(__name__)


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
    """Publishes with confirms on a channel of the process's connection; declares `topology` when
    it connects. Without a `link` it opens one of its own (a process that only publishes).

    `attempts` > 1 makes `publish` try again itself (on a fresh channel, after
    a short jittered pause) before raising `PublishFailed`: what the workers
    and the tracing service want for their own publishes. The outbox relay
    keeps 1 and backs off per row instead.
    """

    def __init__(self, broker: BrokerSettings, topology: Topology, *, attempts: int = 1,
                 reconnect_after: int = 3, retry_pause_s: float = 0.25,
                 link: BrokerLink | None = None) -> None:
        self.broker = broker
        self.link = link or BrokerLink(broker.url, timeout=broker.publish_timeout_s,
                                       heartbeat_s=broker.heartbeat_s)
        self._owns_link = link is None
        self.topology = topology
        self.attempts = max(1, attempts)
        self.reconnect_after = max(1, reconnect_after)
        self.retry_pause_s = retry_pause_s
        self.recovery = PublishRecovery()
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()
        self._declared = False
        self._closing: set[asyncio.Task[None]] = set()

    async def connect(self, declare: bool = True) -> None:
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return
            self._channel = await self.link.channel(publisher_confirms=True,
                                                    on_return_raises=True)
            if declare and not self._declared:  # once: a recovery must not wait on declarations
                await self.topology.declare(self._channel)
                self._declared = True

    @property
    def connected(self) -> bool:
        return self._channel is not None and not self._channel.is_closed

    @property
    def node_url(self) -> str | None:
        """The URL of the node the publisher's connection is on now (None: not connected)."""
        return self.link.node_url

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        for task in list(self._closing):
            task.cancel()
        if self._owns_link:
            await self.link.close()
        elif channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), timeout=5)

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
        for attempt in range(self.attempts):
            try:
                await self._publish_once(
                    exchange, routing_key, body, headers, message_id, content_type, mandatory)
                return
            except PublishFailed:
                if attempt + 1 >= self.attempts:
                    raise
            await asyncio.sleep(jittered(self.retry_pause_s, attempt, 2.0))

    async def _publish_once(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict[str, Any] | None,
        message_id: str | None,
        content_type: str,
        mandatory: bool,
    ) -> None:
        used: list[AbstractChannel] = []
        try:
            with dropped_is_an_error("publish"):  # its confirm, pending on a half-open connection
                await asyncio.wait_for(
                    self._publish(
                        exchange, routing_key, body, headers, message_id, content_type, mandatory,
                        used,
                    ),
                    timeout=self.broker.publish_timeout_s,
                )
        except Exception as exc:  # connection errors, confirms nacked, returns, timeouts
            why = str(exc) if isinstance(exc, PublishFailed) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError):
                why = f"no confirm within {self.broker.publish_timeout_s:g} s"
            self._failed(used[0] if used else None, why)
            if isinstance(exc, PublishFailed):
                raise
            raise PublishFailed(why) from exc
        self.recovery.consecutive_failures = 0
        self.recovery.failing_since = None

    def _failed(self, channel: AbstractChannel | None, why: str) -> None:
        """Count a failure; drop the channel it happened on (and the connection, when due)."""
        r = self.recovery
        r.failures += 1
        r.last_error = why[:300]
        if r.failing_since is None:
            r.failing_since = time.monotonic()
        if channel is not None and channel is not self._channel:
            return  # a publish in flight on a channel already dropped: nothing more to do
        r.consecutive_failures += 1
        if self._channel is not None:
            self._drop(self._channel)
            self._channel = None
            r.channels_dropped += 1
        if r.consecutive_failures % self.reconnect_after == 0 and self.link.node_url is not None:
            r.connections_dropped += 1
            log.warning("publisher: %d publishes failed in a row (%s); the connection fails over "
                        "to the next node", r.consecutive_failures, r.last_error)
            self.link.fail_over()

    def _drop(self, closable: AbstractChannel) -> None:
        """Close in the background: a channel or connection on a dead node may never answer."""
        async def close() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closable.close(), timeout=5)

        task = asyncio.create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict[str, Any] | None,
        message_id: str | None,
        content_type: str,
        mandatory: bool,
        used: list[AbstractChannel],
    ) -> None:
        if not self.connected:
            await self.connect()
        channel = self._channel
        assert channel is not None
        used.append(channel)
        ex = await channel.get_exchange(exchange, ensure=False)
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
        """Whether a publish could go out now (never waits for a connection that reconnects)."""
        try:
            if not self.connected:
                if self.link.reconnecting:
                    return False
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
    connection = await connect_once(settings.amqp_url, timeout=10,
                                    heartbeat_s=settings.amqp_heartbeat_s)
    async with connection:  # its channels close with it
        await Topology(settings).declare(*[await connection.channel() for _ in range(4)])
