"""Parked messages against the real broker and database: recorded when parked, replayed and
removed exactly through the read model, kept when the publisher fails."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import pytest

from shared.broker.connections import BrokerLink
from shared.broker.publisher import AmqpPublisher, PublishFailed
from shared.broker.topology import ATTEMPT_HEADER, PARK_REASON_HEADER, Topology
from shared.db import parked as rows
from shared.worker.park import PARK_ID_HEADER, Delivery, park
from shared.worker.parked import ParkedJobs

pytestmark = pytest.mark.integration


class RefusingPublisher:
    """A broker that takes nothing: every publish fails unconfirmed."""

    def __init__(self) -> None:
        self.tried = 0

    async def publish(self, exchange: str, routing_key: str, body: bytes, **_: Any) -> None:
        self.tried += 1
        raise PublishFailed("broker did not ack")


@pytest.fixture
async def publisher(topology: Topology) -> AsyncIterator[AmqpPublisher]:
    p = AmqpPublisher(topology.settings.broker, topology)
    await p.connect(declare=False)
    yield p
    await p.close()


@pytest.fixture
async def jobs(pool: asyncpg.Pool, topology: Topology, publisher: AmqpPublisher
               ) -> AsyncIterator[ParkedJobs]:
    link = BrokerLink(topology.settings.amqp_url)
    yield ParkedJobs(pool, topology, publisher, link.channel)
    await link.close()


async def park_one(jobs: ParkedJobs, queue: str, user: str, *, record: bool = True,
                   photo: str | None = None) -> str:
    photo = photo or str(uuid.uuid4())
    body = json.dumps({"uuid": photo, "user_id": user}).encode()
    headers = {ATTEMPT_HEADER: 3, "tags": f"ingest,proxy:{photo},user:{user}"}
    assert await park(jobs.publisher, jobs.topology, queue, Delivery(body, headers, message_id=photo),
                      "gave up", "boom", jobs.record if record else None)
    return photo


async def in_queue(amqp: aio_pika.abc.AbstractConnection, name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message of `name`, taken off (the test's own look)."""
    channel = await amqp.channel()
    q = await channel.declare_queue(name, passive=True)
    got = []
    while (m := await q.get(no_ack=True, fail=False)) is not None:
        got.append(m)
    await channel.close()
    return got


async def test_a_parked_job_is_recorded_and_listed_by_owner_and_tag_without_touching_the_broker(
        jobs: ParkedJobs, topology: Topology, amqp: aio_pika.abc.AbstractConnection):
    queue = topology.settings.queue_preview
    alice = [await park_one(jobs, queue, f"alice-{topology.exchange}") for _ in range(2)]
    bob = await park_one(jobs, queue, f"bob-{topology.exchange}")

    mine = await jobs.find([queue], user_id=f"alice-{topology.exchange}")
    assert sorted(j.uuid or "" for j in mine) == sorted(alice)
    assert [j.uuid for j in await jobs.find([queue], tag=f"proxy:{bob}")] == [bob]
    assert {j.reason for j in mine} == {"gave up"} and mine[0].attempt == 3
    assert (await jobs.counts([queue]))[queue] == 3
    channel = await amqp.channel()  # nothing was fetched: all three wait, none unacked
    assert (await channel.declare_queue(topology.failed_queue(queue), passive=True)
            ).declaration_result.message_count == 3
    await channel.close()


async def test_a_replay_sends_exactly_the_chosen_messages_back_with_attempts_reset(
        jobs: ParkedJobs, topology: Topology, amqp: aio_pika.abc.AbstractConnection):
    queue = topology.settings.queue_preview
    alice, bob = f"alice-{topology.exchange}", f"bob-{topology.exchange}"
    a1, a2 = await park_one(jobs, queue, alice), await park_one(jobs, queue, alice)
    b1 = await park_one(jobs, queue, bob)
    reset: list[tuple[str, str]] = []

    async def before(q: str, photo: str) -> None:
        reset.append((q, photo))

    assert await jobs.replay([queue], user_id=alice, tag=f"proxy:{a2}", before=before) == 1
    assert reset == [(queue, a2)]
    assert await jobs.replay([queue], user_id=alice, tag=f"proxy:{b1}") == 0  # not hers
    assert sorted(j.uuid or "" for j in await jobs.find([queue])) == sorted([a1, b1])

    work = await in_queue(amqp, queue)
    assert [json.loads(m.body)["uuid"] for m in work] == [a2]
    headers = dict(work[0].headers or {})
    assert headers[ATTEMPT_HEADER] == 1 and "job-replayed-at" in headers
    assert PARK_REASON_HEADER not in headers and PARK_ID_HEADER not in headers
    assert work[0].delivery_mode == aio_pika.DeliveryMode.PERSISTENT and work[0].message_id == a2
    parked_now = await in_queue(amqp, topology.failed_queue(queue))
    assert sorted(json.loads(m.body)["uuid"] for m in parked_now) == sorted([a1, b1])


async def test_remove_takes_only_that_proxys_copies(jobs: ParkedJobs, topology: Topology,
                                                    amqp: aio_pika.abc.AbstractConnection):
    queue = topology.settings.queue_finalize
    keep = await park_one(jobs, queue, "u1")
    gone = await park_one(jobs, queue, "u2")
    await park_one(jobs, queue, "u2", photo=gone)  # parked twice: both copies go
    assert await jobs.remove(queue, gone) == 2
    assert [j.uuid for j in await jobs.find([queue])] == [keep]
    assert [json.loads(m.body)["uuid"] for m in await in_queue(amqp, topology.failed_queue(queue))] == [keep]


