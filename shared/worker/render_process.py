"""The backstop: renders run in a long-lived child process with a hard address-space cap.

The memory budget (`shared.imaging.budget`) refuses work from headers; this catches
whatever an estimate misses. Each worker keeps one child process, started
once and fed jobs over a pipe (a fork per job would cost throughput), with
`RLIMIT_AS` set to what the child uses at rest plus `cap` bytes. The limit
holds for every thread in the child, libvips' and LibRaw's included: an
allocation past it fails, libvips reports an error or the child dies, and
either way only that job fails. The worker itself never decodes untrusted
data, so no input can get it OOM-killed; a dead child is replaced before the
next job.

`RenderProcess.call(fn, *args)` is a coroutine that runs `fn(*args)` in the
child and returns its result, typed as `fn`'s: `fn` is a module-level
function, passed by reference (`shared.worker.render_protocol`). A call that
raised raises the same exception here; when the child says it ran out
(`Failure.EXHAUSTED`) it is left to exit and the next call starts a fresh
one. Cancelling a call (a job timeout) kills the child and waits until it is
gone before the cancellation goes on, so the caller's concurrency slot is
held until the render has really stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from shared.imaging.vips import setup_render_process
from shared.settings import Settings
from shared.worker.render_protocol import Failure, function_reference, read_frame, write_frame

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class RenderCrashed(Exception):
    """The child died during a job: it crossed the hard cap, or the decoder crashed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = True


class RenderProcess:
    """One child process that runs `fn(*args)` calls, one at a time.

    `setup` runs once in each child before its size at rest is measured;
    after a failed call, a child that cannot reserve `headroom_bytes` of
    address space any more retires (0: never for that reason).
    """

    def __init__(self, cap_bytes: int, setup: Callable[[], object] | None = None,
                 env: dict[str, str] | None = None, headroom_bytes: int = 0) -> None:
        self.cap_bytes = cap_bytes
        self.setup = None if setup is None else function_reference(setup)
        self.env = env
        self.headroom_bytes = headroom_bytes
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = asyncio.Lock()
        self._starting = threading.Lock()
        self.restarts = 0
        self.on_crash: Callable[[str], None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> None:
        """Start the child now (a worker does at start-up, so its first job does not wait)."""
        self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        with self._starting:
            return self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:
            self.restarts += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "shared.worker.render_child", str(self.cap_bytes),
             str(self.headroom_bytes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        write_frame(proc.stdin, self.setup)
        ready = read_frame(proc.stdout)  # the child says it is ready (and its limit)
        if ready[0] != "ready":
            proc.kill()
            raise RuntimeError(f"the render process did not start: {ready!r}")
        self._proc = proc
        return proc

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            write_frame(proc.stdin, (fn, args))
            answer = read_frame(proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            code = proc.wait()
            reason = _death(code)
            if self.on_crash is not None:
                self.on_crash(reason)
            raise RenderCrashed(f"the render process died ({reason}): the input needed more than the"
                                f" {self.cap_bytes // 2**20} MB hard cap or crashed the decoder") from exc
        if answer[0] == "ok":
            return answer[1]
        _, failure, error = answer
        if failure is Failure.EXHAUSTED:  # the child retires after answering: the next job gets a new one
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        raise error

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(*args)` in the child; a cancellation kills the child first."""
        if kwargs:
            raise TypeError("render calls take positional arguments only")
        function_reference(fn)
        async with self._lock:
            task = asyncio.ensure_future(asyncio.to_thread(self._call, fn, args))
            try:
                result: R = await asyncio.shield(task)
                return result
            except asyncio.CancelledError:
                self.kill()
                with contextlib.suppress(BaseException):
                    await task  # the thread returns once the child is gone
                raise

    def kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()


def _death(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def for_settings(settings: Settings) -> RenderProcess:
    """A worker's render process: capped at its size at rest plus `render_cap_factor` x the budget.

    After a failed call it must still be able to reserve one job's budget (at most its cap), or
    it retires.
    """
    budget = settings.job_memory_mb * 2**20
    cap = int(settings.render_cap_factor * budget)
    env = dict(os.environ) | {"PROPHOTO_VIPS_CONCURRENCY": str(settings.vips_concurrency)}
    return RenderProcess(cap, setup=setup_render_process, env=env, headroom_bytes=min(budget, cap))
