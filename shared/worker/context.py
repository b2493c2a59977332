"""What a job sees of its attempt, and the hooks the harness's plumbing plugs into.

A job function gets a `JobContext`: its attempt number, `ctx.report` to
publish a trace or a status event, `ctx.note` for what its attempt trace
should say, and raises `PermanentError` when retrying cannot help. Job
modules import this, never the runner (`shared/worker/runner.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.messages import TraceType


class PermanentError(Exception):
    """Retrying cannot help: bad data, unsupported format, limits exceeded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Reporter(Protocol):
    """Publishes what a job wants its user and the tracing service to see, at once and best-effort."""

    async def trace(self, step: TraceType, method: str, success: bool, reason: str | None = None,
                    duration_ms: float = 0.0, size: int | None = None,
                    dims: tuple[int, int] | None = None, fields: list[str] | None = None) -> None: ...

    async def announce(self, status: str, *, error: str | None = None, width: int | None = None,
                       height: int | None = None, image_id: int | None = None) -> None: ...


class _Silent:
    async def trace(self, step: TraceType, method: str, success: bool, reason: str | None = None,
                    duration_ms: float = 0.0, size: int | None = None,
                    dims: tuple[int, int] | None = None, fields: list[str] | None = None) -> None:
        return None

    async def announce(self, status: str, *, error: str | None = None, width: int | None = None,
                       height: int | None = None, image_id: int | None = None) -> None:
        return None


@dataclass
class AttemptNote:
    """What the job says about this attempt for its attempt trace; no method, no trace."""

    method: str | None = None
    size: int | None = None
    reason: str | None = None


@dataclass
class JobContext:
    attempt: int
    max_attempts: int
    first_attempt_at: datetime
    redelivered: bool
    #: set by the harness's middleware; silent where no middleware reports (unit tests)
    report: Reporter = field(default_factory=_Silent)
    note: AttemptNote = field(default_factory=AttemptNote)
    started: float = field(default_factory=time.perf_counter)

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


class Middleware:
    """Hooks around every attempt; each does nothing unless overridden."""

    async def before_attempt(self, job: Any, ctx: JobContext) -> None:
        """The payload parsed; the work is about to run."""

    async def after_attempt(self, job: Any, ctx: JobContext, error: BaseException | None) -> None:
        """The work returned (`error` None) or raised; before any retry or park."""

    async def after_parked(self, job: Any, reason: str, recorded: bool) -> None:
        """Parked, and `on_failed` ran (`recorded`: it changed a row). `job` None: bad payload."""
