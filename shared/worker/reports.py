"""Traces and status events of a worker's jobs, published by the harness.

A worker says in its `WorkerSpec` which status field its jobs move
(`preview`, `enhancement`, `ingest`) and, when it traces every attempt, the
trace type (`finalize`, `enhance`). `Reports` is the middleware that does
the rest, so no job carries its own best-effort wrappers:

* before each attempt it gives the job `ctx.report` (publishes at once);
* after each attempt it publishes the attempt trace: success or the error,
  the time the attempt took, and what the job noted in `ctx.note` (method,
  size, reason). A job that noted no method did nothing worth tracing;
* after a park whose failure was recorded in the database it announces
  `failed` with the reason.

A trace or an event is worth less than its job: a publish that fails is
logged and the job goes on (the row holds the status; SSE clients poll).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from shared.broker.publisher import Publisher, publish_status, publish_trace
from shared.broker.topology import Topology
from shared.db.status import ProxyStatus
from shared.messages import ProxyCommand, ProxyStatusChanged, StatusField, TraceEvent, TraceType
from shared.worker.context import JobContext, Middleware

log = logging.getLogger(__name__)


@dataclass
class JobReporter:
    """Publishes for one attempt of one job (the `Reporter` a job sees as `ctx.report`)."""

    publisher: Publisher
    topology: Topology
    service: str
    field: StatusField
    job: ProxyCommand
    attempt: int

    async def trace(self, step: TraceType, method: str, success: bool, reason: str | None = None,
                    duration_ms: float = 0.0, size: int | None = None,
                    dims: tuple[int, int] | None = None, fields: list[str] | None = None) -> None:
        width, height = dims or (None, None)
        event = TraceEvent(uuid=self.job.uuid, user_id=self.job.user_id, trace_type=step,
                           method=method, success=success, reason=reason,
                           duration_ms=round(duration_ms, 3), result_size=size, width=width,
                           height=height, attempt=self.attempt, service=self.service, fields=fields)
        try:
            await publish_trace(self.publisher, self.topology, event)
        except Exception as exc:
            log.warning("trace for %s not published: %s", self.job.uuid, exc)

    async def announce(self, status: str, *, error: str | None = None, width: int | None = None,
                       height: int | None = None, image_id: int | None = None) -> None:
        await announce(self.publisher, self.topology, ProxyStatusChanged(
            uuid=self.job.uuid, user_id=self.job.user_id, field=self.field, status=status,
            error=error, preview_width=width, preview_height=height, image_id=image_id))


async def announce(publisher: Publisher, topology: Topology, event: ProxyStatusChanged) -> None:
    """Publish a status event, best-effort (the jobs' reporter and the enhance API's `pending`)."""
    try:
        await publish_status(publisher, topology, event)
    except Exception as exc:
        log.warning("status event for %s not published: %s", event.uuid, exc)


def reason_of(error: BaseException) -> str:
    """An error as an attempt trace says it: the reason a domain error carries, else its type and text."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else f"{type(error).__name__}: {error}"[:500]


@dataclass
class Reports(Middleware):
    publisher: Publisher
    topology: Topology
    service: str
    field: StatusField
    #: the trace of every attempt, or None when the job traces its own steps
    attempt_trace: TraceType | None = None

    def reporter(self, job: ProxyCommand, attempt: int) -> JobReporter:
        return JobReporter(self.publisher, self.topology, self.service, self.field, job, attempt)

    async def before_attempt(self, job: Any, ctx: JobContext) -> None:
        ctx.report = self.reporter(job, ctx.attempt)
        ctx.started = time.perf_counter()

    async def after_attempt(self, job: Any, ctx: JobContext, error: BaseException | None) -> None:
        note = ctx.note
        if self.attempt_trace is None or note.method is None:
            return
        await ctx.report.trace(
            self.attempt_trace, note.method, error is None,
            note.reason if error is None else reason_of(error),
            (time.perf_counter() - ctx.started) * 1000, note.size if error is None else None)

    async def after_parked(self, job: Any, reason: str, recorded: bool) -> None:
        if job is not None and recorded:
            await self.reporter(job, 0).announce(ProxyStatus.FAILED, error=reason[:500])
