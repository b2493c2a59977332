"""The publisher's recovery rules, on stand-in channels: what is dropped after which failure."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from pamqp.commands import Basic

from shared.broker.backoff import jittered
from shared.broker.publisher import AmqpPublisher, PublishFailed
from shared.resource_settings import BrokerSettings

URLS = "amqp://a:1/,amqp://b:2/,amqp://c:3/"


class Exchange:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    async def publish(self, message: Any, routing_key: str, mandatory: bool) -> Any:
        answer = self.answers.pop(0)
        if answer == "hang":
            await asyncio.sleep(3600)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Channel:
    def __init__(self, answers: list[Any]) -> None:
        self.exchange = Exchange(answers)
        self.is_closed = False

    async def get_exchange(self, name: str, ensure: bool = False) -> Exchange:
        return self.exchange

    async def close(self) -> None:
        self.is_closed = True


class Underlay:
    """The transport's connection: closing it makes a robust connection reconnect, next node."""

    def __init__(self, owner: Connection) -> None:
        self.owner = owner

    async def close(self, exc: Exception | None = None) -> None:
        self.owner.node_index = (self.owner.node_index + 1) % 3


class Connection:
    def __init__(self, node_index: int, answers: list[Any]) -> None:
        self.node_index = node_index
        self.answers = answers
        self.channels: list[Channel] = []
        self.is_closed = False
        self.transport = SimpleNamespace(connection=Underlay(self))
        self.connected = asyncio.Event()
        self.connected.set()
        self.url = "amqp://a:1/"

    async def channel(self, **_: Any) -> Channel:
        self.channels.append(Channel(self.answers))
        return self.channels[-1]

    async def close(self) -> None:
        self.is_closed = True


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> tuple[AmqpPublisher, list[Connection], list[Any]]:
    answers: list[Any] = []
    made: list[Connection] = []

    async def fake_connect(url: str, *, first: int = 0, **_: Any) -> Connection:
        made.append(Connection(first % 3, answers))
        return made[-1]

    monkeypatch.setattr("shared.broker.connections.connect", fake_connect)
    publisher = AmqpPublisher(BrokerSettings(URLS, 0.2), None, reconnect_after=3)  # type: ignore[arg-type]
    publisher._declared = True  # no topology to declare on stand-ins
    return publisher, made, answers


async def send(publisher: AmqpPublisher) -> None:
    await publisher.publish("ex", "q", b"{}")


async def test_a_nack_drops_the_channel_and_the_next_publish_takes_a_fresh_one(wired):
    publisher, made, answers = wired
    answers += [Basic.Ack(), Basic.Nack(), Basic.Ack()]
    await send(publisher)
    with pytest.raises(PublishFailed, match="did not ack"):
        await send(publisher)
    await send(publisher)
    assert len(made) == 1 and len(made[0].channels) == 2
    await asyncio.sleep(0.01)  # channels are closed in the background
    assert made[0].channels[0].is_closed and not made[0].channels[1].is_closed
    assert publisher.recovery.channels_dropped == 1 and publisher.recovery.consecutive_failures == 0


async def test_a_confirm_that_never_comes_drops_the_channel_too(wired):
    publisher, made, answers = wired
    answers += ["hang", Basic.Ack()]
    with pytest.raises(PublishFailed, match="no confirm within"):
        await send(publisher)
    await send(publisher)
    assert len(made[0].channels) == 2 and publisher.recovery.failing_since is None


async def test_repeated_failures_make_the_shared_connection_fail_over_to_the_next_node(wired):
    publisher, made, answers = wired
    answers += [RuntimeError("channel closed by the broker")] * 3 + [Basic.Ack()]
    for _ in range(3):
        with pytest.raises(PublishFailed):
            await send(publisher)
    await asyncio.sleep(0.01)  # the transport is closed in the background
    await send(publisher)
    # one connection (the process's), moved on to node b; not a second connection
    assert [c.node_index for c in made] == [1]
    assert publisher.recovery.connections_dropped == 1 and len(made[0].channels) == 4


async def test_attempts_retry_inside_publish_on_a_fresh_channel(wired):
    publisher, made, answers = wired
    publisher.attempts = 3
    publisher.retry_pause_s = 0.01
    answers += [Basic.Nack(), Basic.Nack(), Basic.Ack()]
    await send(publisher)  # no exception: the third try was confirmed
    assert len(made) == 1 and len(made[0].channels) == 3


def test_backoff_doubles_is_capped_and_jittered():
    assert all(0.25 <= jittered(0.5, 0, 10) <= 0.5 for _ in range(100))
    assert all(2.0 <= jittered(0.5, 3, 10) <= 4.0 for _ in range(100))
    assert all(5.0 <= jittered(0.5, 30, 10) <= 10.0 for _ in range(100))
    assert len({jittered(0.5, 2, 10) for _ in range(20)}) > 1
