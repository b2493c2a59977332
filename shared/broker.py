"""Confirmed publishing over one robust AMQP connection per process.

Every publish is persistent, mandatory (an unroutable message raises instead
of vanishing) and waits for the broker's confirm, with a timeout so that a
dead broker never hangs a caller.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from pamqp.commands import Basic
from pydantic import BaseModel

from shared.messages import Message, ProxyStatusChanged, TraceEvent
from shared.settings import Settings
from shared.topology import Topology


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
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topology = Topology(settings)
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def connect(self, declare: bool = True) -> None:
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return
            if self._connection is None or self._connection.is_closed:
                self._connection = await aio_pika.connect_robust(
                    self.settings.amqp_url, timeout=self.settings.publish_timeout_s
                )
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
                timeout=self.settings.publish_timeout_s,
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


async def publish_command(publisher: Publisher, topology: Topology, queue: str, msg: Message) -> None:
    await publisher.publish(
        topology.exchange,
        queue,
        encode(msg),
        headers={"tags": ",".join(msg.tags())},
        message_id=getattr(msg, "uuid", None) and str(msg.uuid),  # type: ignore[attr-defined]
    )


async def publish_trace(publisher: Publisher, topology: Topology, event: TraceEvent) -> None:
    await publisher.publish(
        topology.exchange, topology.settings.queue_traces, encode(event), headers={"tags": "trace"}
    )


async def publish_status(publisher: Publisher, topology: Topology, event: ProxyStatusChanged) -> None:
    await publisher.publish(
        topology.events_exchange,
        topology.status_routing_key(event.user_id, str(event.uuid)),
        encode(event),
        mandatory=False,  # nobody may be listening; status is also in the database
    )