async def test_a_replay_the_publisher_does_not_confirm_raises_and_leaves_every_message_and_row(
        jobs: ParkedJobs, topology: Topology, amqp: aio_pika.abc.AbstractConnection):
    queue = topology.settings.queue_preview
    photos = sorted([await park_one(jobs, queue, "u"), await park_one(jobs, queue, "u")])
    refusing = RefusingPublisher()
    stuck = ParkedJobs(jobs.pool, topology, refusing, jobs.channels)

    with pytest.raises(PublishFailed):
        await stuck.replay([queue])

    assert refusing.tried == 1  # stopped at the first refusal instead of trying the rest
    assert sorted(j.uuid or "" for j in await jobs.find([queue])) == photos
    assert sorted(json.loads(m.body)["uuid"] for m in await in_queue(
        amqp, topology.failed_queue(queue))) == photos


async def test_rebuild_records_what_the_broker_parked_itself_and_forgets_rows_without_a_message(
        jobs: ParkedJobs, topology: Topology, publisher: AmqpPublisher, pool: asyncpg.Pool):
    queue = topology.settings.queue_enhance
    unrecorded = await park_one(jobs, queue, "u", record=False)  # a crash after the confirm
    photo = str(uuid.uuid4())  # dead-lettered by the broker: no park headers at all
    await publisher.publish(topology.failed_exchange, queue,
                            json.dumps({"uuid": photo, "user_id": "u"}).encode(), message_id=photo)
    stale = (await jobs.find([queue]))  # nothing recorded yet
    assert stale == []
    await rows.record(pool, rows.Parked(park_id=f"stale-{photo}", queue=queue, uuid="x", user_id="u",
                                        reason=None, error=None,
                                        parked_at=(await pool.fetchval("SELECT now()"))))

    done = await jobs.rebuild(queue)

    assert (done.added, done.forgotten, done.complete) == (2, 1, True)
    found = await jobs.find([queue], user_id="u")
    assert sorted(j.uuid or "" for j in found) == sorted([unrecorded, photo])
    assert (await jobs.rebuild(queue)).added == 0  # the same ids at every scan
    assert await jobs.replay([queue], tag=f"proxy:{photo}") == 1  # and acted on exactly


async def test_a_message_passed_over_many_times_is_parked_afresh_before_a_delivery_limit_drops_it(
        jobs: ParkedJobs, topology: Topology, amqp: aio_pika.abc.AbstractConnection):
    queue = topology.settings.queue_preview
    photo = await park_one(jobs, queue, "u")
    for _ in range(8):  # each scan returns it: the broker counts a delivery
        await jobs.rebuild(queue)
    copies = await in_queue(amqp, topology.failed_queue(queue))
    assert [json.loads(m.body)["uuid"] for m in copies] == [photo]
    assert int(dict(copies[0].headers or {}).get("x-delivery-count", 0)) < 5
    assert [j.uuid for j in await jobs.find([queue])] == [photo]  # the same row, the same id


async def test_a_scan_past_its_first_window_finds_the_last_message_and_keeps_every_other(
        jobs: ParkedJobs, topology: Topology, amqp: aio_pika.abc.AbstractConnection):
    queue = topology.settings.queue_finalize
    photos = [await park_one(jobs, queue, "u") for _ in range(300)]  # windows of 64, 192, 44

    assert await jobs.replay([queue], tag=f"proxy:{photos[-1]}") == 1

    assert sorted(j.uuid or "" for j in await jobs.find([queue])) == sorted(photos[:-1])
    rebuilt = await jobs.rebuild(queue)  # a whole scan: every other message still there
    assert (rebuilt.added, rebuilt.forgotten, rebuilt.complete) == (0, 0, True)
    left = await in_queue(amqp, topology.failed_queue(queue))
    assert sorted(json.loads(m.body)["uuid"] for m in left) == sorted(photos[:-1])
    assert [json.loads(m.body)["uuid"] for m in await in_queue(amqp, queue)] == [photos[-1]]


class DiesAfterPublishing:
    """The process dies right after the broker confirmed a replayed copy, before its ack."""

    def __init__(self, real: AmqpPublisher) -> None:
        self.real = real

    async def publish(self, exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        await self.real.publish(exchange, routing_key, body, **kw)
        raise SystemExit("killed between the confirm and the ack")


async def test_a_replay_killed_between_its_confirm_and_its_ack_loses_nothing_and_can_be_redone(
        jobs: ParkedJobs, topology: Topology, publisher: AmqpPublisher,
        amqp: aio_pika.abc.AbstractConnection):
    queue = topology.settings.queue_enhance
    photo, other = await park_one(jobs, queue, "u"), await park_one(jobs, queue, "u")
    dying = ParkedJobs(jobs.pool, topology, DiesAfterPublishing(publisher), jobs.channels)

    with pytest.raises(SystemExit):
        await dying.replay([queue], tag=f"proxy:{photo}")

    # the job went out once, and it is still parked and listed (its message came back unacked)
    assert sorted(j.uuid or "" for j in await jobs.find([queue])) == sorted([photo, other])
    assert await jobs.replay([queue], tag=f"proxy:{photo}") == 1  # done again: sent twice, idempotent
    assert [j.uuid for j in await jobs.find([queue])] == [other]
    sent = [json.loads(m.body)["uuid"] for m in await in_queue(amqp, queue)]
    assert sent == [photo, photo]
    assert [json.loads(m.body)["uuid"] for m in await in_queue(amqp, topology.failed_queue(queue))] == [other]
