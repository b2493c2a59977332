"""The retry/park decisions of JobRunner, with a fake publisher (no broker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.broker.topology import ATTEMPT_HEADER, FIRST_ATTEMPT_HEADER, PARK_REASON_HEADER, Topology
from shared.messages import GeneratePreview
from shared.settings import RetryPolicy
from shared.worker.context import JobContext, Middleware, PermanentError
from shared.worker.park import Delivery
from shared.worker.runner import JobRunner, Outcome
from tests.conftest import make_settings


class FakePublisher:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    async def publish(self, exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append({"exchange": exchange, "routing_key": routing_key, "body": body, **kw})


def runner(tmp_path: Path, work: Any, publisher: FakePublisher, policy: RetryPolicy | None = None,
           failures: list[str] | None = None, middleware: Sequence[Middleware] = ()
           ) -> JobRunner[GeneratePreview]:
    settings = make_settings(tmp_path)

    async def on_failed(job: GeneratePreview | None, reason: str) -> bool:
        if failures is not None:
            failures.append(reason)
        return job is not None

    return JobRunner(
        queue=settings.queue_preview, model=GeneratePreview, work=work, publisher=publisher,
        topology=Topology(settings),
        policy=policy or RetryPolicy(attempts=3, backoff_s=[10, 30, 60], timeout_s=5),
        on_failed=on_failed, delivery_limit=5, middleware=middleware,
    )


BODY = GeneratePreview(uuid="6f1c2a47-7a43-4d6e-9b8f-1d2c3e4f5a6b", user_id="u").model_dump_json().encode()


async def test_success_publishes_nothing(tmp_path):
    pub = FakePublisher()

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        assert ctx.attempt == 1

    assert await runner(tmp_path, work, pub).run(Delivery(BODY)) is Outcome.SUCCESS
    assert pub.sent == []


async def test_the_wait_before_attempt_n_plus_1_is_the_nth_backoff_entry(tmp_path):
    pub = FakePublisher()

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        raise OSError("store down")

    r = runner(tmp_path, work, pub)
    assert await r.run(Delivery(BODY)) is Outcome.RETRY
    assert await r.run(Delivery(BODY, headers={ATTEMPT_HEADER: 2})) is Outcome.RETRY
    assert [m["routing_key"].rsplit(".", 1)[1] for m in pub.sent] == ["10s", "30s"]
    assert [m["headers"][ATTEMPT_HEADER] for m in pub.sent] == [2, 3]


async def test_the_last_attempt_parks_and_records_the_failure(tmp_path):
    pub, failures = FakePublisher(), []

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        assert ctx.is_last_attempt
        raise OSError("store down")

    r = runner(tmp_path, work, pub, failures=failures)
    assert await r.run(Delivery(BODY, headers={ATTEMPT_HEADER: 3})) is Outcome.PARKED
    assert pub.sent[0]["exchange"].endswith(".failed")
    assert pub.sent[0]["headers"][PARK_REASON_HEADER] == "failed after 3 attempts"
    assert failures and "store down" in failures[0]


async def test_broker_owned_headers_are_not_carried_into_a_retry(tmp_path):
    pub = FakePublisher()

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        raise OSError("x")

    headers = {"x-death": [{"count": 1}], "x-delivery-count": 1, "tags": "ingest"}
    await runner(tmp_path, work, pub).run(Delivery(BODY, headers=headers))
    assert "x-death" not in pub.sent[0]["headers"]
    assert pub.sent[0]["headers"]["tags"] == "ingest"


async def test_a_retry_window_parks_when_the_next_wait_would_pass_it(tmp_path):
    pub = FakePublisher()
    policy = RetryPolicy(attempts=3, backoff_s=[10, 30], timeout_s=5, window_s=60)

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        raise OSError("x")

    first = (datetime.now(UTC) - timedelta(seconds=45)).isoformat()
    outcome = await runner(tmp_path, work, pub, policy).run(
        Delivery(BODY, headers={ATTEMPT_HEADER: 2, FIRST_ATTEMPT_HEADER: first}))
    assert outcome is Outcome.PARKED
    assert "window" in pub.sent[0]["headers"][PARK_REASON_HEADER]


async def test_a_job_past_its_timeout_is_retried(tmp_path):
    pub = FakePublisher()
    policy = RetryPolicy(attempts=2, backoff_s=[1], timeout_s=0.05)

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        await asyncio.sleep(1)

    assert await runner(tmp_path, work, pub, policy).run(Delivery(BODY)) is Outcome.RETRY
    assert "exceeded" in pub.sent[0]["headers"]["job-last-error"]


async def test_a_permanent_error_parks_on_the_first_attempt(tmp_path):
    pub, failures = FakePublisher(), []

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        raise PermanentError("too many pixels")

    assert await runner(tmp_path, work, pub, failures=failures).run(Delivery(BODY)) is Outcome.PARKED
    assert failures == ["too many pixels"]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", json.dumps({"uuid": "nope"}).encode(),
                                  json.dumps({"version": 99, "uuid": "6f1c2a47-7a43-4d6e-9b8f-1d2c3e4f5a6b",
                                              "user_id": "u"}).encode()])
async def test_payloads_that_do_not_parse_are_parked_without_running_the_job(tmp_path, body):
    pub = FakePublisher()
    ran = []

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        ran.append(job)

    assert await runner(tmp_path, work, pub).run(Delivery(body)) is Outcome.PARKED
    assert ran == []
    assert pub.sent[0]["headers"][PARK_REASON_HEADER] == "invalid payload"


async def test_when_the_retry_cannot_be_published_the_message_is_requeued(tmp_path):
    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        raise OSError("x")

    outcome = await runner(tmp_path, work, FakePublisher(fail=True)).run(Delivery(BODY))
    assert outcome is Outcome.REQUEUED


class Recorder(Middleware):
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail

    async def before_attempt(self, job: Any, ctx: JobContext) -> None:
        self.calls.append(("before", ctx.attempt))
        if self.fail:
            raise RuntimeError("hook broke")

    async def after_attempt(self, job: Any, ctx: JobContext, error: BaseException | None) -> None:
        self.calls.append(("after", type(error).__name__ if error else None))
        if self.fail:
            raise RuntimeError("hook broke")

    async def after_parked(self, job: Any, reason: str, recorded: bool) -> None:
        self.calls.append(("parked", reason, recorded))


async def test_middleware_sees_every_attempt_and_every_park_in_order(tmp_path):
    hooks = Recorder()

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        raise PermanentError("too many pixels")

    await runner(tmp_path, work, FakePublisher(), middleware=[hooks]).run(Delivery(BODY))
    assert hooks.calls == [("before", 1), ("after", "PermanentError"),
                           ("parked", "too many pixels", True)]


async def test_a_timed_out_attempt_reaches_the_after_hook_as_a_timeout(tmp_path):
    hooks = Recorder()
    policy = RetryPolicy(attempts=2, backoff_s=[1], timeout_s=0.05)

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        await asyncio.sleep(1)

    await runner(tmp_path, work, FakePublisher(), policy, middleware=[hooks]).run(Delivery(BODY))
    assert hooks.calls == [("before", 1), ("after", "TimeoutError")]


async def test_a_hook_that_raises_changes_no_outcome(tmp_path):
    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        return None

    r = runner(tmp_path, work, FakePublisher(), middleware=[Recorder(fail=True)])
    assert await r.run(Delivery(BODY)) is Outcome.SUCCESS


async def test_an_invalid_payload_is_parked_with_no_job_for_the_hooks(tmp_path):
    hooks = Recorder()

    async def work(job: GeneratePreview, ctx: JobContext) -> None:
        return None

    await runner(tmp_path, work, FakePublisher(), middleware=[hooks]).run(Delivery(b"{"))
    assert hooks.calls[0][0] == "parked" and hooks.calls[0][2] is False
