"""Parked messages against the real broker: listed, replayed through the publisher, kept when it fails."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aio_pika
import pytest

from shared.broker.publisher import AmqpPublisher, PublishFailed
from shared.broker.topology import ATTEMPT_HEADER, PARK_REASON_HEADER, Topology
from shared.worker import parked
from shared.worker.park import Delivery, park

pytestmark = pytest.mark.integration


class RefusingPublisher:
    """A broker that takes nothing: every publish fails unconfirmed."""

    def __init__(self) -> None:
        self.tried = 0

    async def publish(self, exchange: str, routing_key: str, body: bytes, **_: Any) -> None:
        self.tried += 1
        raise PublishFailed("broker did not ack")


async def _park_two(topology: Topology, publisher: AmqpPublisher, queue: str) -> tuple[str, str]:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    for photo, user in ((alice, "alice"), (bob, "bob")):
        body = json.dumps({"uuid": photo, "user_id": user}).encode()
        delivery = Delivery(body, {ATTEMPT_HEADER: 3, "tags": "preview"}, message_id=photo)
        assert await park(publisher, topology, queue, delivery, "gave up", "boom")
    return alice, bob


async def test_a_replay_sends_the_chosen_parked_message_back_through_the_publisher_with_attempts_reset(
    topology: Topology, amqp: aio_pika.abc.AbstractConnection
):
    queue = topology.settings.queue_preview
    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)
    try:
        alice, bob = await _park_two(topology, publisher, queue)
        assert {p.uuid for p in await parked.peek(topology, queue)} == {alice, bob}

        replayed = await parked.replay(topology, queue, publisher, user_id="alice")
    finally:
        await publisher.close()

    assert replayed == 1
    assert [p.uuid for p in await parked.peek(topology, queue)] == [bob]  # bob's stays parked
    channel = await amqp.channel()
    work = await channel.declare_queue(queue, passive=True)
    message = await work.get(no_ack=True, fail=False)
    assert message is not None, "nothing arrived on the work queue"
    assert json.loads(message.body)["uuid"] == alice and message.message_id == alice
    headers = dict(message.headers or {})
    assert headers[ATTEMPT_HEADER] == 1 and "job-replayed-at" in headers
    assert PARK_REASON_HEADER not in headers and headers["tags"] == "preview"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    await channel.close()


async def test_a_replay_the_publisher_does_not_confirm_raises_and_leaves_every_message_parked(
    topology: Topology,
):
    queue = topology.settings.queue_preview
    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)
    try:
        alice, bob = await _park_two(topology, publisher, queue)
    finally:
        await publisher.close()
    refusing = RefusingPublisher()

    with pytest.raises(PublishFailed):
        await parked.replay(topology, queue, refusing)

    assert refusing.tried == 1  # stopped at the first refusal instead of trying the rest
    assert sorted(p.uuid or "" for p in await parked.peek(topology, queue)) == sorted([alice, bob])
