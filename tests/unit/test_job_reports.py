"""The harness publishes a job's traces and status events (Reports middleware), with a fake publisher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.broker.topology import Topology
from shared.messages import FinalizeIngest
from shared.settings import RetryPolicy
from shared.worker.context import JobContext, PermanentError
from shared.worker.park import Delivery
from shared.worker.reports import Reports
from shared.worker.runner import JobRunner, Outcome
from tests.conftest import make_settings

UUID = "6f1c2a47-7a43-4d6e-9b8f-1d2c3e4f5a6b"
BODY = FinalizeIngest(uuid=UUID, user_id="u").model_dump_json().encode()


class FakePublisher:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    async def publish(self, exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        if self.fail and not exchange.endswith(".failed") and ".retry" not in exchange:
            raise ConnectionError("broker down")
        self.sent.append({"exchange": exchange, "routing_key": routing_key, **json.loads(body)})


def runner(tmp_path: Path, work: Any, pub: FakePublisher, recorded: bool = True,
           attempt_trace: Any = "finalize") -> JobRunner[FinalizeIngest]:
    settings = make_settings(tmp_path)
    topology = Topology(settings)

    async def on_failed(job: FinalizeIngest | None, reason: str) -> bool:
        return recorded

    return JobRunner(queue=settings.queue_finalize, model=FinalizeIngest, work=work, publisher=pub,
                     topology=topology, policy=RetryPolicy(attempts=2, backoff_s=[1], timeout_s=5),
                     on_failed=on_failed,
                     middleware=[Reports(pub, topology, "finalize", "ingest", attempt_trace)])


def traces(pub: FakePublisher) -> list[dict[str, Any]]:
    return [m for m in pub.sent if m.get("kind") == "trace"]


def statuses(pub: FakePublisher) -> list[dict[str, Any]]:
    return [m for m in pub.sent if m.get("kind") == "status"]


async def test_a_successful_attempt_is_traced_with_what_the_job_noted(tmp_path):
    pub = FakePublisher()

    async def work(job: FinalizeIngest, ctx: JobContext) -> None:
        await ctx.report.announce("ingested", image_id=7)
        ctx.note.method, ctx.note.size = "copy", 1234

    assert await runner(tmp_path, work, pub).run(Delivery(BODY)) is Outcome.SUCCESS
    [trace] = traces(pub)
    assert (trace["trace_type"], trace["method"], trace["success"], trace["result_size"]) == (
        "finalize", "copy", True, 1234)
    assert (trace["attempt"], trace["service"], trace["uuid"]) == (1, "finalize", UUID)
    [status] = statuses(pub)
    assert (status["field"], status["status"], status["image_id"]) == ("ingest", "ingested", 7)
    assert status["routing_key"].endswith(f"u.{UUID}")


async def test_a_failed_attempt_is_traced_with_its_error_and_no_size(tmp_path):
    pub = FakePublisher()

    async def work(job: FinalizeIngest, ctx: JobContext) -> None:
        ctx.note.method, ctx.note.size = "copy", 99
        raise OSError("disk gone")

    assert await runner(tmp_path, work, pub).run(Delivery(BODY)) is Outcome.RETRY
    [trace] = traces(pub)
    assert (trace["success"], trace["reason"], trace["result_size"]) == (False, "OSError: disk gone", None)


async def test_an_attempt_that_noted_no_method_is_not_traced(tmp_path):
    pub = FakePublisher()

    async def work(job: FinalizeIngest, ctx: JobContext) -> None:
        return None  # nothing to do: claimed by nobody

    await runner(tmp_path, work, pub).run(Delivery(BODY))
    assert traces(pub) == []


async def test_a_parked_job_whose_failure_was_recorded_is_announced_failed(tmp_path):
    pub = FakePublisher()

    async def work(job: FinalizeIngest, ctx: JobContext) -> None:
        raise PermanentError("the original is missing")

    assert await runner(tmp_path, work, pub, attempt_trace=None).run(Delivery(BODY)) is Outcome.PARKED
    [status] = statuses(pub)
    assert (status["status"], status["error"]) == ("failed", "the original is missing")


async def test_a_parked_job_whose_failure_changed_nothing_is_not_announced(tmp_path):
    pub = FakePublisher()

    async def work(job: FinalizeIngest, ctx: JobContext) -> None:
        raise PermanentError("x")

    await runner(tmp_path, work, pub, recorded=False).run(Delivery(BODY))
    assert statuses(pub) == []


async def test_a_trace_the_broker_refuses_does_not_fail_the_job(tmp_path):
    pub = FakePublisher(fail=True)

    async def work(job: FinalizeIngest, ctx: JobContext) -> None:
        await ctx.report.announce("processing")
        ctx.note.method = "copy"

    assert await runner(tmp_path, work, pub).run(Delivery(BODY)) is Outcome.SUCCESS
