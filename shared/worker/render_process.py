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

`RenderProcess.call` is a coroutine; cancelling it (a job timeout) kills the
child and waits until it is gone before the cancellation goes on, so the
caller's concurrency slot is held until the render has really stopped.

Protocol: length-prefixed pickles both ways, (module, function, args) in and
("ok", result) or ("error", exception) out. Both processes run our code as
the same user; the pipe is not a trust boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from shared.settings import Settings

log = logging.getLogger(__name__)
_FRAME = struct.Struct(">Q")


class RenderCrashed(Exception):
    """The child died during a job: it crossed the hard cap, or the decoder crashed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = True


def _write_frame(fh: Any, payload: Any) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_FRAME.pack(len(data)) + data)
    fh.flush()


def _read_exact(fh: Any, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = fh.read(left)
        if not chunk:
            raise EOFError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fh: Any) -> Any:
    (size,) = _FRAME.unpack(_read_exact(fh, _FRAME.size))
    return pickle.loads(_read_exact(fh, size))  # noqa: S301 - our own child, same user


class RenderProcess:
    """One child process that runs `module.function(*args)` calls, one at a time."""

    def __init__(self, cap_bytes: int, setup: str | None = None, env: dict[str, str] | None = None) -> None:
        self.cap_bytes = cap_bytes
        self.setup = setup  # "module:function" run once in the child before its first job
        self.env = env
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
            [sys.executable, "-m", "shared.worker.render_child", str(self.cap_bytes), self.setup or ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env,
        )
        assert proc.stdout is not None
        ready = _read_frame(proc.stdout)  # the child says it is ready (and its limit)
        if ready[0] != "ready":
            proc.kill()
            raise RuntimeError(f"the render process did not start: {ready!r}")
        self._proc = proc
        return proc

    def _call(self, module: str, function: str, args: tuple[Any, ...]) -> Any:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _write_frame(proc.stdin, (module, function, args))
            kind, value = _read_frame(proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            code = proc.wait()
            reason = _death(code)
            if self.on_crash is not None:
                self.on_crash(reason)
            raise RenderCrashed(f"the render process died ({reason}): the input needed more than the"
                                f" {self.cap_bytes // 2**20} MB hard cap or crashed the decoder") from exc
        if kind == "error":
            from shared.worker.render_child import exhausted

            if exhausted(value):  # the child retires after such an error: the next job gets a new one
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
            raise value
        return value

    async def call(self, module: str, function: str, *args: Any) -> Any:
        """Run `module.function(*args)` in the child; a cancellation kills the child first."""
        async with self._lock:
            task = asyncio.ensure_future(asyncio.to_thread(self._call, module, function, args))
            try:
                return await asyncio.shield(task)
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
    """A worker's render process: capped at its size at rest plus `render_cap_factor` x the budget."""
    cap = int(settings.render_cap_factor * settings.job_memory_mb * 2**20)
    env = dict(os.environ) | {"PROPHOTO_VIPS_CONCURRENCY": str(settings.vips_concurrency)}
    return RenderProcess(cap, setup="shared.imaging.vips:setup_render_process", env=env)
