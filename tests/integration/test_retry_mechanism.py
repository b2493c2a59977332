"""The retry/park mechanism on the real broker, with a probe worker as a child process."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest

from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import PARK_ERROR_HEADER, PARK_REASON_HEADER, Topology
from shared.settings import Settings
from tests.conftest import REPO, settings_env
from tests.fixtures.workers import stop_processes

pytestmark = pytest.mark.integration


class ProbeWorkers:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = settings_env(self.settings) | {"PROBE_LOG": str(self.log), "PROBE_PORT": "0"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.probe_worker"], cwd=REPO, env=env,
        )
        self.procs.append(proc)
        return proc

    def lines(self) -> list[tuple[str, int, str]]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            ident, attempt, result = line.split(" ", 2)
            out.append((ident, int(attempt), result))
        return out

    def stop(self) -> None:
        stop_processes(self.procs, timeout=10)


@pytest.fixture
def workers(
    settings: Settings, tmp_path: Path, topology: Topology, migrated: str
) -> Iterator[ProbeWorkers]:
    w = ProbeWorkers(settings, tmp_path / "probe.log")
    yield w
    w.stop()


@pytest.fixture
async def publisher(settings: Settings, topology: Topology) -> AsyncIterator[AmqpPublisher]:
    p = AmqpPublisher(settings.broker, Topology(settings))
    await p.connect(declare=False)
    yield p
    await p.close()


async def send(publisher: AmqpPublisher, settings: Settings, body: dict | bytes) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    await publisher.publish(settings.exchange, settings.queue_preview, raw, message_id="probe")


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def parked_messages(settings: Settings, topology: Topology) -> list[aio_pika.abc.AbstractIncomingMessage]:
    conn = await aio_pika.connect(settings.amqp_url)
    out = []
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(topology.failed_queue(settings.queue_preview), passive=True)
        while (m := await q.get(no_ack=True, fail=False)) is not None:
            out.append(m)
    return out


async def test_a_job_that_fails_twice_succeeds_on_its_third_attempt(workers, publisher, settings, topology):
    workers.start()
    await send(publisher, settings, {"id": "a", "mode": "fail_twice"})
    await wait_for(lambda: ("a", 3, "done") in workers.lines())
    attempts = [(a, r) for i, a, r in workers.lines() if i == "a"]
    assert attempts == [(1, "start"), (1, "fail"), (2, "start"), (2, "fail"), (3, "start"), (3, "done")]
    assert await parked_messages(settings, topology) == []


async def test_a_job_that_always_fails_is_parked_after_the_last_attempt_with_the_error(
    workers, publisher, settings, topology
):
    workers.start()
    await send(publisher, settings, {"id": "b", "mode": "always_fail"})
    await wait_for(lambda: any(r.startswith("parked") for i, _, r in workers.lines() if i == "b"))
    starts = [a for i, a, r in workers.lines() if i == "b" and r == "start"]
    assert starts == [1, 2, 3]
    parked = await parked_messages(settings, topology)
    assert len(parked) == 1
    assert parked[0].headers[PARK_REASON_HEADER] == "failed after 3 attempts"
    assert "database unavailable" in parked[0].headers[PARK_ERROR_HEADER]
    assert json.loads(parked[0].body)["id"] == "b"


async def test_a_permanent_error_parks_at_once_without_retries(workers, publisher, settings, topology):
    workers.start()
    await send(publisher, settings, {"id": "p", "mode": "permanent"})
    await wait_for(lambda: any(r.startswith("parked") for i, _, r in workers.lines() if i == "p"))
    assert [a for i, a, r in workers.lines() if i == "p" and r == "start"] == [1]
    parked = await parked_messages(settings, topology)
    assert parked[0].headers[PARK_REASON_HEADER] == "corrupt image data (simulated)"


async def test_a_poison_payload_is_parked_and_the_consumer_keeps_working(
    workers, publisher, settings, topology
):
    workers.start()
    await send(publisher, settings, b"{not json")
    await send(publisher, settings, {"id": "x", "mode": "nonsense"})
    await send(publisher, settings, {"id": "after", "mode": "ok"})
    await wait_for(lambda: ("after", 1, "done") in workers.lines())
    await wait_for(lambda: len([r for _, _, r in workers.lines() if r.startswith("parked")]) == 2)
    parked = await parked_messages(settings, topology)
    assert sorted(m.body for m in parked) == sorted(
        [b"{not json", json.dumps({"id": "x", "mode": "nonsense"}).encode()])
    assert all(m.headers[PARK_REASON_HEADER] == "invalid payload" for m in parked)
    assert workers.procs[0].poll() is None


async def test_a_worker_killed_mid_job_leaves_the_job_to_be_redelivered_and_finished(
    workers, publisher, settings, topology
):
    first = workers.start()
    await send(publisher, settings, {"id": "k", "mode": "sleep", "sleep_s": 3})
    await wait_for(lambda: ("k", 1, "start") in workers.lines())
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    workers.start()
    await wait_for(lambda: ("k", 1, "done") in workers.lines(), timeout=45)
    assert [r for i, _, r in workers.lines() if i == "k"] == ["start", "start", "done"]
    assert await parked_messages(settings, topology) == []


async def test_a_job_that_crashes_its_worker_again_and_again_is_parked_and_others_still_run(
    tmp_path, migrated, amqp
):
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, delivery_limit=3)
    topo = Topology(settings)
    await topo.declare(await amqp.channel())
    workers = ProbeWorkers(settings, tmp_path / "probe.log")
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    try:
        await publisher.connect(declare=False)
        await send(publisher, settings, {"id": "boom", "mode": "crash"})
        deadline = time.monotonic() + 60
        while not any(r.startswith("parked") for i, _, r in workers.lines() if i == "boom"):
            assert time.monotonic() < deadline, workers.lines()
            if not workers.procs or workers.procs[-1].poll() is not None:
                workers.start()
            await asyncio.sleep(0.2)
        crashes = [a for i, a, r in workers.lines() if i == "boom" and r == "start"]
        assert len(crashes) == settings.delivery_limit - 1
        await send(publisher, settings, {"id": "fine", "mode": "ok"})
        await wait_for(lambda: ("fine", 1, "done") in workers.lines())
        parked = await parked_messages(settings, topo)
        assert [json.loads(m.body)["id"] for m in parked] == ["boom"]
        assert "crashed" in parked[0].headers[PARK_REASON_HEADER]
    finally:
        workers.stop()
        await publisher.close()
        await topo.delete(await amqp.channel())
