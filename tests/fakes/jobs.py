"""The job context's reporter and the preview job's renderer, in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from shared.messages import TraceType
from shared.worker.context import JobContext, Reporter
from shared.worker.render_protocol import Renderer

P = ParamSpec("P")
R = TypeVar("R")


class InProcess:
    """Runs the render in a thread of this process (a `RenderProcess` runs it in its child)."""

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)


@dataclass
class Recorder:
    """Keeps every trace and status event a job reports, in order."""

    traces: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    async def trace(self, step: TraceType, method: str, success: bool, reason: str | None = None,
                    duration_ms: float = 0.0, size: int | None = None,
                    dims: tuple[int, int] | None = None, fields: list[str] | None = None) -> None:
        self.traces.append({"step": step, "method": method, "success": success, "reason": reason,
                            "size": size, "dims": dims})

    async def announce(self, status: str, *, error: str | None = None, width: int | None = None,
                       height: int | None = None, image_id: int | None = None) -> None:
        self.events.append({"status": status, "error": error, "width": width, "height": height,
                            "image_id": image_id})


def context(report: Recorder, attempt: int = 1, max_attempts: int = 3) -> JobContext:
    return JobContext(attempt=attempt, max_attempts=max_attempts, first_attempt_at=datetime.now(UTC),
                      redelivered=attempt > 1, report=report)


def _conforms(renderer: InProcess, report: Recorder) -> tuple[Renderer, Reporter]:
    return renderer, report  # mypy: the fakes are a `Renderer` and a `Reporter`
