"""One retry/park mechanism for every worker.

`run_job` takes a delivered message and a work function and decides the
outcome; it knows nothing of FastStream, so it is unit-tested with a fake
publisher. The rules:

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
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.broker import Publisher
from shared.settings import RetryPolicy
from shared.topology import (
    ATTEMPT_HEADER,
    FIRST_ATTEMPT_HEADER,
    LAST_ERROR_HEADER,
    PARK_ERROR_HEADER,
    PARK_REASON_HEADER,
    PARKED_AT_HEADER,
    QUEUE_HEADER,
    Topology,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class PermanentError(Exception):
    """Retrying cannot help: bad data, unsupported format, limits exceeded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    PARKED = "parked"
    REQUEUED = "requeued"  # could not republish; the broker redelivers it


@dataclass(frozen=True)
class Delivery:
    """What the mechanism needs from a broker message."""

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    content_type: str | None = "application/json"
    redelivered: bool = False


@dataclass(frozen=True)
class JobContext:
    attempt: int
    max_attempts: int
    first_attempt_at: datetime
    redelivered: bool

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Work = Callable[[M, JobContext], Awaitable[None]]
OnFailed = Callable[[M | None, str], Awaitable[None]]


def attempt_of(headers: dict[str, Any]) -> int:
    try:
        return max(1, int(headers.get(ATTEMPT_HEADER, 1)))
    except (TypeError, ValueError):
        return 1


def _first_attempt_at(headers: dict[str, Any]) -> datetime:
    raw = headers.get(FIRST_ATTEMPT_HEADER)
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def _own_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Headers to carry over: never the broker-owned `x-*` ones."""
    return {k: v for k, v in headers.items() if not k.startswith("x-")}


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
        try:
            await asyncio.wait_for(self.work(job, ctx), timeout=self.policy.timeout_s)
        except PermanentError as exc:
            return await self._park(delivery, job, exc.reason, _short(exc.reason))
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                exc = TimeoutError(f"job exceeded {self.policy.timeout_s:g} s")
            log.warning("%s attempt %d failed: %s", self.queue, attempt, _short(exc))
            return await self._retry_or_park(delivery, job, attempt, first, exc)
        return Outcome.SUCCESS

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
        headers = _own_headers(delivery.headers) | {
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
            log.exception("could not schedule a retry of %s; requeueing", self.queue)
            return Outcome.REQUEUED
        return Outcome.RETRY

    async def _park(self, delivery: Delivery, job: M | None, reason: str, error: str) -> Outcome:
        headers = _own_headers(delivery.headers) | {
            PARK_REASON_HEADER: reason[:500],
            PARK_ERROR_HEADER: error,
            PARKED_AT_HEADER: datetime.now(UTC).isoformat(),
            QUEUE_HEADER: self.queue,
        }
        try:
            await self.publisher.publish(
                self.topology.failed_exchange,
                self.queue,
                delivery.body,
                headers=headers,
                message_id=delivery.message_id,
            )
        except Exception:
            log.exception("could not park a message of %s; requeueing", self.queue)
            return Outcome.REQUEUED
        if self.on_failed is not None:
            try:
                await self.on_failed(job, reason if reason == error else f"{reason}: {error}")
            except Exception:
                # The message is parked (nothing lost); the row is fixed by a replay.
                log.exception("recording the failure of a %s job failed", self.queue)
        return Outcome.PARKED


def describe_parked(headers: dict[str, Any], body: bytes) -> dict[str, Any]:
    """A parked message as operators see it (CLI, debug page)."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    return {
        "queue": headers.get(QUEUE_HEADER),
        "reason": headers.get(PARK_REASON_HEADER) or _death_reason(headers),
        "error": headers.get(PARK_ERROR_HEADER),
        "parked_at": headers.get(PARKED_AT_HEADER),
        "attempt": attempt_of(headers),
        "payload": payload,
    }


def _death_reason(headers: dict[str, Any]) -> str | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths:
        first = deaths[0]
        if isinstance(first, dict):
            return f"dead-lettered by the broker ({first.get('reason')})"
    return None
