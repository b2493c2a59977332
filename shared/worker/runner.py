"""One retry/park mechanism for every worker.

`JobRunner` takes a delivered message and a work function and decides the
outcome; it knows nothing of the broker client, so it is unit-tested with a
fake publisher. The rules:

* the attempt number lives in our own `job-attempt` header (never `x-death`:
  RabbitMQ 3.13+ owns `x-` headers);
* a payload that does not parse, or a `PermanentError`, is parked at once;
* any other exception is transient: the message is republished (confirmed)
  to the wait queue for that attempt, and only then is the original acked;
* after the last attempt, past the retry window, or when the broker says the
  message has already crashed workers `delivery_limit - 1` times, it is
  parked in `<queue>.failed` with the reason in headers, and `on_failed`
  records it (e.g. `preview_status=failed`);
* if a republish fails, the original is requeued (rejected with requeue),
  so nothing is lost; the broker's delivery limit bounds that loop.

Per-attempt plumbing is `Middleware` (dramatiq's is the model; defined with
`JobContext` in `shared/worker/context.py`): hooks before and after every
attempt and after a park. Hooks are best-effort: one that raises is logged
and changes no outcome. `shared/worker/reports.py` is the one that publishes
traces and status events.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared import tags
from shared.broker.publisher import Publisher
from shared.broker.topology import ATTEMPT_HEADER, FIRST_ATTEMPT_HEADER, LAST_ERROR_HEADER, Topology
from shared.settings import RetryPolicy
from shared.worker.context import JobContext, Middleware, PermanentError
from shared.worker.park import Delivery, Record, attempt_of, own_headers, park

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    PARKED = "parked"
    REQUEUED = "requeued"  # could not republish; the broker redelivers it


Work = Callable[[M, JobContext], Awaitable[None]]
#: records a parked job; True when it changed something (the failure is then announced)
OnFailed = Callable[[M | None, str], Awaitable[bool | None]]


def _first_attempt_at(headers: dict[str, Any]) -> datetime:
    raw = headers.get(FIRST_ATTEMPT_HEADER)
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def _short(error: BaseException | str, limit: int = 1000) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:limit]


@dataclass
class JobRunner(Generic[M]):
    """Runs one kind of job with the retry policy of its queue."""

    queue: str
    model: type[M]
    work: Work[M]
    publisher: Publisher
    topology: Topology
    policy: RetryPolicy
    on_failed: OnFailed[M] | None = None
    on_outcome: Callable[[Outcome, float], None] | None = None
    delivery_limit: int = 5
    middleware: Sequence[Middleware] = ()
    #: writes a parked copy's row in the read model (`parked_jobs`) once the broker has it
    record_parked: Record | None = None

    async def run(self, delivery: Delivery) -> Outcome:
        started = time.perf_counter()
        outcome = await self._run(delivery)
        if self.on_outcome is not None:
            self.on_outcome(outcome, time.perf_counter() - started)
        return outcome

    async def _run(self, delivery: Delivery) -> Outcome:
        headers = dict(delivery.headers or {})
        attempt = attempt_of(headers)
        first = _first_attempt_at(headers)
        try:
            job = self.model.model_validate_json(delivery.body)
        except (ValidationError, ValueError) as exc:
            return await self._park(delivery, None, "invalid payload", _short(exc))

        crashes = int(headers.get("x-delivery-count", 0) or 0)
        if crashes >= self.delivery_limit - 1:
            # This message took its worker down again and again; stop before the
            # broker's own limit drops it without recording why.
            reason = f"worker crashed {crashes} times on this job"
            return await self._park(delivery, job, reason, reason)

        ctx = JobContext(attempt, self.policy.attempts, first, delivery.redelivered)
        await self._hooks("before_attempt", lambda m: m.before_attempt(job, ctx))
        error: Exception | None = None
        try:
            await asyncio.wait_for(self.work(job, ctx), timeout=self.policy.timeout_s)
        except Exception as exc:
            error = exc
            if isinstance(exc, TimeoutError):
                error = TimeoutError(f"job exceeded {self.policy.timeout_s:g} s")
        await self._hooks("after_attempt", lambda m: m.after_attempt(job, ctx, error))
        if error is None:
            return Outcome.SUCCESS
        if isinstance(error, PermanentError):
            return await self._park(delivery, job, error.reason, _short(error.reason))
        log.warning("%s attempt %d failed [%s]: %s", self.queue, attempt,
                    delivery.headers.get(tags.HEADER, ""), _short(error))
        return await self._retry_or_park(delivery, job, attempt, first, error)

    async def _hooks(self, name: str, call: Callable[[Middleware], Awaitable[None]]) -> None:
        for middleware in self.middleware:
            try:
                await call(middleware)
            except Exception:  # plumbing never decides a job's outcome
                log.exception("%s hook %s of %s failed", self.queue, name, type(middleware).__name__)

    async def _retry_or_park(
        self, delivery: Delivery, job: M, attempt: int, first: datetime, exc: BaseException
    ) -> Outcome:
        error = _short(exc)
        if attempt >= self.policy.attempts:
            return await self._park(delivery, job, f"failed after {attempt} attempts", error)
        delay = self.policy.backoff_s[attempt - 1]
        if self.policy.window_s is not None:
            elapsed = (datetime.now(UTC) - first).total_seconds()
            if elapsed + delay > self.policy.window_s:
                return await self._park(
                    delivery, job, f"retry window of {self.policy.window_s:g} s exhausted", error
                )
        headers = own_headers(delivery.headers) | {
            ATTEMPT_HEADER: attempt + 1,
            FIRST_ATTEMPT_HEADER: first.isoformat(),
            LAST_ERROR_HEADER: error,
        }
        wait_queue = self.topology.wait_queue(self.queue, delay)
        try:
            await self.publisher.publish(
                self.topology.retry_exchange,
                wait_queue,
                delivery.body,
                headers=headers,
                message_id=delivery.message_id,
            )
        except Exception:
            log.exception("could not schedule a retry of %s [%s]; requeueing", self.queue,
                          delivery.headers.get(tags.HEADER, ""))
            return Outcome.REQUEUED
        return Outcome.RETRY

    async def _park(self, delivery: Delivery, job: M | None, reason: str, error: str) -> Outcome:
        if not await park(self.publisher, self.topology, self.queue, delivery, reason, error,
                          self.record_parked):
            return Outcome.REQUEUED
        full = reason if reason == error else f"{reason}: {error}"
        log.warning("%s job parked [%s]: %s", self.queue, delivery.headers.get(tags.HEADER, ""),
                    _short(full, 300))
        recorded = False
        if self.on_failed is not None:
            try:
                recorded = bool(await self.on_failed(job, full))
            except Exception:
                # The message is parked (nothing lost); the row is fixed by a replay.
                log.exception("recording the failure of a %s job failed", self.queue)
        await self._hooks("after_parked", lambda m: m.after_parked(job, full, recorded))
        return Outcome.PARKED
