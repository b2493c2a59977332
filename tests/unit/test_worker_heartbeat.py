"""A worker announces a change of its jobs in progress at once, not at the next interval."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from shared.metrics import JobMetrics
from shared.worker.harness import _heartbeat
from shared.worker.heartbeat import Beacon


class Beats:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def publish(self, exchange: str, routing_key: str, body: Any, **_: Any) -> None:
        self.sent.append(json.loads(getattr(body, "body", body)))


async def until(check, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


async def test_a_job_starting_and_the_last_one_finishing_are_announced_within_the_poll():
    registry = CollectorRegistry()
    metrics = JobMetrics(registry)
    beats = Beats()
    beacon = Beacon(beats, SimpleNamespace(events_exchange="events"), registry,  # type: ignore[arg-type]
                    "preview", "q", every_s=60.0)

    async def nothing_missing() -> list[str]:
        return []

    task = asyncio.create_task(_heartbeat(metrics, "q", nothing_missing, beacon))
    try:
        await until(lambda: len(beats.sent) == 1)
        assert beats.sent[0]["in_progress"] == 0
        metrics.started("q")
        await until(lambda: len(beats.sent) == 2)  # not 60 s later
        assert beats.sent[1]["in_progress"] == 1
        metrics.finished("q", "success", 0.1)
        await until(lambda: len(beats.sent) == 3)
        assert beats.sent[2]["in_progress"] == 0
        await asyncio.sleep(0.6)
        assert len(beats.sent) == 3  # nothing changed: no beat until the interval
    finally:
        task.cancel()
