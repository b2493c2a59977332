"""A job redelivered after its work was done is acknowledged as done, for every worker kind.

This is what a worker killed between its commit and its ack leaves behind
(or a node lost with the ack in flight): the broker delivers the job again,
flagged `redelivered`. Here the job runs to completion first; the workers are
stopped; the same message (same id and body) is put back and taken without an
ack by a connection that then closes, so the broker requeues it as a real
redelivery; a new worker receives it. It must ack it (nothing left queued,
waiting for a retry or parked) and change nothing: one Image, the same
preview, the same enhanced preview.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from shared.broker.publisher import AmqpPublisher, publish_command
from shared.broker.topology import Topology
from shared.db import enhancements
from shared.messages import EnhancePreview, FinalizeIngest, GeneratePreview, Message
from shared.settings import Settings
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import make_proxy, wait_until
from tests.fixtures.workers import ServiceWorkers

pytestmark = pytest.mark.integration


async def publish(settings: Settings, msg: Message) -> None:
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    try:
        await publish_command(publisher, Topology(settings), msg)
    finally:
        await publisher.close()


async def depths(settings: Settings, queue: str) -> dict[str, int]:
    """Messages waiting in `queue`, its wait queues and its parking queue."""
    topology = Topology(settings)
    lane = topology.lane_of(queue)  # a preview lane's shard retries and parks with its lane
    group = queue if lane is None else topology.lane_queue(lane)
    names = [queue, *(n for n, _ in topology.wait_queues(group)), topology.failed_queue(group)]
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        out = {}
        for name in names:
            q = await channel.declare_queue(name, passive=True)
            out[name] = int(q.declaration_result.message_count or 0)
    return out


async def put_back_as_redelivered(settings: Settings, queue: str, msg: Message) -> None:
    """The job again, as the broker hands back a delivery whose consumer never acked it."""
    await publish(settings, msg)
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:  # closed without an ack: requeued with the redelivered flag
        q = await (await connection.channel()).declare_queue(queue, passive=True)
        taken = await wait_until(lambda: q.get(no_ack=False, fail=False), 10, "the job back")
        assert json.loads(taken.body)["uuid"] == str(msg.uuid)  # type: ignore[attr-defined]
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:  # look without taking: it is there, flagged
        q = await (await connection.channel()).declare_queue(queue, passive=True)
        again = await wait_until(lambda: q.get(no_ack=False, fail=False), 10, "the redelivery")
        assert again.redelivered
        await again.nack(requeue=True)


async def done_then_redelivered(
    workers: ServiceWorkers, settings: Settings, queue: str, msg: Message,
    state: Callable[[], Awaitable[Any]],
) -> tuple[Any, Any]:
    """Run `msg` to completion, redeliver it to a fresh worker; `state()` before and after."""
    workers.start()
    await publish(settings, msg)
    before = await wait_until(state, 60, "the job is done")
    await wait_until(lambda: _all_empty(settings, queue), 20, "the job is acked")
    workers.stop()

    await put_back_as_redelivered(settings, queue, msg)
    assert (await depths(settings, queue))[queue] == 1
    workers.start()
    await wait_until(lambda: _all_empty(settings, queue), 30, "the redelivered job is acked")
    workers.stop()  # anything delivered but not acked would go back to the queue now
    assert set((await depths(settings, queue)).values()) == {0}  # not queued, retried or parked
    return before, await state()


async def _all_empty(settings: Settings, queue: str) -> bool:
    return set((await depths(settings, queue)).values()) == {0}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_redelivered_finalize_job_already_done_is_acked_and_makes_no_second_image(
    settings, pool, temp_store, final_store, finalize_workers, corpus: Path
):
    data = (corpus / "jpeg" / "prairie_falcon.jpg").read_bytes()
    proxy = await make_proxy(pool, temp_store, f"alice-{settings.exchange}", data, "falcon.jpg")
    await pool.execute("UPDATE proxy_images SET ingest_status = 'queued' WHERE uuid = $1", proxy.uuid)

    async def images() -> list[tuple[str, str, str]] | None:
        rows = await pool.fetch("SELECT path, sha256 FROM images WHERE proxy_uuid = $1", proxy.uuid)
        found = [(r["path"], r["sha256"], sha(await final_store.get_bytes(r["path"]))) for r in rows]
        return found or None

    before, after = await done_then_redelivered(
        finalize_workers, settings, settings.queue_finalize,
        FinalizeIngest(uuid=proxy.uuid, user_id=proxy.user_id), images)
    assert before == after == [(before[0][0], proxy.sha256, proxy.sha256)]  # one Image, same bytes


async def test_a_redelivered_preview_job_already_done_is_acked_and_leaves_the_preview_as_it_was(
    settings, pool, temp_store, preview_workers, corpus: Path
):
    data = (corpus / "jpeg" / "prairie_falcon.jpg").read_bytes()
    proxy = await make_proxy(pool, temp_store, f"alice-{settings.exchange}", data, "falcon.jpg",
                             preview_status="pending")

    async def preview() -> tuple[Any, ...] | None:
        row = await pool.fetchrow(
            "SELECT preview_status, preview_path, thumbnail_path, preview_width, preview_attempts,"
            " updated_at FROM proxy_images WHERE uuid = $1", proxy.uuid)
        if row["preview_status"] != "ready":
            return None
        return (*row.values(), sha(await temp_store.get_bytes(row["preview_path"])))

    job = GeneratePreview(uuid=proxy.uuid, user_id=proxy.user_id)
    before, after = await done_then_redelivered(
        preview_workers, settings, Topology(settings).queue_for(job), job, preview)
    assert after == before  # not claimed again: same row (attempts, updated_at), same object


async def test_a_redelivered_enhance_job_already_done_is_acked_and_keeps_the_enhanced_preview(
    settings, pool, temp_store, enhance_workers, corpus: Path
):
    data = (corpus / "jpeg" / "prairie_falcon.jpg").read_bytes()  # 800 px wide
    proxy = await make_proxy(pool, temp_store, f"alice-{settings.exchange}", data, "falcon.jpg",
                             preview_width=400)
    assert await enhancements.request_enhancement(pool, proxy.uuid, proxy.user_id, 400)

    async def enhanced() -> tuple[Any, ...] | None:
        row = await pool.fetchrow(
            "SELECT enhancement_status, preview_path, preview_width, updated_at FROM proxy_images"
            " WHERE uuid = $1", proxy.uuid)
        if row["enhancement_status"] != "ready":
            return None
        return (*row.values(), sha(await temp_store.get_bytes(row["preview_path"])))

    before, after = await done_then_redelivered(
        enhance_workers, settings, settings.queue_enhance,
        EnhancePreview(uuid=proxy.uuid, user_id=proxy.user_id, target_width=700), enhanced)
    assert before[2] == 700
    assert after == before  # not rendered again: same row, same object
